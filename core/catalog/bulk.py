"""Many rows in few statements: bulk writes that do not stall behind the host's other Python threads.

``executemany`` runs one SQLite step per row and gives up the GIL around each. When another thread of
the process is running Python (ComfyUI starting its server, a workflow's nodes), taking the GIL back can
wait a whole switch interval (5 ms) every time: 10,000 rows measured 33 s instead of 0.1 s with one busy
thread beside them. A multi-row ``INSERT ... VALUES (...), (...)`` of a few hundred rows gives the GIL up
once per statement, and costs no more without contention (bench/sources.py, tests/core/catalog).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from .search_flags import INDEX_ROWS_AFTER

# Rows per statement: few enough that a statement's parameters stay far below SQLite's limit.
ROWS_PER_STATEMENT = 250
# SQLite before 3.32 allows 999 parameters a statement; later versions 32,766.
_OLD_VARIABLE_LIMIT = 999


def insert_rows(
    conn: sqlite3.Connection,
    head: str,
    row: str,
    rows: Sequence[Sequence[object]],
    tail: str = "",
) -> None:
    """Run ``{head} VALUES {row}, {row}, ... {tail}`` over ``rows``, a few hundred rows a statement.

    ``head`` is ``INSERT INTO t (a, b, c)``; ``row`` the parenthesised values of one row, with one
    ``?`` per item of each row (constants may stand beside them: ``(?, ?, 'x')``); ``tail`` an optional
    ``ON CONFLICT ...`` clause. Every row must have as many items as ``row`` has ``?``.
    """
    if not rows:
        return
    per_row = row.count("?")
    if per_row == 0:
        raise ValueError("insert_rows needs a row template with at least one '?'")
    step = max(1, min(ROWS_PER_STATEMENT, _variable_limit(conn) // per_row))
    full_sql: str | None = None
    for start in range(0, len(rows), step):
        chunk = rows[start : start + step]
        if len(chunk) == step:
            full_sql = full_sql or _statement(head, row, step, tail)
            sql = full_sql
        else:
            sql = _statement(head, row, len(chunk), tail)
        params = [value for item in chunk for value in item]
        if len(params) != per_row * len(chunk):
            raise ValueError(f"insert_rows: every row needs {per_row} values for {row}")
        conn.execute(sql, params)


def _statement(head: str, row: str, count: int, tail: str) -> str:
    return f"{head} VALUES {', '.join([row] * count)} {tail}".rstrip()


def _variable_limit(conn: sqlite3.Connection) -> int:
    getlimit = getattr(conn, "getlimit", None)  # Python 3.11+
    category = getattr(sqlite3, "SQLITE_LIMIT_VARIABLE_NUMBER", None)
    if getlimit is not None and category is not None:
        return int(getlimit(category))
    return 32_766 if sqlite3.sqlite_version_info >= (3, 32, 0) else _OLD_VARIABLE_LIMIT


@contextmanager
def triggers_suspended(conn: sqlite3.Connection, names: Sequence[str]) -> Iterator[frozenset[str]]:
    """Drop the named triggers for the block and recreate them as they were, inside the caller's
    transaction: other connections never see them missing, and a rollback restores them too. Yields
    the names (as asked) of those that existed: a trigger already dropped stays dropped.

    For bulk loads that index rows themselves afterwards: even a trigger whose WHEN is false costs
    about 10 us a row just to enter."""
    wanted = {name.lower(): name for name in names}  # SQLite matches trigger names without case
    found = [
        (str(row[0]), str(row[1]))
        for row in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        if str(row[0]).lower() in wanted
    ]
    for name, _sql in found:
        conn.execute(f'DROP TRIGGER "{name}"')
    try:
        yield frozenset(wanted[name.lower()] for name, _sql in found)
    finally:
        for _name, sql in found:
            conn.execute(sql)


# The triggers that index one inserted model row by row (words, name trigrams, the filter counts).
INSERT_TRIGGERS = ("models_ai", "models_trigrams_ai", "model_counts_ai")
_TRIGRAM_ROWS_AFTER = (
    "INSERT INTO models_trigrams (rowid, name) SELECT rowid, name FROM models WHERE rowid > ?"
)
# The counts trigger's upsert, for every new row at once.
_COUNT_ROWS_AFTER = (
    "INSERT INTO model_counts (type, base_model, location, security, file_format, favorite, n) "
    "SELECT type, base_model, location, security, file_format, favorite, count(*) FROM models "
    "WHERE rowid > ? GROUP BY type, base_model, location, security, file_format, favorite "
    "ON CONFLICT DO UPDATE SET n = n + excluded.n"
)
# Each insert trigger's work for every row above a rowid at once.
_ROWS_AFTER = (
    ("models_ai", INDEX_ROWS_AFTER),
    ("models_trigrams_ai", _TRIGRAM_ROWS_AFTER),
    ("model_counts_ai", _COUNT_ROWS_AFTER),
)


@contextmanager
def models_indexed_at_end(conn: sqlite3.Connection) -> Iterator[None]:
    """Model rows inserted inside the block (only inserted: nothing may update or delete a model in it)
    are indexed after it, in one statement for each of ``INSERT_TRIGGERS`` that exists (one dropped
    already, as a rebuild's ``bulk`` drops the words' ones, stays the caller's to make up for).

    Row by row, every FTS5 insert a trigger makes runs inside the row's statement savepoint, where FTS5
    writes out what it holds in memory: a few new index segments for every model. 256 models of an
    adoption's group cost about 150 us each that way, 55 us this way. Writes are serialized, so every
    row above the highest rowid at the start is one of the block's. Rows inserted before an error in
    the block are indexed too, should the caller's transaction commit them anyway."""
    (last_rowid,) = conn.execute("SELECT coalesce(max(rowid), 0) FROM models").fetchone()
    with triggers_suspended(conn, INSERT_TRIGGERS) as suspended:
        try:
            yield
        finally:
            if conn.in_transaction:  # not after an error that rolled the transaction back
                for trigger, sql in _ROWS_AFTER:
                    if trigger in suspended:
                        conn.execute(sql, (last_rowid,))
