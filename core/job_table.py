"""Where the job runner keeps its jobs' rows: the ``jobs`` table of the library's SQLite file, or, with a
shared PostgreSQL catalog (issue 18), the catalog database's ``jobs`` table every machine sees
(core/catalog/postgres/jobs.py), so that one machine can take another's job as interrupted once the
job's lease ran out.

A row's ``params_json`` carries the job's owner and lease (core/jobs.py). Marking rows interrupted is
optimistic: a row is changed only if its ``params_json`` is still the one read, so an owner that renewed
its lease in between keeps its job.
"""

# SQL here is assembled only from fixed fragments (placeholders, column names); values are bound.
# ruff: noqa: S608

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from .catalog.db import Database

# A row by column name: sqlite3.Row, or a dict from PostgreSQL.
Row = Any


def is_swept(error_json: str | None) -> bool:
    """A job's error says another machine swept it (an error that is not JSON: not swept)."""
    try:
        error = json.loads(error_json or "null")
    except (ValueError, RecursionError):
        return False
    return isinstance(error, dict) and error.get("swept") is True


class JobTable(Protocol):
    """The rows of the runner's jobs (columns: id, kind, state, params_json, progress_json,
    result_json, error_json, created_at, updated_at)."""

    # True when other machines write the same rows (then the runner sweeps their expired leases).
    shared: bool

    def unfinished(self) -> list[tuple[str, str]]:
        """(id, params_json) of every queued or running job."""
        ...

    def mark_failed(self, rows: Sequence[tuple[str, str]], error_json: str, now: str) -> list[str]:
        """Fail each (id, params_json) row still unfinished and unchanged since read; -> the ids failed."""
        ...

    def recent(self, limit: int) -> list[Row]:
        """The newest ``limit`` rows, newest first."""
        ...

    def find(self, job_id: str) -> Row | None: ...

    def swept(self) -> list[tuple[str, str, str]]:
        """(id, params_json, error_json) of the jobs another machine failed as interrupted, not yet
        taken back by their owner (their error holds ``"swept": true``; a row whose error is not JSON is
        none of them, and stops nothing)."""
        ...

    def write(self, job_id: str, values: Sequence[Any], *, insert: bool, kind: str, created_at: str) -> None:
        """Insert or update a row; ``values``: state, params_json, progress_json, result_json, error_json,
        updated_at."""
        ...

    def take_back(self, job_id: str, swept_error: str, error_json: str) -> bool:
        """Give a swept job ``error_json`` if it is still failed with ``swept_error`` (as ``swept`` read
        it); -> whether it was (another process of this machine may have taken it back first)."""
        ...


class SqlJobTable:
    """``JobTable`` on a ``jobs`` table, the same SQL in either dialect: a database with ``read()`` and
    ``transaction()`` giving connections; ``MARK``, its placeholder; ``SAME``, its null-safe equality;
    ``TIE``, the column ordering rows made the same instant."""

    shared = False
    MARK = "?"
    SAME = "IS"
    TIE = "rowid"

    def __init__(self, db: Any) -> None:
        self.db = db

    def unfinished(self) -> list[tuple[str, str]]:
        with self.db.read() as conn:
            rows = conn.execute("SELECT id, params_json FROM jobs WHERE state IN ('queued', 'running')")
            return [(str(r["id"]), str(r["params_json"] or "")) for r in rows]

    def mark_failed(self, rows: Sequence[tuple[str, str]], error_json: str, now: str) -> list[str]:
        failed: list[str] = []
        if not rows:
            return failed
        m = self.MARK
        sql = (
            f"UPDATE jobs SET state = 'failed', error_json = {m}, updated_at = {m} WHERE id = {m} "
            f"AND state IN ('queued', 'running') AND params_json {self.SAME} {m}"
        )
        with self.db.transaction() as conn:
            for job_id, params_json in rows:
                if conn.execute(sql, (error_json, now, job_id, params_json)).rowcount:
                    failed.append(job_id)
        return failed

    def recent(self, limit: int) -> list[Row]:
        with self.db.read() as conn:
            sql = f"SELECT * FROM jobs ORDER BY created_at DESC, {self.TIE} DESC LIMIT {self.MARK}"
            return list(conn.execute(sql, (limit,)))

    def find(self, job_id: str) -> Row | None:
        with self.db.read() as conn:
            return conn.execute(f"SELECT * FROM jobs WHERE id = {self.MARK}", (job_id,)).fetchone()

    def swept(self) -> list[tuple[str, str, str]]:
        # Tested in Python, not in SQL: one error that is not JSON would fail a JSON function or cast.
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT id, params_json, error_json FROM jobs WHERE state = 'failed' "
                f"AND error_json LIKE {self.MARK}",
                ("%swept%",),
            )
            return [
                (str(r["id"]), str(r["params_json"] or ""), str(r["error_json"]))
                for r in rows
                if is_swept(r["error_json"])
            ]

    def write(self, job_id: str, values: Sequence[Any], *, insert: bool, kind: str, created_at: str) -> None:
        m = self.MARK
        with self.db.transaction() as conn:
            if insert:
                conn.execute(
                    "INSERT INTO jobs (state, params_json, progress_json, result_json, error_json, "
                    f"updated_at, id, kind, created_at) VALUES ({', '.join([m] * 9)})",
                    (*values, job_id, kind, created_at),
                )
            else:
                conn.execute(
                    f"UPDATE jobs SET state = {m}, params_json = {m}, progress_json = {m}, "
                    f"result_json = {m}, error_json = {m}, updated_at = {m} WHERE id = {m}",
                    (*values, job_id),
                )

    def take_back(self, job_id: str, swept_error: str, error_json: str) -> bool:
        with self.db.transaction() as conn:
            cur = conn.execute(
                f"UPDATE jobs SET error_json = {self.MARK} WHERE id = {self.MARK} AND state = 'failed' "
                f"AND error_json = {self.MARK}",
                (error_json, job_id, swept_error),
            )
            return bool(cur.rowcount)


class SqliteJobTable(SqlJobTable):
    """The jobs table of the library's SQLite file (shared only when the file itself is, on a share)."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
