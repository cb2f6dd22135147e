"""View mode with the library reached through a symlink to a folder at another depth (``~/lib ->
/mnt/big/a/b/data``): the links in the views resolve from their folder's real path, so reading them
lexically from the spelling they were found under lands elsewhere. Health must still see an unregistered
link there (and repair register it), and a rebuild that lost the links record must find it again."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.links.registry import LinkRegistry
from tests import synth


def _setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    comfy = tmp_path / "ComfyUI"
    (comfy / "models" / "checkpoints").mkdir(parents=True)
    (comfy / "comfyui_version.py").write_text('__version__ = "0.3.64"\n')
    deep = tmp_path / "big" / "a" / "b" / "data"  # deeper than the link that reaches it
    (deep / "library").mkdir(parents=True)
    (tmp_path / "lib").symlink_to(deep)
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    return comfy, tmp_path / "lib" / "library", incoming


def _view_link(root: Path) -> Path:
    walk = os.walk(root / "views")
    [link] = [Path(d, f) for d, _, files in walk for f in files if f.endswith(".safetensors")]
    return link


def test_view_links_under_a_linked_library_survive_the_cycle_and_an_unregistered_one_is_found(
    tmp_path: Path,
) -> None:
    comfy, root, incoming = _setup(tmp_path)
    with Library.open(load_config(root, import_roots=(incoming,))) as lib:
        assert lib.mapping.get_config()["mode"] == "view"
        [item] = lib.imports.import_paths([synth.write_family(incoming / "detail.safetensors", "sd15_loha")])
        assert item.model is not None
        assert lib.mapping.apply(comfy).to_dict()["created"]
        link = _view_link(root)
        target = lib.catalog.model_file_path(item.model.id).resolve()
        assert link.resolve() == target
        assert lib.health.check().to_dict()["status"] == "healthy"
        assert lib.health.repair().to_dict()["repaired"] == []
        again = lib.mapping.apply(comfy).to_dict()
        assert again["created"] == [] and again["removed"] == [] and not again["skipped"], again

        LinkRegistry(lib.db).unregister(str(link))  # a link of ours the catalog forgot
        health = lib.health.check().to_dict()
        assert [o["path"] for o in health["orphaned"]] == [str(link)], health
        [fixed] = lib.health.repair().to_dict()["repaired"]
        assert fixed["action"] == "registered" and fixed["model_id"] == item.model.id
        assert lib.health.check().to_dict()["status"] == "healthy"

        removed = lib.catalog.remove_model(item.model.id)
        assert removed["removed_links"] == [str(link)] and removed["not_ours"] == []
        assert not os.path.lexists(link)


def test_a_rebuild_finds_the_view_links_of_a_linked_library_again(tmp_path: Path) -> None:
    comfy, root, incoming = _setup(tmp_path)
    config = load_config(root, import_roots=(incoming,))
    with Library.open(config) as lib:
        [item] = lib.imports.import_paths([synth.write_family(incoming / "detail.safetensors", "sd15_loha")])
        assert item.model is not None
        lib.mapping.apply(comfy)
        link = _view_link(root)
    shutil.rmtree(root / "records" / "links")  # the links record lost with the catalog
    for p in root.glob("catalog.sqlite*"):
        p.unlink()
    with Library.open(config) as lib:
        assert [r.link_path for r in LinkRegistry(lib.db).all()] == [str(link)]
        assert lib.health.check().to_dict()["status"] == "healthy"
        assert lib.catalog.remove_model(item.model.id)["removed_links"] == [str(link)]
        assert not os.path.lexists(link)
