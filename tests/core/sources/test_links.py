"""Links inside a source, as users and tools make them: a shared folder linked in as a ComfyUI category
(Stability Matrix's shared model folder), a model file linked from another disk, a link back up the tree,
a link named like a model pointing at a private file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import Model, ModelQuery
from tests import synth

pytestmark = pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="POSIX symlinks")


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    """A model folder shared between apps, outside every source."""
    folder = tmp_path / "shared"
    synth.write_family(folder / "Lora" / "detail.safetensors", "sdxl_lora_kohya")
    synth.write_family(folder / "StableDiffusion" / "juggernaut.safetensors", "sdxl_checkpoint")
    return folder


@pytest.fixture
def models(tmp_path: Path) -> Path:
    root = tmp_path / "ComfyUI" / "models"
    synth.write_family(root / "vae" / "ae.safetensors", "vae_flux")
    return root


def _by_name(library: Library) -> dict[str, Model]:
    return {m.name: m for m in library.list_models(ModelQuery(limit=100)).items}


def _settled(library: Library) -> dict[str, Model]:
    library.sources.hash_pending()
    return _by_name(library)


def test_a_shared_folder_linked_in_as_a_category_is_catalogued(
    library: Library, models: Path, shared: Path
) -> None:
    (models / "loras").symlink_to(shared / "Lora", target_is_directory=True)
    report = library.add_source(models)["scan"]
    assert report["added"] == 2 and report["links_out"] == 1
    found = _settled(library)
    assert set(found) == {"ae", "detail"}
    detail = found["detail"]
    assert (detail.type, detail.base_model) == ("lora", "sdxl"), "its header was read"
    assert detail.hashed, "and its bytes hashed"
    [location] = library.sources.locations(detail.id)
    assert location["path"] == str(models / "loras" / "detail.safetensors"), "under the name ComfyUI uses"


def test_a_model_file_linked_from_another_disk_is_read_and_hashed(
    library: Library, models: Path, shared: Path
) -> None:
    (models / "checkpoints").mkdir()
    link = models / "checkpoints" / "jugg.safetensors"
    link.symlink_to(shared / "StableDiffusion" / "juggernaut.safetensors")
    library.add_source(models)
    jugg = _settled(library)["jugg"]
    assert (jugg.type, jugg.base_model, jugg.hashed, jugg.warnings) == ("checkpoint", "sdxl", True, ())


def test_a_link_named_like_a_model_to_a_private_file_is_never_read(
    library: Library, models: Path, tmp_path: Path
) -> None:
    """The link's name passes the walk's filter; the file behind it must not reach the catalog."""
    private = tmp_path / "home" / ".ssh" / "id_ed25519"
    private.parent.mkdir(parents=True)
    private.write_bytes((tmp_path / "ComfyUI" / "models" / "vae" / "ae.safetensors").read_bytes())
    (models / "loras").mkdir()
    (models / "loras" / "key.safetensors").symlink_to(private)
    library.add_source(models)
    key = _settled(library)["key"]
    assert not key.hashed, "the private file was hashed"
    assert key.base_model == "unknown" and "not read" in " ".join(key.warnings)


def test_a_link_back_up_the_tree_ends_and_each_file_is_listed_once(library: Library, models: Path) -> None:
    (models / "vae" / "again").symlink_to(models, target_is_directory=True)
    (models / "vae" / "loop").symlink_to(models / "vae", target_is_directory=True)
    report = library.add_source(models)["scan"]
    assert report["seen"] == 1 and set(_settled(library)) == {"ae"}


def test_a_linked_folder_that_is_another_source_is_walked_there_only(
    library: Library, models: Path, shared: Path
) -> None:
    (models / "loras").symlink_to(shared / "Lora", target_is_directory=True)
    library.add_source(shared / "Lora")
    report = library.add_source(models)["scan"]
    assert report["seen"] == 1, "the other source's files are not walked twice"
    detail = _settled(library)["detail"]
    assert [loc["path"] for loc in library.sources.locations(detail.id)] == [
        str((shared / "Lora" / "detail.safetensors").resolve())
    ]


def test_a_link_into_the_library_is_not_followed(library: Library, models: Path) -> None:
    """Our own views (direct mode puts them in the install's models folder) hold library models."""
    (models / "library_view").symlink_to(library.config.root, target_is_directory=True)
    library.add_source(models)
    assert set(_by_name(library)) == {"ae"}
