"""The log cannot be rewritten: every way in is refused, on SQLite and as PostgreSQL's app role (issue 22, item 3)."""

from __future__ import annotations

import sqlite3
import uuid

import pytest
import sqlalchemy as sa

from gridmgmt._errors import StoreError
from gridmgmt.store import open_store
from gridmgmt.store.engine import MIGRATIONS, grant_app_role
from gridmgmt.store.engine import store_url as to_url
from gridmgmt.store.schema import APPEND_ONLY_TABLES

EVENT = {"retailer_id": "R1", "time": "2026-03-01T09:00", "type": "visit", "department": "marketing"}
COLUMNS = "event_id, retailer_id, time, type, department, content_hash, recorded_at"
ROW = "'E1', 'R2', '2026-01-01 00:00:00', 'visit', 'marketing', 'x', '2026-01-01 00:00:00'"
# every way to change or remove a stored row, as SQL: (name, statement)
REWRITES_SQLITE = {
    "update": "UPDATE events SET retailer_id = 'R9'",
    "delete": "DELETE FROM events",
    "replace": f"REPLACE INTO events({COLUMNS}) VALUES ({ROW})",
    "insert or replace": f"INSERT OR REPLACE INTO events({COLUMNS}) VALUES ({ROW})",
    "on conflict do update": f"INSERT INTO events({COLUMNS}) VALUES ({ROW}) "
    "ON CONFLICT(event_id) DO UPDATE SET retailer_id = 'R9'",
    "replace a run": "REPLACE INTO runs(run_id, kind, created) SELECT run_id, 'grids', created FROM runs",
    "update a run": "UPDATE runs SET kind = 'grids'",
    "delete a run's rows": "DELETE FROM run_rows",
    "delete the audit": "DELETE FROM audit_log",
    "replace the audit": "REPLACE INTO audit_log(id, time, action, outcome) VALUES (1, '2026-01-01', 'x', 'ok')",
}
REWRITES_POSTGRESQL = {
    "update": "UPDATE events SET retailer_id = 'R9'",
    "delete": "DELETE FROM events",
    "on conflict do update": f"INSERT INTO events({COLUMNS}) VALUES ({ROW}) "
    "ON CONFLICT (event_id) DO UPDATE SET retailer_id = 'R9'",
    "truncate": "TRUNCATE events",
    "disable trigger": "ALTER TABLE events DISABLE TRIGGER events_append_only",
    "disable all triggers": "ALTER TABLE events DISABLE TRIGGER ALL",
    "drop trigger": "DROP TRIGGER events_append_only ON events",
    "alter table": "ALTER TABLE events ADD COLUMN erased boolean",
    "drop table": "DROP TABLE events CASCADE",
    "replace the trigger function": "CREATE OR REPLACE FUNCTION gridmgmt_events_append_only() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
    "update a run": "UPDATE runs SET kind = 'grids'",
    "truncate the runs": "TRUNCATE run_rows, runs",
    "delete the audit": "DELETE FROM audit_log",
    "update the audit": "UPDATE audit_log SET outcome = 'ok'",
}


def _fill(store) -> None:
    """One event (id E1), one run with a row, one audit row: something to rewrite in each append-only table."""
    import pandas as pd

    store.add_event(event_id="E1", **EVENT)
    store.write_run("risk", {"risk": pd.DataFrame({"retailer_id": ["R1"], "score": [1.0]})})
    with store.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO audit_log(time, action, outcome) VALUES ('2026-01-01', 'login', 'denied')"))


def _snapshot(url: str) -> dict[str, list]:
    with open_store(url) as store, store.engine.connect() as conn:
        return {t: sorted(map(tuple, conn.execute(sa.text(f"SELECT * FROM {t}")))) for t in APPEND_ONLY_TABLES}


@pytest.mark.parametrize("way", REWRITES_SQLITE)
def test_sqlite_refuses_every_rewrite(tmp_path, way: str) -> None:
    """UPDATE, DELETE, REPLACE / INSERT OR REPLACE and ON CONFLICT DO UPDATE on any append-only table abort."""
    path = tmp_path / "store.sqlite"
    with open_store(path, create=True) as store:
        _fill(store)
    before = _snapshot(str(path))
    conn = sqlite3.connect(path, isolation_level=None)  # a plain client: no settings of ours
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute(REWRITES_SQLITE[way])
    conn.close()
    assert _snapshot(str(path)) == before


