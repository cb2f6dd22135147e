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
    return synth.comfyui_install(tmp_path / "ComfyUI", "loras")


@pytest.mark.parametrize("mode", ["direct", "view"])
def test_edit_name_renames_the_links_comfyui_lists(
    library: Library, incoming: Path, comfy: Path, mode: str
) -> None:
    library.mapping.set_config({**library.mapping.get_config(), "mode": mode})
    [item] = library.imports.import_paths(
        [synth.write_family(incoming / "epic_lora_v3_final.safetensors", "sd15_loha")]
    )
    assert item.model is not None
    library.mapping.apply(comfy)
    [old] = library.catalog.model_detail(item.model.id)["links"]
    assert os.path.basename(old["path"]) == "epic_lora_v3_final.safetensors"

    library.catalog.edit_model(item.model.id, name="Epic LoRA v3")
    [new] = library.catalog.model_detail(item.model.id)["links"]
    assert os.path.basename(new["path"]) == "Epic LoRA v3.safetensors"
    assert not os.path.lexists(old["path"])
    assert Path(new["path"]).resolve() == library.catalog.model_file_path(item.model.id).resolve()
    assert library.health.check().to_dict()["status"] == "healthy"
    again = library.mapping.apply(comfy).to_dict()
    assert again["created"] == [] and again["removed"] == []

    report = library.catalog.rebuild()
    assert report["models"] == 1
    assert library.catalog.get_model(item.model.id).name == "Epic LoRA v3"
    assert library.mapping.apply(comfy).to_dict()["created"] == []  # still the renamed link


def test_a_name_another_model_is_linked_under_keeps_the_model_visible(
    library: Library, incoming: Path, comfy: Path
) -> None:
    """Renaming a model to the name another model is linked under: its old link goes and it takes the
    alternative name (<name>.<id8>.<ext>); it used to vanish from ComfyUI with no word."""
    library.mapping.set_config({**library.mapping.get_config(), "mode": "direct"})
    a, b = library.imports.import_paths(
        [
            synth.write_family(incoming / "a.safetensors", "sd15_loha"),
            synth.write_family(incoming / "b.safetensors", "sdxl_lora_kohya"),
        ]
    )
    assert a.model is not None and b.model is not None
    library.mapping.apply(comfy)
    library.catalog.edit_model(a.model.id, name="detail")
    library.catalog.edit_model(b.model.id, name="detail")
    [la] = library.catalog.model_detail(a.model.id)["links"]
    [lb] = library.catalog.model_detail(b.model.id)["links"]
    assert os.path.basename(la["path"]) == "detail.safetensors"
    assert os.path.basename(lb["path"]) == f"detail.{b.model.id[:8]}.safetensors"
    assert Path(lb["path"]).resolve() == library.catalog.model_file_path(b.model.id).resolve()
    assert not (comfy / "models" / "loras" / "b.safetensors").exists()
