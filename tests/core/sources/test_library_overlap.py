"""A source never lists the library's models a second time: one holding the library is refused, and one
registered by an older version is walked around the library."""

from __future__ import annotations

from pathlib import Path

import pytest

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.errors import InvalidInput
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import ModelQuery
from tests import synth


@pytest.fixture
def nested(tmp_path: Path) -> Library:
    """A library at <tmp>/stuff/library, with one model, beside a model of the user's in <tmp>/stuff."""
    stuff = tmp_path / "stuff"
    (stuff / "incoming").mkdir(parents=True)
    lib = Library.open(load_config(stuff / "library", import_roots=(stuff / "incoming",)))
    src = synth.write_family(tmp_path / "a.safetensors", "sd15_loha")
    lib.imports.import_paths([src], lookup=False)
    synth.write_family(stuff / "mine.safetensors", "sdxl_lora_kohya")
    return lib


def test_a_source_holding_the_library_is_refused(nested: Library, tmp_path: Path) -> None:
    with nested:
        for given in (tmp_path / "stuff", tmp_path):
            with pytest.raises(InvalidInput, match="holds the library"):
                nested.sources.add(given)
        (tmp_path / "alias").symlink_to(tmp_path / "stuff")
        with pytest.raises(InvalidInput, match="holds the library"):
            nested.sources.add(tmp_path / "alias")
        with pytest.raises(InvalidInput, match="inside the library"):
            nested.sources.add(nested.config.models_dir)
        assert nested.sources.list_sources() == []


def test_a_source_registered_around_the_library_lists_each_model_once(
    nested: Library, tmp_path: Path
) -> None:
    with nested:
        nested.sources.registry.add(
            tmp_path / "stuff", read_only=True, auto=False, app_id=None
        )  # an older version
        nested.sources.scan()
        names = sorted(m.name for m in nested.catalog.list_models(ModelQuery()).items)
        assert names == ["a", "mine"]
