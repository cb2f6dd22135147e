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
    return {m.name: m for m in library.catalog.list_models(ModelQuery(limit=100)).items}


def _settled(library: Library) -> dict[str, Model]:
    library.sources.hash_pending()
    return _by_name(library)


def test_a_shared_folder_linked_in_as_a_category_is_catalogued(
    library: Library, models: Path, shared: Path
) -> None:
    (models / "loras").symlink_to(shared / "Lora", target_is_directory=True)
    report = library.sources.add(models)["scan"]
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
    library.sources.add(models)
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
    library.sources.add(models)
    key = _settled(library)["key"]
    assert not key.hashed, "the private file was hashed"
    assert key.base_model == "unknown" and "not read" in " ".join(key.warnings)


def test_a_link_back_up_the_tree_ends_and_each_file_is_listed_once(library: Library, models: Path) -> None:
    (models / "vae" / "again").symlink_to(models, target_is_directory=True)
    (models / "vae" / "loop").symlink_to(models / "vae", target_is_directory=True)
    report = library.sources.add(models)["scan"]
    assert report["seen"] == 1 and set(_settled(library)) == {"ae"}


def test_a_linked_folder_that_is_another_source_is_walked_there_only(
    library: Library, models: Path, shared: Path
) -> None:
    (models / "loras").symlink_to(shared / "Lora", target_is_directory=True)
    library.sources.add(shared / "Lora")
    report = library.sources.add(models)["scan"]
    assert report["seen"] == 1, "the other source's files are not walked twice"
    detail = _settled(library)["detail"]
    assert [loc["path"] for loc in library.sources.locations(detail.id)] == [
        str((shared / "Lora" / "detail.safetensors").resolve())
    ]


def test_a_link_into_the_library_is_not_followed(library: Library, models: Path, tmp_path: Path) -> None:
    """Our own views (direct mode puts them in the install's models folder) hold library models."""
    synth.write_family(tmp_path / "incoming" / "owned.safetensors", "sd15_loha")
    [item] = library.imports.import_paths([tmp_path / "incoming" / "owned.safetensors"])
    assert item.status == "imported"
    (models / "library_view").symlink_to(library.config.root, target_is_directory=True)
    report = library.sources.add(models)["scan"]
    assert report["seen"] == 1, "the library's own files were walked as a source's"


def test_a_linked_folder_holding_the_library_is_walked_around_it(tmp_path: Path, models: Path) -> None:
    """A shared folder linked in that also holds the library: its models are listed, the library's not."""
    from comfyui_model_library.core.config import load_config

    shared = tmp_path / "shared"
    synth.write_family(shared / "Lora" / "detail.safetensors", "sdxl_lora_kohya")
    synth.write_family(tmp_path / "incoming" / "owned.safetensors", "sd15_loha")
    with Library.open(load_config(shared / "library", import_roots=(tmp_path / "incoming",))) as library:
        [item] = library.imports.import_paths([tmp_path / "incoming" / "owned.safetensors"])
        assert item.status == "imported"
        (models / "loras").symlink_to(shared, target_is_directory=True)
        report = library.sources.add(models)["scan"]
        assert report["seen"] == 2, "walked into the library through the link"
        assert {
            loc["path"] for m in _by_name(library).values() for loc in library.sources.locations(m.id)
        } == {
            str(models / "vae" / "ae.safetensors"),
            str(models / "loras" / "Lora" / "detail.safetensors"),
        }


def test_links_to_the_folders_above_the_source_the_disk_or_home_are_not_walked(
    library: Library, models: Path, tmp_path: Path
) -> None:
    synth.write_family(tmp_path / "stray.safetensors", "sd15_loha")  # in a folder above the source
    (models / "up").symlink_to(tmp_path, target_is_directory=True)
    (models / "disk").symlink_to("/", target_is_directory=True)
    (models / "home").symlink_to(Path.home(), target_is_directory=True)
    report = library.sources.add(models)["scan"]
    assert report["seen"] == 1 and report["links_out"] == 0


