"""A link under a workflow's name, when another writer (a download's auto-sync, the host's remapper) makes
the very same link between our look and our write: the name shows the file, so it is not a failure."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.links.platform import LinkMaker
from comfyui_model_library.core.links.registry import AppRegistry
from comfyui_model_library.core.mapping.comfyui import read_install
from comfyui_model_library.core.mapping.named_links import LinkStatus, link_as
from tests import synth


class RacingMaker(LinkMaker):
    """A real link maker that, just before its first link, lets "someone else" make that same link."""

    def make_link_at(self, target: Any, link: Any, **kw: Any) -> Any:
        if not os.path.lexists(link):
            os.symlink(target, link)  # the other writer wins the race
        return super().make_link_at(target, link, **kw)


def test_the_same_link_made_meanwhile_is_already_there_not_a_failure(tmp_path: Path) -> None:
    comfy = synth.comfyui_install(tmp_path / "ComfyUI", "loras")
    with Library.open(load_config(tmp_path / "lib", import_roots=(tmp_path / "in",))) as lib:
        (tmp_path / "in").mkdir()
        path = synth.write_family(tmp_path / "in" / "x.safetensors", "sdxl_lora_kohya")
        (item,) = lib.imports.import_paths([path], lookup=False)
        assert item.model is not None
        lib.mapping.apply(comfy, live=True)
        app = AppRegistry(lib.db).get(read_install(comfy).id)
        assert app is not None
        made = link_as(
            lib.db,
            Path(lib.config.root),
            app,
            item.model,
            "loras",
            "race/x_v2.safetensors",
            lib.mapping.rules(),
            maker=RacingMaker(),
        )
        assert made.status is LinkStatus.ALREADY, made
        link = Path(lib.config.root) / "views" / app.id / "loras" / "race" / "x_v2.safetensors"
        assert link.read_bytes() == path.read_bytes()
