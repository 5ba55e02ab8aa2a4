"""Every word in the user's language (issue 24, item 5): each page of ``gridmgmt serve``, as each role that
may open it, in zh and in en, shows the record's words by their labels, never their codes.

The pages are found from the app's routes (every GET page without path parameters, and those with
parameters this test can fill from the demo data), so pages added later are scanned too. The
visible text (no tags, scripts, styles, attributes or hidden honeypots) is checked for

- a code of :mod:`gridmgmt.vocab` (event type, department, outcome, severity, violation kind, role,
  task status, visit purpose, travel mode, risk level) as a whole word where its label belongs
  (on en pages: codes whose English label is another word, like ``ebike`` or ``tip_off``);
- a ``snake_case`` word: a column name or a label key that fell back to itself;
- on zh pages, English words in headers, labels, buttons and headings, and English phrases anywhere;
  (text marked ``translate="no"`` is written as is: the audit's log lines);

and every label looked up while rendering exists (:data:`gridmgmt.labels.UNLABELLED` stays empty).
Allowed: ids, user names, shop names, numbers, dates and codes users type (tracking codes).
"""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser

import pytest
from service_fixtures import PASSWORD, TODAY, USERS, service_store, small_district, template_store  # noqa: F401

pytest.importorskip("fastapi")
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from gridmgmt import labels
from gridmgmt.service import ServiceOptions, create_app
from gridmgmt.vocab import LANGS, WORD_LABELS

#: elements whose text is the page's own words, never data
CHROME = {"th", "label", "button", "legend", "summary", "h1", "h2", "h3", "title", "option"}
#: Latin words a zh page may show in its own words
ZH_LATIN_OK = {"CSV", "English", "ID"}
NOT_SHOWN = {"script", "style", "template", "noscript"}
SHOWN_ATTRIBUTES = ("placeholder", "title", "aria-label", "alt")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

