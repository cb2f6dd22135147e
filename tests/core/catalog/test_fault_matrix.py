"""The fault matrix: the catalog deleted, emptied or corrupted between any two commands of a realistic
session loses nothing. The end state (models with their edits, sources, the links in the ComfyUI install,
health) equals the same session's without damage."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import ModelQuery
from tests import synth


def _session(tmp_path: Path) -> list[tuple[str, Callable[[Library], object]]]:
    incoming = tmp_path / "incoming"
    nas = tmp_path / "nas"
    comfy = synth.comfyui_install(tmp_path / "ComfyUI", "loras")
    synth.write_family(incoming / "epic.safetensors", "sd15_loha")
    synth.write_family(incoming / "detail.safetensors", "sdxl_lora_kohya")
    synth.write_family(nas / "shared.safetensors", "flux_lora_kohya")

    def id_of(lib: Library, name: str) -> str:
        return next(m.id for m in lib.catalog.list_models(ModelQuery(q=name)).items if m.name == name)

    return [
        ("import", lambda lib: lib.imports.import_paths([incoming / "epic.safetensors"], lookup=False)),
        ("source", lambda lib: lib.sources.add(nas)),
        ("map", lambda lib: lib.mapping.apply(comfy)),
        (
            "edit",
            lambda lib: lib.catalog.edit_model(id_of(lib, "epic"), notes="my favourite", add_tags=["style"]),
        ),
        ("import2", lambda lib: lib.imports.import_paths([incoming / "detail.safetensors"], lookup=False)),
        ("remove", lambda lib: lib.catalog.remove_model(id_of(lib, "detail"))),
    ]


def _damage(catalog: Path, how: str) -> None:
    for suffix in ("-wal", "-shm"):
        Path(str(catalog) + suffix).unlink(missing_ok=True)
    if how == "deleted":
        catalog.unlink()
    elif how == "zeroed":
        catalog.write_bytes(b"")
    else:
        catalog.write_bytes(os.urandom(32 * 1024))


def _state(tmp_path: Path, lib: Library) -> dict[str, object]:
    models = sorted(
        (m.name, m.location, m.notes, tuple(m.tags))
        for m in lib.catalog.list_models(ModelQuery(limit=50)).items
    )
    links = (
        sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "ComfyUI").rglob("*") if os.path.islink(p))
        + sorted(  # views/<install id>/...: the id comes from the install's path, another in each run
            "/".join(p.relative_to(lib.config.views_dir).parts[1:])
            for p in lib.config.views_dir.rglob("*")
            if os.path.islink(p)
        )
    )
    return {
        "models": models,
        "sources": [str(Path(s["path"]).relative_to(tmp_path)) for s in lib.sources.list_sources()],
        "links": links,
        "health": lib.health.check().to_dict()["status"],
    }


def _run(tmp_path: Path, damage: tuple[int, str] | None) -> dict[str, object]:
    steps = _session(tmp_path)
    config = load_config(tmp_path / "library", import_roots=(tmp_path / "incoming",))
    for i, (_name, step) in enumerate(steps):
        if damage is not None and damage[0] == i:
            _damage(config.catalog_path, damage[1])
        with Library.open(config) as lib:  # each command is its own process's open, as on the CLI
            step(lib)
    with Library.open(config) as lib:
        return _state(tmp_path, lib)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return _run(tmp_path_factory.mktemp("reference"), None)


@pytest.mark.parametrize("how", ["deleted", "zeroed", "garbage"])
@pytest.mark.parametrize("before", range(1, 6), ids=["source", "map", "edit", "import2", "remove"])
def test_damage_between_two_commands_loses_nothing(
    tmp_path: Path, reference: dict[str, object], before: int, how: str
) -> None:
    assert _run(tmp_path, (before, how)) == reference
