"""The catalog store a library uses, chosen by ``MODEL_LIBRARY_CATALOG`` (``LibraryConfig.catalog``): the
SQLite store on the library's catalog file, or the PostgreSQL store several machines share. psycopg is
imported only in the second case (the optional ``postgresql`` extra)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..config import LibraryConfig
from ..errors import InvalidConfig
from ..job_table import JobTable, SqliteJobTable
from .db import Database
from .repository import ModelRepository
from .store import CatalogStore


def open_store(config: LibraryConfig, db: Database) -> CatalogStore[Any]:
    """The library's catalog store (a shared one migrated, once, by whichever machine starts first)."""
    if not config.shared:
        return ModelRepository(db)
    try:
        from .postgres.database import PostgresDatabase
        from .postgres.schema import migrate
        from .postgres.store import PostgresCatalog
    except ImportError as exc:
        raise InvalidConfig(
            "MODEL_LIBRARY_CATALOG names a PostgreSQL catalog but psycopg is not installed; install it "
            "with `pip install 'central-model-library[postgresql]'` (or `pip install 'psycopg[binary]' "
            f"psycopg-pool`) in ComfyUI's Python ({exc.name} is missing)."
        ) from exc
    database = PostgresDatabase(config.catalog)
    try:
        migrate(database)
    except BaseException:
        database.close()
        raise
    return PostgresCatalog(database)


def open_feed(
    config: LibraryConfig, store: CatalogStore[Any], on_remote: Callable[[list[str], str, str], None]
) -> Callable[[list[str], str], None] | None:
    """A shared catalog's change feed (postgres/changes_feed.py), listening from now on and closed with
    the store: -> how to publish this machine's changes. None for a one-machine library."""
    if not config.shared:
        return None
    from ..config import default_machine
    from .postgres.changes_feed import ChangeFeed
    from .postgres.store import PostgresCatalog

    if not isinstance(store, PostgresCatalog):
        return None
    feed = ChangeFeed(config.catalog, config.machine or default_machine(), on_remote)
    store.closing.append(feed.close)
    feed.start()
    return feed.publish


def open_job_table(store: CatalogStore[Any], db: Database) -> JobTable:
    """Where the job runner keeps its rows: with a shared catalog, its database (every machine's jobs,
    core/catalog/postgres/jobs.py); else the library's SQLite file."""
    if type(store).__name__ == "PostgresCatalog":  # psycopg is imported only for a shared catalog
        from .postgres.jobs import PostgresJobTable
        from .postgres.store import PostgresCatalog

        assert isinstance(store, PostgresCatalog)
        return PostgresJobTable(store.db)
    return SqliteJobTable(db)


def close_store(store: CatalogStore[Any]) -> None:
    """Close what the store holds of its own (a PostgreSQL pool); the SQLite store shares the library's
    database, which the library closes."""
    close = getattr(store, "close", None)
    if callable(close):
        close()
