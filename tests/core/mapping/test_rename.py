"""Renaming a model (edit --name) renames what ComfyUI sees: its links take the new name, the old ones
(ours) go, metadata.json carries the name, and a rebuild keeps it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from comfyui_model_library.core.library import Library
from tests import synth


@pytest.fixture
def comfy(tmp_path: Path) -> Path:
    root = tmp_path / "ComfyUI"
    (root / "models" / "loras").mkdir(parents=True)
    (root / "comfyui_version.py").write_text('__version__ = "0.3.64"\n')
    return root


@pytest.mark.parametrize("mode", ["direct", "view"])
def test_edit_name_renames_the_links_comfyui_lists(
    library: Library, incoming: Path, comfy: Path, mode: str
) -> None:
    library.set_mapping_config({**library.mapping_config(), "mode": mode})
    [item] = library.import_paths(
        [synth.write_family(incoming / "epic_lora_v3_final.safetensors", "sd15_loha")]
    )
    assert item.model is not None
    library.map_apply(comfy)
    [old] = library.model_detail(item.model.id)["links"]
    assert os.path.basename(old["path"]) == "epic_lora_v3_final.safetensors"

    library.edit_model(item.model.id, name="Epic LoRA v3")
    [new] = library.model_detail(item.model.id)["links"]
    assert os.path.basename(new["path"]) == "Epic LoRA v3.safetensors"
    assert not os.path.lexists(old["path"])
    assert Path(new["path"]).resolve() == library.model_file_path(item.model.id).resolve()
    assert library.health().to_dict()["status"] == "healthy"
    again = library.map_apply(comfy).to_dict()
    assert again["created"] == [] and again["removed"] == []

    report = library.rebuild()
    assert report["models"] == 1
    assert library.get_model(item.model.id).name == "Epic LoRA v3"
    assert library.map_apply(comfy).to_dict()["created"] == []  # still the renamed link
