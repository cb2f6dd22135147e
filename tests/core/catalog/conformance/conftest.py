"""The catalog store's conformance suite: every test here runs against each implementation of
``CatalogStore`` (core/catalog/store.py): SQLite, and PostgreSQL on a throwaway cluster (tests/conftest.py
``postgres_server``; skipped where PostgreSQL is not installed).

A backend gives the store, a way to open the write transaction its ``InPlaceModels`` writes join, and a
way to put files of a folder catalogued in place beside a model (the sources' own table, which the
in-place statements read).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.catalog.migrations import migrate
from comfyui_model_library.core.catalog.repository import ModelRepository
from comfyui_model_library.core.catalog.store import CatalogStore
from comfyui_model_library.core.sources.registry import SourceRegistry


@dataclass
class Backend:
    store: CatalogStore[Any]
    transaction: Callable[[], AbstractContextManager[Any]]
    # (source folder, [(file path, model id or None)]) -> file ids, in order
    put_files: Callable[[str, list[tuple[str, str | None]]], list[int]]
    # (file paths, "present" | "missing") -> the models whose states were refreshed
    set_files: Callable[[list[str], str], list[str]]


def _sqlite(tmp_path: Path) -> Iterator[Backend]:
    db = Database(tmp_path / "catalog.sqlite")
    migrate(db)
    store: CatalogStore[sqlite3.Connection] = ModelRepository(db)  # mypy checks the class conforms
    registry = SourceRegistry(db, store.in_place)
    inode = iter(range(1000, 10**6))

    def put_files(folder: str, files: list[tuple[str, str | None]]) -> list[int]:
        source = registry.add(Path(folder), read_only=True)
        entries = [
            ({"path": path, "size": 10, "mtime_ns": 1, "inode": next(inode), "device": 1}, model_id)
            for path, model_id in files
        ]
        with db.transaction() as conn:
            registry.upsert_files(conn, source.id, entries)
        known = registry.files(source.id)
        return [known[path].id for path, _ in files]

    def set_files(paths: list[str], state: str) -> list[str]:
        with db.transaction() as conn:
            if state == "missing":
                return registry.mark_missing(conn, paths)
            return registry.mark_present(conn, paths)

    yield Backend(store, db.transaction, put_files, set_files)
    db.close()


def _postgresql(request: pytest.FixtureRequest, _tmp_path: Path) -> Iterator[Backend]:
    """The PostgreSQL store on a fresh database of the run's throwaway cluster (skipped without one).
    The sources' own tables are written here directly, as core/sources/registry.py writes SQLite's."""
    from comfyui_model_library.core.catalog.postgres.database import PostgresDatabase
    from comfyui_model_library.core.catalog.postgres.schema import migrate as migrate_pg
    from comfyui_model_library.core.catalog.postgres.store import PostgresCatalog

    db = PostgresDatabase(request.getfixturevalue("postgres_dsn"))
    migrate_pg(db)
    store = PostgresCatalog(db)
    inode = iter(range(1000, 10**6))

    def put_files(folder: str, files: list[tuple[str, str | None]]) -> list[int]:
        ids = []
        with db.transaction() as conn:
            row = conn.execute(
                "INSERT INTO sources (path, read_only, added_at) VALUES (%s, 1, now()::text) "
                "ON CONFLICT (path) DO UPDATE SET path = excluded.path RETURNING id",
                (folder,),
            ).fetchone()
            for path, model_id in files:
                found = conn.execute(
                    "INSERT INTO source_files (source_id, path, size, mtime_ns, inode, device, model_id, "
                    "seen_at) VALUES (%s, %s, 10, 1, %s, 1, %s, now()::text) RETURNING id",
                    (row["id"], path, next(inode), model_id),
                ).fetchone()
                ids.append(found["id"])
        return ids

    def set_files(paths: list[str], state: str) -> list[str]:
        with db.transaction() as conn:
            conn.execute("UPDATE source_files SET state = %s WHERE path = ANY(%s)", (state, paths))
            rows = conn.execute(
                "SELECT DISTINCT model_id FROM source_files WHERE path = ANY(%s) AND model_id IS NOT NULL",
                (paths,),
            ).fetchall()
            touched = sorted(r["model_id"] for r in rows)
            store.in_place.refresh_states(conn, touched)
        return touched

    yield Backend(store, db.transaction, put_files, set_files)
    db.close()


def _sqlite_backend(_request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from _sqlite(tmp_path)


BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], Iterator[Backend]]] = {
    "sqlite": _sqlite_backend,
    "postgresql": _postgresql,
}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from BACKENDS[request.param](request, tmp_path)


@pytest.fixture
def store(backend: Backend) -> CatalogStore[Any]:
    return backend.store
