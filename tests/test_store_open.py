"""Stores are opened, not invented, and every wait has a timeout (issue 22, item 5)."""

from __future__ import annotations

import socket
import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from gridmgmt._errors import StoreError
from gridmgmt.cli import app
from gridmgmt.store import open_store
from gridmgmt.store.engine import StoreMissingError, Timeouts, read_connection

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo" / "district.toml"
EVENT = {"retailer_id": "R1", "time": "2026-03-01T09:00", "type": "visit", "department": "marketing"}
runner = CliRunner()


def _one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text
    return text


def test_a_missing_store_is_named_not_created(store_url: str, tmp_path) -> None:
    """A path that does not exist, or a database without a store, is refused in one line; nothing is made."""
    where = str(tmp_path / "typo" / "store.sqlite") if not store_url.startswith("postgresql") else store_url
    with pytest.raises(StoreMissingError) as error:
        open_store(where)
    assert "no store at" in _one_line(error.value) and "gridmgmt store init" in str(error.value)
    assert not (tmp_path / "typo").exists()
    with pytest.raises(StoreMissingError):
        open_store(where)  # still missing: the first try left no schema behind
    with open_store(where, create=True) as store:
        store.add_event(**EVENT)
    with open_store(where) as store:
        assert store.count_events() == 1


def test_an_empty_sqlite_file_is_no_store(tmp_path) -> None:
    """A file that holds no store (an empty one) is not turned into one."""
    path = tmp_path / "empty.sqlite"
    path.touch()
    with pytest.raises(StoreMissingError, match="no store at"):
        open_store(path)
    assert sqlite3.connect(path).execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)


