"""Where the job runner keeps its jobs' rows: the ``jobs`` table of the library's SQLite file, or, with a
shared PostgreSQL catalog (issue 18), the catalog database's ``jobs`` table every machine sees
(core/catalog/postgres/jobs.py), so that one machine can take another's job as interrupted once the
job's lease ran out.

A row's ``params_json`` carries the job's owner and lease (core/jobs.py). Marking rows interrupted is
optimistic: a row is changed only if its ``params_json`` is still the one read, so an owner that renewed
its lease in between keeps its job.
"""

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
        taken back by their owner (their error holds ``"swept": true``)."""
        ...

    def write(self, job_id: str, values: Sequence[Any], *, insert: bool, kind: str, created_at: str) -> None:
        """Insert or update a row; ``values``: state, params_json, progress_json, result_json, error_json,
        updated_at."""
        ...

    def set_error(self, job_id: str, error_json: str) -> None: ...


class SqliteJobTable:
    """The jobs table of the library's SQLite file (shared only when the file itself is, on a share)."""

    shared = False

    def __init__(self, db: Database) -> None:
        self.db = db

    def unfinished(self) -> list[tuple[str, str]]:
        rows = self.db.execute_read("SELECT id, params_json FROM jobs WHERE state IN ('queued', 'running')")
        return [(str(r[0]), str(r[1] or "")) for r in rows]

    def mark_failed(self, rows: Sequence[tuple[str, str]], error_json: str, now: str) -> list[str]:
        failed: list[str] = []
        if not rows:
            return failed
        with self.db.transaction() as conn:
            for job_id, params_json in rows:
                cur = conn.execute(
                    "UPDATE jobs SET state = 'failed', error_json = ?, updated_at = ? WHERE id = ? AND "
                    "state IN ('queued', 'running') AND params_json IS ?",
                    (error_json, now, job_id, params_json),
                )
                if cur.rowcount:
                    failed.append(job_id)
        return failed

    def recent(self, limit: int) -> list[Row]:
        return list(
            self.db.execute_read("SELECT * FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,))
        )

    def find(self, job_id: str) -> Row | None:
        rows = self.db.execute_read("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return rows[0] if rows else None

    def swept(self) -> list[tuple[str, str, str]]:
        rows = self.db.execute_read(
            "SELECT id, params_json, error_json FROM jobs "
            "WHERE state = 'failed' AND error_json LIKE '%swept%'"
        )
        return [(str(r[0]), str(r[1] or ""), str(r[2])) for r in rows if is_swept(r[2])]

    def write(self, job_id: str, values: Sequence[Any], *, insert: bool, kind: str, created_at: str) -> None:
        with self.db.transaction() as conn:
            if insert:
                conn.execute(
                    "INSERT INTO jobs (state, params_json, progress_json, result_json, error_json, "
                    "updated_at, id, kind, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*values, job_id, kind, created_at),
                )
            else:
                conn.execute(
                    "UPDATE jobs SET state = ?, params_json = ?, progress_json = ?, result_json = ?, "
                    "error_json = ?, updated_at = ? WHERE id = ?",
                    (*values, job_id),
                )

    def set_error(self, job_id: str, error_json: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE jobs SET error_json = ? WHERE id = ?", (error_json, job_id))
