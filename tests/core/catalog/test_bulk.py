"""Bulk writes: every row lands, few statements, no stall behind a busy Python thread; triggers restored."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from comfyui_model_library.core.catalog.bulk import ROWS_PER_STATEMENT, insert_rows, triggers_suspended


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(tmp_path / "bulk.sqlite", isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, kind TEXT, n INTEGER)")
    connection.execute("CREATE TABLE log (name TEXT)")
    connection.execute("CREATE TRIGGER t_ai AFTER INSERT ON t BEGIN INSERT INTO log VALUES (new.name); END")
    yield connection
    connection.close()


def _rows(n: int, offset: int = 0) -> list[tuple[str, int]]:
    return [(f"name-{i}", i) for i in range(offset, offset + n)]


@pytest.mark.parametrize(
    "count", [0, 1, ROWS_PER_STATEMENT - 1, ROWS_PER_STATEMENT, ROWS_PER_STATEMENT + 1, 1_003]
)
def test_every_row_is_inserted_with_its_constants(conn: sqlite3.Connection, count: int) -> None:
    insert_rows(conn, "INSERT INTO t (name, kind, n)", "(?, 'walked', ?)", _rows(count))
    assert conn.execute("SELECT count(*), count(DISTINCT name) FROM t").fetchone() == (count, count)
    assert conn.execute("SELECT count(*) FROM t WHERE kind = 'walked'").fetchone()[0] == count
    if count:
        assert (
            conn.execute("SELECT n FROM t WHERE name = ?", (f"name-{count - 1}",)).fetchone()[0] == count - 1
        )


def test_few_statements_for_many_rows(conn: sqlite3.Connection) -> None:
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    insert_rows(conn, "INSERT INTO log (name)", "(?)", [(f"n{i}",) for i in range(1_000)])
    conn.set_trace_callback(None)
    inserts = [s for s in statements if s.startswith("INSERT INTO log")]
    assert len(inserts) == -(-1_000 // ROWS_PER_STATEMENT)


def test_upsert_tail_updates_existing_rows(conn: sqlite3.Connection) -> None:
    insert_rows(conn, "INSERT INTO t (name, n)", "(?, ?)", _rows(300))
    insert_rows(
        conn,
        "INSERT INTO t (name, n)",
        "(?, ?)",
        [(name, n + 1_000) for name, n in _rows(400)],
        "ON CONFLICT(name) DO UPDATE SET n = excluded.n",
    )
    assert conn.execute("SELECT count(*), min(n), max(n) FROM t").fetchone() == (400, 1_000, 1_399)


def test_a_row_of_the_wrong_width_is_refused(conn: sqlite3.Connection) -> None:
    with pytest.raises(ValueError, match="2 values"):
        insert_rows(conn, "INSERT INTO t (name, n)", "(?, ?)", [("a", 1), ("b",)])
    with pytest.raises(ValueError, match="at least one"):
        insert_rows(conn, "INSERT INTO t (name)", "('x')", [()])


def test_a_busy_python_thread_does_not_stall_the_insert(conn: sqlite3.Connection) -> None:
    """executemany gives up the GIL for every row; with a thread running Python beside it, each row can
    wait a switch interval (5 ms): 2,000 rows would take 10 s. A few statements wait a few intervals."""
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            sum(range(20_000))

    thread = threading.Thread(target=busy, daemon=True)
    thread.start()
    counted = _Counting(conn)
    try:
        insert_rows(counted, "INSERT INTO t (name, n)", "(?, ?)", _rows(2_000))  # type: ignore[arg-type]
    finally:
        stop.set()
        thread.join()
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 2_000
    # A few statements of hundreds of rows, not 2,000 GIL hand-offs (bench/sources times the effect).
    assert 1 <= counted.statements <= 20, counted.statements


class _Counting:
    """The connection, counting the statements run through it (sqlite3.Connection takes no attributes)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.statements = 0

    def execute(self, *args: object) -> sqlite3.Cursor:
        self.statements += 1
        return self._conn.execute(*args)  # type: ignore[arg-type]

    def executemany(self, sql: str, rows: list[object]) -> sqlite3.Cursor:
        rows = list(rows)
        self.statements += len(rows)  # each row is a statement step, and a GIL hand-off
        return self._conn.executemany(sql, rows)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        return getattr(self._conn, name)


def _triggers(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}


def test_triggers_are_suspended_and_restored(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN")
    with triggers_suspended(conn, ("t_ai",)):
        assert _triggers(conn) == set()
        conn.execute("INSERT INTO t (name) VALUES ('quiet')")
    conn.execute("INSERT INTO t (name) VALUES ('logged')")
    conn.execute("COMMIT")
    assert _triggers(conn) == {"t_ai"}
    assert [r[0] for r in conn.execute("SELECT name FROM log")] == ["logged"]


def test_triggers_come_back_after_an_error_and_a_rollback(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN")
    with pytest.raises(sqlite3.IntegrityError), triggers_suspended(conn, ("t_ai", "not_there")):
        conn.execute("INSERT INTO t (name) VALUES ('a')")
        conn.execute("INSERT INTO t (name) VALUES ('a')")
    assert _triggers(conn) == {"t_ai"}
    conn.execute("ROLLBACK")
    assert _triggers(conn) == {"t_ai"}
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 0
