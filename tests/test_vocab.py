"""Every list of the record's words derives from gridmgmt.vocab, so none can drift from it."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import typer

from gridmgmt import config, labels, vocab
from gridmgmt.vocab import EVENT_TYPES, LANGS, OUTCOMES, PUBLIC_TYPES, ROLES, SEVERITIES, TASK_TYPES, VIOLATION_KINDS


def _option_help(*path: str, option: str) -> str:
    from gridmgmt.cli import app

    command: Any = typer.main.get_command(app)
    for name in path:
        command = command.get_command(command.make_context(name, [], resilient_parsing=True), name)
    return str(next(p.help for p in command.params if option in p.opts))


def test_the_cli_names_every_word_of_vocab() -> None:
    assert _option_help("events", "add", option="--type") == f"{vocab.listed(EVENT_TYPES)}."
    assert _option_help("events", "add", option="--department") == f"{vocab.listed(vocab.DEPARTMENTS)}."
    assert _option_help("events", "add", option="--severity") == f"For violations: {vocab.listed(SEVERITIES)}."
    assert _option_help("users", "add", option="--role") == f"{vocab.listed(tuple(ROLES))}."


def test_the_api_types_take_exactly_vocabs_words() -> None:
    from gridmgmt.service.api import EventIn, PublicReportIn

    fields = EventIn.model_json_schema()["properties"]
    assert fields["type"]["enum"] == list(EVENT_TYPES)
    assert fields["outcome"]["enum"] == ["", *OUTCOMES]
    assert fields["severity"]["enum"] == ["", *SEVERITIES]
    assert fields["violation_kind"]["enum"] == ["", *VIOLATION_KINDS]
    assert PublicReportIn.model_json_schema()["properties"]["kind"]["enum"] == list(PUBLIC_TYPES)


def test_the_permission_table_records_exactly_vocabs_types_by_their_roles() -> None:
    from gridmgmt.permissions import PERMISSIONS

    recorded = {p.removeprefix("record:"): roles for p, roles in PERMISSIONS.items() if p.startswith("record:")}
    assert recorded == {t.name: t.recorded_by for t in vocab.EVENT_TYPES_BY_NAME.values()}
    assert set().union(*recorded.values()) <= set(ROLES)


def test_the_store_accepts_exactly_vocabs_words() -> None:
    from gridmgmt.store.validate import WORDS

    assert {column: words for column, (words, _) in WORDS.items()} == {
        "type": EVENT_TYPES,
        "department": vocab.DEPARTMENTS,
        "outcome": OUTCOMES,
        "severity": SEVERITIES,
        "violation_kind": VIOLATION_KINDS,
    }
    assert WORDS["type"][1] == vocab.EVENT_TYPE_ALIASES


def test_every_word_has_a_chinese_and_an_english_label_in_the_registry() -> None:
    words = [(kind, word) for kind, table in vocab.WORD_LABELS.items() for word in table]
    assert {w for k, w in words if k == "event"} == set(EVENT_TYPES)
    assert {w for k, w in words if k == "role"} == set(ROLES)
    for kind, word in words:
        texts = [labels.label(f"{kind}.{word}", lang) for lang in LANGS]
        assert all(t.strip() for t in texts) and texts[0] != texts[1], (kind, word, texts)


def test_pages_show_event_types_and_severities_by_their_labels() -> None:
    zh, en = labels.translator("zh"), labels.translator("en")
    for name, t in vocab.EVENT_TYPES_BY_NAME.items():
        if name == "violation":  # the page's word (the outcome 违法违规) wins
            continue
        assert zh(name) == t.zh and en(name).lower() == t.en.lower()
    assert en("minor") == "Minor" and zh("counterfeit") == "假烟"
    assert zh("violation") == "违法违规"
    assert en("no_such_word") == "no_such_word"


def test_every_task_type_has_a_deadline_visit_and_sheet_label_and_every_report_type_a_risk_weight() -> None:
    from gridmgmt.patrol.sheets import _PREFIX
    from gridmgmt.patrol.visits import CHECKLIST, PRIORITY
    from gridmgmt.risk.scores import COMPONENTS

    deadlines = {f.name for f in dataclasses.fields(config.DeadlinesWorkingDays)}
    weights = {f.name for f in dataclasses.fields(config.RiskWeights)}
    assert set(TASK_TYPES) == deadlines
    for name in TASK_TYPES:
        assert PRIORITY[name] > 0 and "{note}" in CHECKLIST[name][0] and "{note}" in CHECKLIST[name][1]
        assert labels.label(f"{_PREFIX}purpose.{name}", "en") == vocab.EVENT_TYPES_BY_NAME[name].en
    assert set(vocab.RISK_REPORT_TYPES) <= weights & set(COMPONENTS)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_type_has_a_department_or_is_the_publics(event_type: str) -> None:
    t = vocab.EVENT_TYPES_BY_NAME[event_type]
    assert vocab.default_department(event_type) in vocab.DEPARTMENTS
    assert (t.department is None) == (event_type in PUBLIC_TYPES)
    assert t.recorded_by <= set(vocab.STAFF_DEPARTMENTS) and t.recorded_by


def test_listed_names_words_for_help_texts() -> None:
    assert vocab.listed(("a", "b", "c")) == "a, b or c"
    assert vocab.listed(("a",)) == "a" and vocab.listed(()) == ""
