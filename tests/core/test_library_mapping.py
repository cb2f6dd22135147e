"""The facade ties import, mapping, removal and health together: auto-sync, cascade delete, relocation."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.errors import LibraryRelocated
from comfyui_model_library.core.library import Library
from tests import synth


@pytest.fixture
def comfy(tmp_path: Path) -> Path:
    root = tmp_path / "ComfyUI"
    (root / "models" / "checkpoints").mkdir(parents=True)
    (root / "comfyui_version.py").write_text('__version__ = "0.3.64"\n')
    (root / "extra_model_paths.yaml").write_text("# my own settings\nother:\n    base_path: /srv/models\n")
    return root


def _view_links(lib: Library) -> list[Path]:
    return sorted(p for p in lib.config.views_dir.rglob("*") if p.is_symlink())


def test_apply_then_import_auto_syncs_and_remove_cascades(
    library: Library, incoming: Path, comfy: Path
) -> None:
    [first] = library.imports.import_paths(
        [synth.write_family(incoming / "juggernautXL.safetensors", "sdxl_checkpoint")]
    )
    report = library.mapping.apply(comfy).to_dict()
    assert len(report["created"]) == 1
    [link] = _view_links(library)
    assert link.name == "juggernautXL.safetensors" and link.parent.name == "checkpoints"
    assert link.resolve() == library.catalog.model_file_path(first.model.id)
    yaml_text = (comfy / "extra_model_paths.yaml").read_text()
    assert "# my own settings" in yaml_text and "comfyui_model_library" in yaml_text

    # A new import appears in the install at once (auto-sync), without a new apply.
    [lora] = library.imports.import_paths(
        [synth.write_family(incoming / "detail.safetensors", "sdxl_lora_kohya")]
    )
    names = {p.name for p in _view_links(library)}
    assert names == {"juggernautXL.safetensors", "detail.safetensors"}
    assert library.catalog.model_detail(lora.model.id)["links"][0]["kind"] == "symlink"

    # Remove: our link goes first, then the files to the trash.
    removed = library.catalog.remove_model(lora.model.id)
    assert len(removed["removed_links"]) == 1 and removed["not_ours"] == []
    assert {p.name for p in _view_links(library)} == {"juggernautXL.safetensors"}
    assert library.health.check().to_dict()["status"] == "healthy"


def test_remove_leaves_a_user_file_that_replaced_our_link(
    library: Library, incoming: Path, comfy: Path
) -> None:
    [item] = library.imports.import_paths([synth.write_family(incoming / "v.safetensors", "vae_sdxl")])
    library.mapping.apply(comfy)
    [link] = _view_links(library)
    link.unlink()
    link.write_bytes(b"the user's own file")
    report = library.catalog.remove_model(item.model.id)
    assert report["not_ours"] == [str(link)]
    assert link.read_bytes() == b"the user's own file"


def test_health_reports_and_repairs_a_broken_link(library: Library, incoming: Path, comfy: Path) -> None:
    [item] = library.imports.import_paths([synth.write_family(incoming / "c.safetensors", "controlnet_sd15")])
    library.mapping.apply(comfy)
    [link] = _view_links(library)
    link.unlink()  # deleted behind our back
    report = library.health.check().to_dict()
    assert report["status"] in ("warnings", "errors") and report["broken"]
    library.health.repair()
    assert library.health.check().to_dict()["status"] == "healthy"
    assert link.resolve() == library.catalog.model_file_path(item.model.id)


def test_repair_leaves_a_link_the_user_repointed(library: Library, incoming: Path, comfy: Path) -> None:
    library.imports.import_paths([synth.write_family(incoming / "c.safetensors", "controlnet_sd15")])
    library.mapping.apply(comfy)
    [link] = _view_links(library)
    link.unlink()
    link.symlink_to(incoming / "elsewhere.safetensors")  # the user's own link now
    library.health.repair()
    assert os.readlink(link) == str(incoming / "elsewhere.safetensors")


def test_moved_library_refuses_writes_until_repair(tmp_path: Path, incoming: Path) -> None:
    root = tmp_path / "library"
    with Library.open(load_config(root)) as lib:
        [item] = lib.imports.import_paths([synth.write_family(incoming / "m.safetensors", "clip_l")])
    moved = tmp_path / "elsewhere" / "library"
    moved.parent.mkdir()
    shutil.move(str(root), str(moved))
    with Library.open(load_config(moved)) as lib:
        assert lib.catalog.get_model(item.model.id).name == "m"  # reads still work
        with pytest.raises(LibraryRelocated):
            lib.catalog.edit_model(item.model.id, notes="x")
        lib.health.repair()
        lib.catalog.edit_model(item.model.id, notes="x")
        assert os.path.exists(lib.catalog.model_file_path(item.model.id))


def test_install_models_catalogued_in_place_are_not_linked_back_into_it(
    library: Library, comfy: Path, tmp_path: Path
) -> None:
    lora = synth.write_family(comfy / "models" / "loras" / "own.safetensors", "sdxl_lora_kohya")
    nas = tmp_path / "nas"
    (nas / "loras").mkdir(parents=True)
    synth.write_family(nas / "loras" / "shared.safetensors", "sd15_loha")
    library.sources.add(comfy / "models")
    library.sources.add(nas)
    library.mapping.apply(comfy)
    names = {p.name for p in _view_links(library)}
    assert "own.safetensors" not in names, "ComfyUI sees it already: a link would list it twice"
    assert "shared.safetensors" in names, "a NAS model is linked so the install sees it"
    assert lora.exists() and not lora.is_symlink()
