"""The jobs of every machine of a shared library, in the catalog database (core/job_table.py's
``JobTable``): a machine sees the others' jobs, and takes one as interrupted once its lease ran out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...job_table import Row, is_swept
from .database import PostgresDatabase

# The jobs of every machine (core/job_table.py): the SQLite catalog's jobs table, plus ``seq`` for order.
JOBS_TABLE = """
CREATE TABLE jobs (
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    params_json TEXT NOT NULL DEFAULT '{}',
    progress_json TEXT NOT NULL DEFAULT '{}',
    result_json TEXT,
    error_json TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX jobs_unfinished ON jobs (state) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_created ON jobs (created_at DESC, seq DESC);
"""


class PostgresJobTable:
    """``JobTable`` on the ``jobs`` table of migration 0005 (as the SQLite one, ``seq`` orders ties)."""

    shared = True

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db

    def unfinished(self) -> list[tuple[str, str]]:
        with self.db.read() as conn:
            rows = conn.execute("SELECT id, params_json FROM jobs WHERE state IN ('queued', 'running')")
            return [(str(r["id"]), str(r["params_json"] or "")) for r in rows]

    def mark_failed(self, rows: Sequence[tuple[str, str]], error_json: str, now: str) -> list[str]:
        failed: list[str] = []
        if not rows:
            return failed
        with self.db.transaction() as conn:
            for job_id, params_json in rows:
                cur = conn.execute(
                    "UPDATE jobs SET state = 'failed', error_json = %s, updated_at = %s WHERE id = %s "
                    "AND state IN ('queued', 'running') AND params_json IS NOT DISTINCT FROM %s",
                    (error_json, now, job_id, params_json),
                )
                if cur.rowcount:
                    failed.append(job_id)
        return failed

    def recent(self, limit: int) -> list[Row]:
        with self.db.read() as conn:
            return list(
                conn.execute("SELECT * FROM jobs ORDER BY created_at DESC, seq DESC LIMIT %s", (limit,))
            )

    def find(self, job_id: str) -> Row | None:
        with self.db.read() as conn:
            return conn.execute("SELECT * FROM jobs WHERE id = %s", (job_id,)).fetchone()

    def swept(self) -> list[tuple[str, str, str]]:
        with self.db.read() as conn:
            rows = conn.execute(
                # Tested in Python, not by a ::jsonb cast: one error that is not JSON would fail the query.
                "SELECT id, params_json, error_json FROM jobs "
                "WHERE state = 'failed' AND error_json LIKE '%%swept%%'"
            )
            return [
                (str(r["id"]), str(r["params_json"] or ""), str(r["error_json"]))
                for r in rows
                if is_swept(r["error_json"])
            ]

    def write(self, job_id: str, values: Sequence[Any], *, insert: bool, kind: str, created_at: str) -> None:
        with self.db.transaction() as conn:
            if insert:
                conn.execute(
                    "INSERT INTO jobs (state, params_json, progress_json, result_json, error_json, "
                    "updated_at, id, kind, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (*values, job_id, kind, created_at),
                )
            else:
                conn.execute(
                    "UPDATE jobs SET state = %s, params_json = %s, progress_json = %s, result_json = %s, "
                    "error_json = %s, updated_at = %s WHERE id = %s",
                    (*values, job_id),
                )

    def set_error(self, job_id: str, error_json: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE jobs SET error_json = %s WHERE id = %s", (error_json, job_id))
