"""The PostgreSQL catalog tests' database: a fresh one on the run's throwaway cluster, migrated."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from comfyui_model_library.core.catalog.postgres.database import PostgresDatabase
from comfyui_model_library.core.catalog.postgres.schema import migrate


@pytest.fixture
def db(postgres_dsn: str) -> Iterator[PostgresDatabase]:
    database = PostgresDatabase(postgres_dsn)
    migrate(database)
    yield database
    database.close()