_SNAKE = re.compile(r"(?<![A-Za-z0-9_-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![A-Za-z0-9_-])")
_LATIN_WORD = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z]{2,}(?![A-Za-z0-9_-])")
_LATIN_PHRASE = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z]{2,}(?:[ ,;:'()]+[A-Za-z]{2,}){1,}(?![A-Za-z0-9_-])")


def codes_for(lang: str) -> set[str]:
    """The vocab's codes a page in ``lang`` must not show: all on zh pages; on en pages those no English label
    has as a word (``ebike``, ``admin``; ``monopoly`` is an English word of a label, and so is ``minors``)."""
    english = {w for words in WORD_LABELS.values() for texts in words.values() for w in texts[1].lower().split()}
    codes = {word for words in WORD_LABELS.values() for word in words}
    return codes if lang == "zh" else {c for c in codes if "_" in c or c not in english}


class VisibleText(HTMLParser):
    """The text a reader sees, as (enclosing chrome element or '', text) pieces."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []  # (tag, hidden)
        self.pieces: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        hidden = tag in NOT_SHOWN or attributes.get("aria-hidden") == "true" or "hidden" in attributes
        hidden = hidden or attributes.get("translate") == "no"  # written as is: log lines, names
        hidden = hidden or any(h for _t, h in self.stack[-1:])
        if not hidden:  # words a reader sees in attributes are the page's own
            self.pieces += [("attribute", str(attributes[a])) for a in SHOWN_ATTRIBUTES if attributes.get(a)]
        if tag not in VOID:
            self.stack.append((tag, hidden))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data: str) -> None:
        if not data.strip() or (self.stack and self.stack[-1][1]):
            return
        chrome = next((tag for tag, _h in reversed(self.stack) if tag in CHROME), "")
        self.pieces.append((chrome, data.strip()))


def findings(html: str, lang: str, names: tuple[str, ...] = ()) -> list[str]:
    """What a ``lang`` reader of ``html`` should not see (``names`` are data, like the district's): ``kind text``."""
    parser = VisibleText()
    parser.feed(html)
    codes = codes_for(lang)
    found = []
    for chrome, shown in parser.pieces:
        text = (
            re.sub("|".join(rf"(?<![A-Za-z0-9_-]){re.escape(n)}(?![A-Za-z0-9_-])" for n in names), " ", shown)
            if names
            else shown
        )
        found += [f"code {m}" for m in re.findall(r"[A-Za-z0-9_-]+", text) if m in codes]
        found += [f"key {m}" for m in _SNAKE.findall(text) if m not in codes]
        if lang == "zh":
            if chrome:
                found += [f"English in <{chrome}> {m}" for m in _LATIN_WORD.findall(text) if m not in ZH_LATIN_OK]
            else:
                found += [f"English phrase {m.group(0)!r}" for m in _LATIN_PHRASE.finditer(text)]
    return found


def test_the_scanner_finds_codes_keys_and_english() -> None:
    page = (
        "<html><head><title>x</title><style>.tip_off{}</style></head><body><h1>今日</h1>"
        "<table><tr><th>grid_id</th><th>Status</th></tr><tr><td>tip_off,routine</td><td>ebike</td></tr></table>"
        "<p>reading the event log</p><div aria-hidden='true'><label>Website</label></div><input placeholder='Name'>"
        "<script>var high_risk = 1;</script><p>许可证号 R0012 · 2026-12-01 · officer1</p></body></html>"
    )
    zh = findings(page, "zh")
    assert "code tip_off" in zh and "code routine" in zh and "code ebike" in zh and "key grid_id" in zh
    assert "English in <th> Status" in zh and "English phrase 'reading the event log'" in zh
    assert "English in <attribute> Name" in zh
    assert not [f for f in zh if "Website" in f or "high_risk" in f]
    en = findings(page, "en")
    assert "code tip_off" in en and "code ebike" in en and "code routine" not in en and "key grid_id" in en
    assert findings("<p>风险等级 高 · 许可证号 R0012 · G01</p>", "zh") == []


def test_an_unlabelled_key_is_shown_as_itself_and_noted() -> None:
    labels.UNLABELLED.clear()
    assert labels.translator("zh")("no_such_word") == "no_such_word"
    assert labels.translator("zh")("grid") == "网格"
    assert {"no_such_word"} == labels.UNLABELLED
    labels.UNLABELLED.clear()


def test_refusals_name_the_role_and_what_it_may_not_do_in_the_users_words() -> None:
    """A refusal (``role X lacks P``, a record, correction or case refused; as the audit and the API keep it)
    reads in the page's language."""
    from gridmgmt.permissions import PERMISSIONS, RELATIONS, case_refusal, correct_refusal, record_refusal
    from gridmgmt.vocab import DEPARTMENTS, EVENT_TYPES, ROLES, TASK_TYPES

    labels.UNLABELLED.clear()
    refusals = {f"role {role} lacks {permission}" for role in ROLES for permission in PERMISSIONS}
    for role in ROLES:
        for department in DEPARTMENTS:
            refusals |= {record_refusal(role, event, relation) for event in EVENT_TYPES for relation in RELATIONS}
            refusals |= {correct_refusal(role, department, relation) for relation in RELATIONS}
            refusals |= {case_refusal(role, task_type, department) for task_type in TASK_TYPES}
    refusals.discard(None)
    assert len(refusals) > 200
    for refusal in refusals:
        for lang in LANGS:
            shown = labels.said(refusal, lang)
            assert findings(f"<p>{shown}</p>", lang) == [], (refusal, shown)
    assert labels.said("role monopoly lacks audit:view", "zh") == "您的角色（专卖管理员）无权查看审计日志"
    assert labels.said("planning 2 ebike squad(s) from 40 candidates", "zh") == "规划 2 个电动车中队，候选 40 家"
    assert not labels.UNLABELLED
    assert labels.said("no such sentence", "zh") == "no such sentence" and {"no such sentence"} == labels.UNLABELLED
    labels.UNLABELLED.clear()


# ------------------------------------------------------------------ the service's pages


def _wait(client: TestClient, job_id: str) -> str:
    jobs = client.app.state.service.jobs
    while jobs.get(job_id).state in ("queued", "running"):
        time.sleep(0.1)
    assert jobs.get(job_id).state == "done", jobs.get(job_id).error
    return job_id


def _log_in(client: TestClient, name: str) -> str:
    client.cookies.clear()
    assert client.post("/login", data={"username": name, "password": PASSWORD}, follow_redirects=False).is_redirect
    return client.get("/api/me").json()["csrf"]


@pytest.fixture(scope="module")
def busy_service(small_district, template_store, tmp_path_factory):  # noqa: F811
    """The demo store after a day's work: a draft and a published plan of G01, a grids preview, recorded
    outcomes and reports, a public report and a mediation case; and the ids of what pages show."""
    import shutil

    from gridmgmt.store import open_store

    path = tmp_path_factory.mktemp("words") / "store.sqlite"
    shutil.copyfile(template_store, path)
    store = open_store(path)
    client = TestClient(create_app(small_district, store, options=ServiceOptions(today=TODAY, min_form_s=0.0)))
    ids: dict[str, str] = {}
    csrf = _log_in(client, "leader")
    plan = {"csrf_token": csrf, "date": TODAY, "squads": ["G01"], "solution_limit": "1"}
    r = client.post("/plan/generate", data=plan, follow_redirects=False)
    ids["plan_job"] = _wait(client, r.headers["location"].split("job=")[1])
    ids["draft"] = client.app.state.service.jobs.get(ids["plan_job"]).result
    publish = {"csrf_token": csrf, "run_id": ids["draft"], "acknowledge_left_out": "1"}
    r = client.post("/plan/publish", data=publish, follow_redirects=False)
    ids["plan"] = r.headers["location"].split("run=")[1]
    csrf = _log_in(client, "planner")
    r = client.post("/grids/preview", data={"csrf_token": csrf, "k": "", "lock_grids": ""}, follow_redirects=False)
    ids["grids_job"] = _wait(client, r.headers["location"].split("job=")[1])
    ids["preview"] = client.app.state.service.jobs.get(ids["grids_job"]).result
    live = client.app.state.service.live
    owners = live.owners()
    grid_1 = sorted(owners.loc[owners["grid_id"] == "1", "retailer_id"])
    ids["retailer_id"] = grid_1[0]
    csrf = _log_in(client, "officer1")
    for rid, result in zip(grid_1[:3], ("ok", "violation", "not_found"), strict=True):
        client.post("/today/outcome", data={"csrf_token": csrf, "retailer_id": rid, "result": result,
                                            "violation_kind": "counterfeit", "severity": "serious"})  # fmt: skip
    csrf = _log_in(client, "cm1")
    client.post("/report", data={"csrf_token": csrf, "retailer_id": ids["retailer_id"], "kind": "marketing_report",
                                 "note": "价格异常"})  # fmt: skip
    client.cookies.clear()
    token = client.app.state.service.signer.issue()
    r = client.post("/public", data={"kind": "complaint", "text": "卖给学生", "retailer_id": ids["retailer_id"],
                                     "form_token": token})  # fmt: skip
    ids["code"] = re.search(r'id="tracking-code">([^<]+)<', r.text).group(1)
    csrf = _log_in(client, "mediator")
    r = client.post("/mediation", data={"csrf_token": csrf, "retailer_id": ids["retailer_id"], "subject": "价格纠纷",
                                        "parties": "顾客"}, follow_redirects=False)  # fmt: skip
    ids["case_id"] = r.headers["location"].rsplit("/", 1)[1]
    tasks = live.tasks()
    ids["task_id"] = str(tasks["task_id"].iat[0])
    ids["event_id"] = str(live.events()["event_id"].iat[-1])
    yield client, ids
    client.close()
    store.close()


def get_paths(routes: list, prefix: str = "") -> list[str]:
    """The path of every GET route, included routers' too (FastAPI 0.16x nests them)."""
    found = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            found += get_paths(inner.routes, prefix + getattr(route.include_context, "prefix", ""))
        elif isinstance(route, APIRoute) and "GET" in route.methods:
            found.append(prefix + route.path)
    return found


def page_urls(client: TestClient, ids: dict[str, str]) -> tuple[list[str], list[str]]:
    """Every page to scan (GET routes outside the API, parameters filled from ``ids``) and the routes left out."""
    urls, left_out = [], []
    for path in get_paths(client.app.routes):
        if path.startswith("/api") or path == "/healthz":
            continue
        params = re.findall(r"{(\w+)(?::\w+)?}", path)
        if any(p not in ids for p in params):
            left_out.append(path)
            continue
        urls.append(re.sub(r"{(\w+)(?::\w+)?}", lambda m: ids[m.group(1)], path))
    urls += [f"/plan?job={ids['plan_job']}", f"/plan?run={ids['draft']}", f"/plan?run={ids['plan']}",
             f"/grids?job={ids['grids_job']}", f"/grids?run={ids['preview']}", f"/public/status?code={ids['code']}",
             f"/report?q={ids['retailer_id']}", f"/public?q={ids['retailer_id']}"]  # fmt: skip
    return urls, left_out


def scan_pages(client: TestClient, ids: dict[str, str]) -> dict[tuple[str, str, str], list[str]]:
    """(user, lang, url) -> findings, for every page (HTML) in zh and in en as each user sees it: the page, or
    the refusal of a page the user may not open (403)."""
    urls, _left_out = page_urls(client, ids)
    names = (str(client.app.state.service.live.district.settings.name), *USERS)  # user names like "admin"
    seen: dict[tuple[str, str, str], list[str]] = {}
    one_of_each_role = {role: name for name, (role, _staff) in reversed(USERS.items())}.values()
    for name in (None, *one_of_each_role):
        if name:
            _log_in(client, name)
        else:
            client.cookies.clear()
        for url in urls:
            for lang in LANGS:
                labels.UNLABELLED.clear()
                r = client.get(f"{url}{'&' if '?' in url else '?'}lang={lang}", follow_redirects=False)
                if r.status_code not in (200, 403) or "text/html" not in r.headers.get("content-type", ""):
                    continue
                found = findings(r.text, lang, names) + [f"unlabelled {k}" for k in sorted(labels.UNLABELLED)]
                seen[(name or "public", lang, url)] = found
    return seen


@pytest.mark.slow  # a worked day (a day plan and a grids rebalance as jobs) and some 400 pages: outside the quick loop
def test_every_page_shows_labels_not_codes(busy_service) -> None:
    """No page of any role, zh or en, shows a vocab code, a snake_case key, an unlabelled key or (zh) English."""
    client, ids = busy_service
    seen = scan_pages(client, ids)
    assert len({url for _n, _l, url in seen}) >= 15  # the pages were found and rendered
    bad = {key: found for key, found in seen.items() if found}
    assert not bad, "\n".join(f"{k}: {sorted(set(v))}" for k, v in sorted(bad.items()))