@pytest.mark.parametrize(
    "command",
    [
        ["events", "add", "--type", "visit", "--retailer", "R1"],
        ["events", "list"],
        ["tasks", "list"],
        ["users", "list"],
        ["store", "backup", "--to", "copy.sqlite"],
    ],
)
def test_commands_on_a_mistyped_store_say_so_and_exit_1(tmp_path, monkeypatch, command: list[str]) -> None:
    """`--store typo/store.sqlite`: one line naming it and `store init`, exit 1, no folder, no store."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GRIDMGMT_STORE", raising=False)
    result = runner.invoke(app, [*command, "--district", str(DEMO), "--store", "typo/store.sqlite"])
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "no store at typo/store.sqlite" in text and "gridmgmt store init" in text
    assert "Traceback" not in result.output
    assert not (tmp_path / "typo").exists()


def test_users_add_without_store_makes_no_second_store(tmp_path, monkeypatch) -> None:
    """`users add` on a district without a store (no --store, no $GRIDMGMT_STORE) refuses, creating nothing."""
    monkeypatch.delenv("GRIDMGMT_STORE", raising=False)
    district = tmp_path / "d" / "district.toml"
    args = ["users", "add", "admin", "--role", "admin", "--password-stdin", "--district", str(district)]
    result = runner.invoke(app, args, input="a long first password\n")
    assert result.exit_code == 1 and "no store at" in " ".join(result.output.split())
    assert not (tmp_path / "d").exists()


def test_sqlite_busy_timeout_on_every_connection(tmp_path, monkeypatch) -> None:
    """Reads, writes and fresh connections wait the whole lock timeout (30 s, or the variable), not 20 ms."""
    path = tmp_path / "s.sqlite"
    with open_store(path, create=True) as store:
        store.add_event(**EVENT)
        with read_connection(store.engine, "t") as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        with store.engine.connect() as conn:
            conn = conn.execution_options(write=True)
            with conn.begin():  # the writer queues in short sleeps, then gets the whole timeout back
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    monkeypatch.setenv("GRIDMGMT_STORE_LOCK_TIMEOUT_S", "5")
    with open_store(path) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5_000


def test_timeouts_have_defaults_and_refuse_nonsense() -> None:
    """Documented defaults; a variable that is not a positive number of seconds is one line naming it."""
    assert Timeouts.from_env({}) == Timeouts(connect_s=10.0, lock_s=30.0, statement_s=300.0)
    assert Timeouts.from_env({"GRIDMGMT_STORE_STATEMENT_TIMEOUT_S": "60"}).statement_s == 60.0
    for bad in ("soon", "0", "-1", "nan"):
        with pytest.raises(StoreError, match="GRIDMGMT_STORE_LOCK_TIMEOUT_S") as error:
            Timeouts.from_env({"GRIDMGMT_STORE_LOCK_TIMEOUT_S": bad})
        _one_line(error.value)


def test_postgresql_sessions_carry_the_timeouts(pg_server, monkeypatch) -> None:
    """Every PostgreSQL session has lock_timeout and statement_timeout; settings in the URL win."""
    url = pg_server.create_database("timeouts_defaults")
    with open_store(url, create=True) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "30s"
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "5min"
    own = sa.make_url(url).update_query_dict({"options": "-c lock_timeout=7s"}).render_as_string(hide_password=False)
    with open_store(own) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "7s"


def test_postgresql_held_lock_gives_one_line(pg_server, monkeypatch) -> None:
    """Another session holds the log's lock: the add gives up after the lock timeout, in one line, writing nothing."""
    url = pg_server.create_database("timeouts_lock")
    open_store(url, create=True).close()
    monkeypatch.setenv("GRIDMGMT_STORE_LOCK_TIMEOUT_S", "0.2")
    holder = sa.create_engine(url)
    with holder.connect() as conn, conn.begin():
        conn.exec_driver_sql("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        with open_store(url) as store, pytest.raises(StoreError, match="lock timeout") as error:
            store.add_event(**EVENT)
        assert "nothing was written" in _one_line(error.value)
    holder.dispose()
    with open_store(url) as store:
        assert store.count_events() == 0


def test_postgresql_long_statement_gives_one_line(pg_server, monkeypatch) -> None:
    """A statement past the statement timeout is cancelled with one line naming the setting."""
    url = pg_server.create_database("timeouts_statement")
    open_store(url, create=True).close()
    monkeypatch.setenv("GRIDMGMT_STORE_STATEMENT_TIMEOUT_S", "0.2")
    store = open_store(url)
    with (
        store,
        pytest.raises(StoreError, match="STATEMENT_TIMEOUT_S") as error,
        read_connection(store.engine, "t") as c,
    ):
        c.exec_driver_sql("SELECT pg_sleep(30)")
    _one_line(error.value)


def test_postgresql_listener_that_never_answers_gives_one_line(monkeypatch) -> None:
    """A port that accepts the connection and then says nothing: the connect timeout ends it in one line."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True)
    thread.start()
    monkeypatch.setenv("GRIDMGMT_STORE_CONNECT_TIMEOUT_S", "1")
    port = listener.getsockname()[1]
    try:
        with pytest.raises(StoreError, match="CONNECT_TIMEOUT_S") as error:
            open_store(f"postgresql://clerk@127.0.0.1:{port}/bureau")
        assert "did not answer" in _one_line(error.value)
        thread.join(5)
        assert accepted  # it did accept: the wait was for an answer, not for the connection
    finally:
        for conn in accepted:
            conn.close()
        listener.close()


def test_postgresql_backup_behind_a_held_lock_gives_one_line(pg_server, monkeypatch, tmp_path) -> None:
    """pg_dump waits for a held lock only as long as the lock timeout, then one line; no partial file."""
    url = pg_server.create_database("timeouts_backup")
    open_store(url, create=True).close()
    monkeypatch.setenv("GRIDMGMT_STORE_LOCK_TIMEOUT_S", "0.2")
    holder = sa.create_engine(url)
    with holder.connect() as conn, conn.begin():
        conn.exec_driver_sql("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        with open_store(url) as store, pytest.raises(StoreError, match="backup to") as error:
            store.backup(tmp_path / "copy.dump")
        _one_line(error.value)
    holder.dispose()
    assert not (tmp_path / "copy.dump").exists()
