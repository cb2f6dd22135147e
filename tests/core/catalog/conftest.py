"""Fixtures for catalog tests: a migrated SQLite file in tmp_path and a synthetic model factory."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.catalog.migrations import migrate
from comfyui_model_library.core.catalog.repository import ModelRepository
from comfyui_model_library.core.models import Hashes, Model, ModelFile, ModelSource

_counter = itertools.count()


def make_model(name: str = "model", *, seed: str | None = None, **changes: Any) -> Model:
    """A valid synthetic Model; ``seed`` fixes its hashes (default: unique per call)."""
    seed = seed if seed is not None else f"{name}-{next(_counter)}"
    blake3 = hashlib.sha256(b"b3" + seed.encode()).hexdigest()
    sha256 = hashlib.sha256(b"s2" + seed.encode()).hexdigest()
    fields: dict[str, Any] = dict(
        id=blake3[:16],
        name=name,
        type="lora",
        base_model="sdxl",
        format="single-file",
        file_format="safetensors",
        security="safe",
        size=1234,
        hashes=Hashes(blake3, sha256),
        files=(ModelFile(f"{name}.safetensors", 1234, blake3, sha256),),
        rel_dir=f"models/lora/sdxl/{name}",
        source=ModelSource(kind="huggingface", repo_id="someone/repo", match="hash", confidence=1.0),
        tags=("style", "anime"),
        notes="",
        added_at="2024-01-01T00:00:00+00:00",
        updated_at="2024-01-01T00:00:00+00:00",
        metadata={"ss_network_dim": "32"},
    )
    fields.update(changes)
    return Model(**fields)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "catalog.sqlite")
    migrate(database)
    yield database
    database.close()


@pytest.fixture
def repo(db: Database) -> ModelRepository:
    return ModelRepository(db)


@pytest.fixture
def model_factory() -> Callable[..., Model]:
    return make_model
