"""The jobs of every machine of a shared library, in the catalog database (core/job_table.py's
``JobTable``): a machine sees the others' jobs, and takes one as interrupted once its lease ran out."""

from __future__ import annotations

from ...job_table import SqlJobTable
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


class PostgresJobTable(SqlJobTable):
    """``JobTable`` on the ``jobs`` table of migration 0005, every machine's rows."""

    shared = True
    MARK = "%s"
    SAME = "IS NOT DISTINCT FROM"
    TIE = "seq"

    def __init__(self, db: PostgresDatabase) -> None:
        super().__init__(db)
