"""A library loader that runs marks its model "recently used" in the real catalog (and in its record),
at most once a minute, and a library that cannot be written never fails the prompt."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from comfyui_model_library.core.catalog.sidecar import SIDECAR_NAME
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import ModelQuery
from comfyui_model_library.nodes import _catalog
from tests.synth import write_family


@pytest.fixture
def bound(library: Library) -> Iterator[Library]:
    previous = _catalog._provider
    _catalog.bind_library(lambda: library)
    yield library
    _catalog._provider = previous


def test_a_loader_run_marks_the_model_used(bound: Library, incoming: Path) -> None:
    [item] = bound.imports.import_paths(
        [write_family(incoming / "detail.safetensors", "sdxl_lora_kohya")], lookup=False
    )
    model = item.model
    assert model is not None and model.used_at == ""
    found = _catalog.locate(_catalog.label_for(model))
    used = bound.catalog.get_model(model.id).used_at
    assert found.model.id == model.id and used
    record = json.loads((bound.catalog.model_dir(model) / SIDECAR_NAME).read_text())
    assert record["extras"]["used_at"] == used
    assert bound.catalog.list_models(ModelQuery(sort="-used")).items[0].id == model.id
    _catalog.locate(_catalog.label_for(model))  # again within the minute: no second write
    assert bound.catalog.get_model(model.id).used_at == used


def test_marking_never_fails_the_prompt(
    bound: Library, incoming: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [item] = bound.imports.import_paths(
        [write_family(incoming / "vae.safetensors", "vae_sdxl")], lookup=False
    )
    assert item.model is not None

    def refuse() -> None:
        raise PermissionError("read-only library")

    monkeypatch.setattr(bound.catalog, "_guard", refuse)
    assert _catalog.locate(_catalog.label_for(item.model)).model.id == item.model.id
    assert bound.catalog.get_model(item.model.id).used_at == ""


def test_a_library_loader_reads_the_machines_cache(tmp_path: Path) -> None:
    """With MODEL_LIBRARY_CACHE, a library loader opens the cached copy (filled on this first load)."""
    from comfyui_model_library.core.config import load_config

    config = load_config(tmp_path / "library", cache_dir=tmp_path / "fast-disk")
    with Library.open(config) as library:
        previous = _catalog._provider
        _catalog.bind_library(lambda: library)
        try:
            incoming = tmp_path / "incoming"
            incoming.mkdir()
            [item] = library.imports.import_paths(
                [write_family(incoming / "detail.safetensors", "sdxl_lora_kohya")], lookup=False
            )
            assert item.model is not None
            path = Path(_catalog.loadable_path(_catalog.label_for(item.model)))
            assert path.is_relative_to(tmp_path / "fast-disk")
            assert path.read_bytes() == library.catalog.model_file_path(item.model.id).read_bytes()
        finally:
            _catalog._provider = previous
