"""Named schema migrations, each recorded in the same transaction that runs it.

Before any pending migration runs on an existing catalog, the database is copied aside with SQLite's
online backup API (``.backups/catalog-<stamp>-before-<name>.sqlite``, see backup.py), so a failed upgrade
never costs the user the index.
Add a migration by appending to ``MIGRATIONS``; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import CatalogTooNew
from .backup import backups_dir, take_backup
from .db import Database
from .schema_sql import (
    EXTRAS,
    FTS_ALIASES,
    FTS_DEFERRABLE,
    INITIAL,
    MODEL_COUNTS,
    NAME_TRIGRAMS,
    SEARCH_KEYS,
    SORT_INDEXES,
    SOURCE_INSPECTED,
    TRIGRAM_POSITIONS,
)
from .search_flags import FAVOURITES_INDEXED


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str


MIGRATIONS: Sequence[Migration] = (
    Migration("0001_initial", INITIAL),
    Migration("0002_source_inspected", SOURCE_INSPECTED),
    Migration("0003_fts_deferrable", FTS_DEFERRABLE),
    Migration("0004_fts_aliases", FTS_ALIASES),
    Migration("0005_sort_indexes", SORT_INDEXES),
    # models_type_name_id starts with type: the single-column index only cost every insert.
    Migration("0006_drop_redundant_type_index", "DROP INDEX models_type;"),
    Migration("0007_model_extras", EXTRAS),
    Migration("0008_search_keys", SEARCH_KEYS),
    Migration("0009_model_counts", MODEL_COUNTS),
    Migration("0010_name_trigrams", NAME_TRIGRAMS),
    Migration("0011_trigram_positions", TRIGRAM_POSITIONS),
    Migration("0012_favourites_in_search_index", FAVOURITES_INDEXED),
)


def applied_migrations(conn: sqlite3.Connection) -> set[str]:
    conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    return {row[0] for row in conn.execute("SELECT name FROM _migrations")}


def refuse_newer(done: set[str], known: Sequence[str], where: str, restore_hint: str) -> None:
    """Raise CatalogTooNew when the catalog at ``where`` holds upgrades this version does not know."""
    unknown = sorted(done - set(known))
    if unknown:
        raise CatalogTooNew(
            f"The catalog {where} was upgraded by a newer version of comfyui-model-library "
            f"({', '.join(unknown)}), which this version does not know; it is left untouched. Run the newer "
            f"version of the node again. {restore_hint}"
        )


def _refuse_newer_sqlite(db: Database, done: set[str]) -> None:
    refuse_newer(
        done,
        [m.name for m in MIGRATIONS],
        str(db.path),
        f"To go back to this version instead, restore the backup taken before that upgrade from "
        f"{backups_dir(db.path)} (catalog-...-before-<upgrade>.sqlite); later changes are then read again "
        "from the models' metadata.json files by `model-library rebuild`.",
    )


def pending_migrations(db: Database) -> list[str]:
    """Names of the migrations not yet applied, read without writing (a read-only catalog)."""
    with db.read() as conn:
        has_table = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'"
        ).fetchone()
        done = {row[0] for row in conn.execute("SELECT name FROM _migrations")} if has_table else set()
    _refuse_newer_sqlite(db, done)
    return [m.name for m in MIGRATIONS if m.name not in done]


def migrate(db: Database) -> list[str]:
    """Run pending migrations; return their names. Backs the database up first when it has data.
    A catalog upgraded by a newer version is refused (CatalogTooNew), never written."""
    with db.transaction() as conn:
        done = applied_migrations(conn)
    _refuse_newer_sqlite(db, done)
    pending = [m for m in MIGRATIONS if m.name not in done]
    if not pending:
        return []
    if done:
        _backup(db, pending[0].name)
    ran: list[str] = []
    for migration in pending:
        with db.transaction() as conn:
            # executescript would COMMIT our transaction; run statement by statement instead.
            for statement in _split_sql(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO _migrations(name, applied_at) VALUES (?, datetime('now'))", (migration.name,)
            )
        ran.append(migration.name)
    return ran


def _backup(db: Database, name: str) -> None:
    with db.read() as conn:
        take_backup(conn, db.path, backups_dir(db.path), f"before-{name}")


def _split_sql(script: str) -> list[str]:
    """Split a script into statements, keeping trigger bodies whole (``sqlite3.complete_statement``)."""
    statements: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("--")):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            statements.append(buf.strip())
            buf = ""
    if buf.strip():
        statements.append(buf.strip())
    return statements