def test_a_store_made_before_the_replace_guard_gets_it_on_open(tmp_path) -> None:
    """A store at schema 0002 (REPLACE rewrote an event there) is upgraded on open and refuses it after."""
    from alembic import command
    from alembic.config import Config

    path = tmp_path / "store.sqlite"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with sa.create_engine(to_url(path)).begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
        conn.execute(sa.text(f"INSERT INTO events({COLUMNS}) VALUES ({ROW})"))
        conn.execute(sa.text(REWRITES_SQLITE["replace"]))  # the old schema let it through
    open_store(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute(REWRITES_SQLITE["replace"])
    assert conn.execute("SELECT count(*) FROM events").fetchone() == (1,)


def test_an_added_event_with_a_stored_id_is_refused_in_one_line(store_url: str) -> None:
    """The store's own API says so in one line and keeps the first event."""
    with open_store(store_url, create=True) as store:
        store.add_event(event_id="E1", **EVENT)
        with pytest.raises(Exception) as error:
            store.add_event(event_id="E1", **{**EVENT, "retailer_id": "R2"})
        assert "\n" not in str(error.value) and "E1" in str(error.value)
        assert store.events_between()["retailer_id"].tolist() == ["R1"]


@pytest.fixture
def pg_roles(pg_server):
    """(owner URL, app URL, server) on a new database owned by a plain role, after `store init --app-role`."""
    tag = uuid.uuid4().hex[:8]
    db, owner, app = f"i_{tag}", f"owner_{tag}", f"app_{tag}"
    server = pg_server
    server.psql("postgres", f"CREATE ROLE {owner} LOGIN CREATEROLE")
    server.create_database(db)
    server.psql("postgres", f"ALTER DATABASE {db} OWNER TO {owner}")
    owner_url, app_url = server.url(db, owner), server.url(db, app)
    with open_store(owner_url, create=True) as store:
        assert grant_app_role(store.engine, app, store.label) is True
        assert grant_app_role(store.engine, app, store.label) is False  # again: grants only
        _fill(store)
    return owner_url, app_url, server


@pytest.mark.parametrize("way", REWRITES_POSTGRESQL)
def test_postgresql_app_role_cannot_rewrite_the_log(pg_roles, way: str) -> None:
    """As the app role every way in fails (no privilege, not the owner), and nothing changed."""
    owner_url, app_url, _ = pg_roles
    before = _snapshot(owner_url)
    refused = pytest.raises(sa.exc.DBAPIError, match=r"permission denied|must be owner")
    with open_store(app_url) as store, refused, store.engine.begin() as conn:
        conn.execute(sa.text(REWRITES_POSTGRESQL[way]))
    assert _snapshot(owner_url) == before


def test_postgresql_app_role_does_the_service_work(pg_roles) -> None:
    """The app role adds events and runs, publishes pairs (periods are updated) and manages sessions."""
    import pandas as pd

    _, app_url, _ = pg_roles
    with open_store(app_url) as store:
        store.add_event(**EVENT)
        store.write_run("risk", {"risk": pd.DataFrame({"retailer_id": ["R1"], "score": [2.0]})})
        pairs = pd.DataFrame({"grid_id": ["G1"], "customer_manager": ["C1"], "monopoly_officer": ["Z1"]})
        store.publish_pairs(pairs, "2026-01-01")
        store.publish_pairs(pairs.assign(monopoly_officer="Z2"), "2026-02-01")
        with store.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM sessions"))
        assert store.count_events() == 2 and len(store.list_runs("risk")) == 2


def test_postgresql_owner_is_refused_as_app_role(pg_roles) -> None:
    """Granting to the owner itself (or a superuser) is refused in one line: it could disable the triggers."""
    owner_url, _, _ = pg_roles
    owner = sa.make_url(owner_url).username
    with open_store(owner_url) as store:
        for role in (owner, "postgres"):
            with pytest.raises(StoreError, match="owns nothing") as error:
                grant_app_role(store.engine, role, store.label)
            assert "\n" not in str(error.value)


def test_app_role_is_for_postgresql_only(tmp_path) -> None:
    """On SQLite --app-role says a SQLite store is a file, in one line."""
    with open_store(tmp_path / "s.sqlite", create=True) as store, pytest.raises(StoreError, match="PostgreSQL"):
        grant_app_role(store.engine, "gridmgmt_app", store.label)


def test_postgresql_app_role_cannot_upgrade_and_says_who_can(pg_roles) -> None:
    """A store behind this gridmgmt, opened as the app role: one line naming the owner's command, no change."""
    owner_url, app_url, server = pg_roles
    db = sa.make_url(owner_url).database
    server.psql(db, "UPDATE alembic_version SET version_num = '0002'; DROP TRIGGER runs_append_only ON runs")
    server.psql(db, "DROP TRIGGER runs_no_truncate ON runs; DROP TRIGGER run_rows_append_only ON run_rows")
    with pytest.raises(StoreError, match="as the owner role") as error:
        open_store(app_url)
    assert "\n" not in str(error.value) and "0002" in str(error.value)