def test_files_hashing_cannot_read_do_not_stop_the_hashing_of_the_rest(
    library: Library, models: Path, tmp_path: Path
) -> None:
    private = tmp_path / "private" / "notes"
    private.parent.mkdir()
    private.write_bytes(b"not a model")
    (models / "aaa").mkdir()
    for i in range(60):  # more than a batch of unreadable files, all listed before the real model
        (models / "aaa" / f"k{i:02d}.safetensors").symlink_to(private)
    library.sources.add(models)
    synth.write_family(models / "zzz" / "late.safetensors", "sd15_loha")
    library.sources.scan()
    assert library.sources.hash_pending() == 2, "the readable files around them were not all hashed"
    assert _by_name(library)["late"].hashed and _by_name(library)["ae"].hashed


def test_a_link_between_folders_of_one_source_keeps_the_real_names(library: Library, models: Path) -> None:
    """ComfyUI's ``unet`` linked to ``diffusion_models``: one model, listed under its real folder."""
    synth.write_family(models / "diffusion_models" / "flux.safetensors", "sd15_loha")
    (models / "unet").symlink_to(models / "diffusion_models", target_is_directory=True)
    report = library.sources.add(models)["scan"]
    assert report["seen"] == 2 and report["links_out"] == 0
    flux = _by_name(library)["flux"]
    assert [loc["path"] for loc in library.sources.locations(flux.id)] == [
        str(models / "diffusion_models" / "flux.safetensors")
    ]


def test_links_to_a_source_model_follow_it_when_hashing_gives_it_its_id(
    library_config: object, tmp_path: Path
) -> None:
    """A source model is mapped into ComfyUI before it is hashed (under its provisional id); hashing then
    re-keys it. Its links follow in the catalog AND in the link records (kept in shards by model id), so
    a lost catalog brings the links back for the right model (they came back under the provisional id,
    pointing at no model)."""
    from comfyui_model_library.core.config import LibraryConfig
    from comfyui_model_library.core.records.files import records_dir

    assert isinstance(library_config, LibraryConfig)
    nas = tmp_path / "nas"
    synth.write_family(nas / "loras" / "detail.safetensors", "sdxl_lora_kohya")
    comfy = synth.comfyui_install(tmp_path / "ComfyUI", "loras")
    with Library.open(library_config) as lib:
        lib.sources.add(nas)
        provisional = _by_name(lib)["detail"].id
        lib.mapping.apply(comfy)
        [link] = lib.catalog.model_detail(provisional)["links"]
        final = _settled(lib)["detail"].id
        assert final != provisional
        assert lib.catalog.model_detail(final)["links"] == [link]
        shards = [p.read_text() for p in (records_dir(lib.db.path) / "links").rglob("*.json")]
        assert any(final in text for text in shards) and not any(provisional in text for text in shards)

    for p in library_config.root.glob("catalog.sqlite*"):
        p.unlink()
    with Library.open(library_config) as lib:  # rebuilt from metadata and records/
        lib.sources.hash_pending()
        assert lib.catalog.model_detail(final)["links"] == [link]


@pytest.mark.parametrize("mode", ["direct", "view"])
def test_another_librarys_links_in_an_install_are_not_catalogued_as_models(tmp_path: Path, mode: str) -> None:
    """Two libraries map one install: each must see its own models there, never the other's links
    (they were catalogued as models in place: every model twice, under two libraries)."""
    from comfyui_model_library.core.config import load_config

    comfy = synth.comfyui_install(tmp_path / "ComfyUI", "loras", "checkpoints")
    synth.write_family(comfy / "models" / "loras" / "users-own.safetensors", "sd15_lora_kohya")
    other_config = load_config(tmp_path / "other-library")
    with Library.open(other_config) as other:
        other.mapping.set_config({**other.mapping.get_config(), "mode": mode})
        other.imports.import_paths([synth.write_family(tmp_path / "theirs.safetensors", "sdxl_lora_kohya")])
        other.mapping.apply(comfy)
    if mode == "direct":
        assert (comfy / "models" / "loras" / "theirs.safetensors").is_symlink()
        source = comfy / "models"
    else:  # the other library's view folder, as ComfyUI reads it from extra_model_paths.yaml
        [source] = [p for p in (other_config.root / "views").iterdir() if p.is_dir()]
    with Library.open(load_config(tmp_path / "my-library")) as mine:
        mine.sources.add(source)
        names = set(_by_name(mine))
    assert "theirs" not in names, "the other library's link was catalogued as a model of this one"
    if mode == "direct":
        assert names == {"users-own"}
