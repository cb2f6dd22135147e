"""Category folders that are symlinks to another disk (models/loras -> /mnt/big/loras), and a library
reached through a symlink: links made there resolve, are ours, survive health and a second apply, and
are removed by remove. Link targets and destinations are computed from real folders, as the kernel does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.library import Library
from tests import synth


def _install(tmp_path: Path) -> Path:
    root = synth.comfyui_install(tmp_path / "ComfyUI", "checkpoints")
    big = tmp_path / "other-disk" / "loras"
    big.mkdir(parents=True)
    (root / "models" / "loras").symlink_to(big)  # the category folder lives on another disk
    return root


@pytest.mark.parametrize("library_via_link", [False, True])
def test_direct_links_in_a_symlinked_category_folder_work_and_are_ours(
    tmp_path: Path, library_via_link: bool
) -> None:
    comfy = _install(tmp_path)
    real_root = tmp_path / "data" / "library"
    real_root.mkdir(parents=True)
    root = real_root
    if library_via_link:  # the library itself reached through a symlinked folder
        (tmp_path / "lib-link").symlink_to(tmp_path / "data")
        root = tmp_path / "lib-link" / "library"
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    with Library.open(load_config(root, import_roots=(incoming,))) as lib:
        lib.mapping.set_config({**lib.mapping.get_config(), "mode": "direct"})
        [item] = lib.imports.import_paths([synth.write_family(incoming / "detail.safetensors", "sd15_loha")])
        assert item.model is not None
        first = lib.mapping.apply(comfy).to_dict()
        link = comfy / "models" / "loras" / "detail.safetensors"
        assert os.path.islink(link) and link.resolve() == lib.catalog.model_file_path(item.model.id).resolve()
        assert first["created"] and not first["skipped"] and not first["failed"]

        health = lib.health.check().to_dict()
        assert health["status"] == "healthy", health
        assert lib.health.repair().to_dict()["repaired"] == []  # nothing to undo
        second = lib.mapping.apply(comfy).to_dict()
        assert second["created"] == [] and second["removed"] == [] and not second["skipped"], second
        assert link.resolve() == lib.catalog.model_file_path(item.model.id).resolve()

        removed = lib.catalog.remove_model(item.model.id)
        assert removed["not_ours"] == [] and len(removed["removed_links"]) == 1
        assert not os.path.lexists(link)


def test_a_dangling_link_an_older_version_made_in_a_symlinked_folder_is_repaired(tmp_path: Path) -> None:
    comfy = _install(tmp_path)
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    with Library.open(load_config(tmp_path / "library", import_roots=(incoming,))) as lib:
        lib.mapping.set_config({**lib.mapping.get_config(), "mode": "direct"})
        [item] = lib.imports.import_paths([synth.write_family(incoming / "detail.safetensors", "sd15_loha")])
        assert item.model is not None
        lib.mapping.apply(comfy)
        link = comfy / "models" / "loras" / "detail.safetensors"
        target = lib.catalog.model_file_path(item.model.id)
        link.unlink()  # what earlier versions made: relative to the unresolved folder, so it dangles
        link.symlink_to(os.path.relpath(target, link.parent))
        assert not link.exists()
        assert [b["reason"] for b in lib.health.check().to_dict()["broken"]] == ["dangling"]
        assert lib.health.repair().to_dict()["repaired"]
        assert link.resolve() == target.resolve()
        assert lib.health.check().to_dict()["status"] == "healthy"
        again = lib.mapping.apply(comfy).to_dict()
        assert again["created"] == [] and again["removed"] == [] and not again["skipped"], again
        assert link.resolve() == target.resolve()
