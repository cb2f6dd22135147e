"""The import pipeline end to end on real files: copy, move, de-dup, formats, sets, folders, confinement."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import blake3
import pytest

from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import ModelQuery
from tests import synth


def _digests(path: Path) -> tuple[str, str]:
    data = path.read_bytes()
    return blake3.blake3(data).hexdigest(), hashlib.sha256(data).hexdigest()


def _library_files(lib: Library) -> list[Path]:
    return sorted(p for p in lib.config.models_dir.rglob("*") if p.is_file())


def _stages(lib: Library) -> list[Path]:
    return sorted(lib.config.tmp_dir.glob("stage-*"))


def test_copy_import_single_file(library: Library, incoming: Path) -> None:
    src = synth.write_family(incoming / "juggernautXL_v9.safetensors", "sdxl_checkpoint")
    before = src.read_bytes()
    [item] = library.imports.import_paths([src])
    assert item.status == "imported", item.error
    model = item.model
    assert model is not None
    assert (model.type, model.base_model) == ("checkpoint", "sdxl")
    assert model.format == "single-file" and model.file_format == "safetensors" and model.security == "safe"
    b3, sha = _digests(src)
    assert (model.hashes.blake3, model.hashes.sha256) == (b3, sha)
    assert model.id == b3[:16]
    stored = library.catalog.model_file_path(model.id)
    assert stored.name == "juggernautXL_v9.safetensors"
    assert stored.read_bytes() == before
    assert (
        stored.parent.relative_to(library.config.root).as_posix() == "models/checkpoint/sdxl/juggernautXL_v9"
    )
    assert (stored.parent / "metadata.json").is_file()
    assert src.read_bytes() == before, "copy mode leaves the source alone"
    assert _stages(library) == []
    assert library.catalog.get_model(f"sha256:{sha}").id == model.id


def test_second_import_is_duplicate_and_records_origin(
    library: Library, incoming: Path, tmp_path: Path
) -> None:
    src = synth.write_family(incoming / "a.safetensors", "sd15_lora_kohya")
    other_dir = incoming / "elsewhere"
    other_dir.mkdir()
    copy = other_dir / "renamed.safetensors"
    copy.write_bytes(src.read_bytes())
    [first] = library.imports.import_paths([src])
    [second] = library.imports.import_paths([copy])
    assert first.status == "imported" and second.status == "duplicate"
    assert first.model is not None and second.model is not None
    assert second.model.id == first.model.id
    assert library.catalog.list_models(ModelQuery()).total == 1
    origins = {o["path"] for o in library.catalog.model_detail(first.model.id)["imported_from"]}
    assert origins == {str(src), str(copy)}
    assert len(_library_files(library)) == 2  # the file + metadata.json, once


def test_move_import_same_filesystem(library: Library, incoming: Path) -> None:
    src = synth.write_family(incoming / "flux-dev.safetensors", "flux1_dev_diffusion")
    data = src.read_bytes()
    [item] = library.imports.import_paths([src], move=True)
    assert item.status == "imported", item.error
    assert not src.exists()
    assert item.model is not None
    assert library.catalog.model_file_path(item.model.id).read_bytes() == data
    assert (item.model.type, item.model.base_model) == ("diffusion_model", "flux1")
    assert _stages(library) == []
    assert not list(library.config.tmp_dir.rglob("*.move.json"))


@pytest.mark.parametrize("kind", synth.HOSTILE_KINDS)
def test_hostile_safetensors_rejected_and_nothing_stored(library: Library, incoming: Path, kind: str) -> None:
    src = incoming / f"hostile-{kind}.safetensors"
    src.write_bytes(synth.hostile_safetensors(kind))
    before = src.read_bytes()
    [item] = library.imports.import_paths([src])
    if item.status == "imported":
        # A ".safetensors" that is really a pickle imports as a pickle, flagged, never as safetensors.
        assert item.model is not None and item.model.security == "pickle", kind
        return
    assert item.status == "failed"
    assert item.error and item.error_code == "invalid_model_file"
    assert _library_files(library) == []
    assert _stages(library) == []
    assert src.read_bytes() == before


def test_pickle_flagged_and_needs_confirmation_when_asked(library: Library, incoming: Path) -> None:
    marker = incoming / "pwned"
    src = synth.write_malicious_ckpt(incoming / "model.ckpt", marker)
    [refused] = library.imports.import_paths([src], allow_pickle=False)
    assert refused.status == "failed" and refused.error_code == "pickle_needs_confirmation"
    assert src.exists() and _library_files(library) == []
    [item] = library.imports.import_paths([src])
    assert item.status == "imported" and item.model is not None
    assert item.model.security == "pickle" and item.model.file_format in ("zip-pickle", "pickle")
    assert any("pickle" in w for w in item.warnings)
    assert not marker.exists(), "nothing is ever unpickled"


def test_move_refused_for_pickle_keeps_source(library: Library, incoming: Path) -> None:
    src = synth.write_pickle_ckpt(incoming / "old.ckpt")
    data = src.read_bytes()
    [item] = library.imports.import_paths([src], move=True, allow_pickle=False)
    assert item.status == "failed"
    assert src.read_bytes() == data, "a refused move puts the source back"


def test_sharded_set_is_one_model(library: Library, incoming: Path) -> None:
    folder = incoming / "t5"
    synth.write_sharded_set(folder, stem="model", n=3, style="hf")
    [item] = library.imports.import_paths([folder])
    assert item.status == "imported", item.error
    assert item.model is not None and item.model.format == "sharded-set"
    names = sorted(f.path for f in item.model.files)
    assert "model-00001-of-00003.safetensors" in names and "model-00003-of-00003.safetensors" in names
    assert not item.warnings


def test_incomplete_sharded_set_warns(library: Library, incoming: Path) -> None:
    folder = incoming / "partial"
    synth.write_sharded_set(folder, stem="model", n=3, style="hf")
    (folder / "model-00002-of-00003.safetensors").unlink()
    [item] = library.imports.import_paths([folder / "model-00001-of-00003.safetensors"])
    assert item.status == "imported"
    assert any("incomplete" in w for w in item.warnings)


def test_diffusers_folder_is_one_model(library: Library, incoming: Path) -> None:
    folder = synth.write_diffusers_folder(incoming / "sdxl-base", "StableDiffusionXLPipeline")
    [item] = library.imports.import_paths([folder])
    assert item.status == "imported", item.error
    assert item.model is not None
    assert item.model.format == "diffusion-folder" and item.model.file_format == "diffusers"
    assert item.model.base_model == "sdxl"
    assert any(f.path == "model_index.json" for f in item.model.files)
    assert library.catalog.model_file_path(item.model.id).is_dir()


def test_folder_walk_imports_each_model_and_skips_other_files(library: Library, incoming: Path) -> None:
    folder = incoming / "mixed"
    (folder / "sub").mkdir(parents=True)
    synth.write_family(folder / "vae.safetensors", "vae_sdxl")
    synth.write_family(folder / "sub" / "lora.safetensors", "sdxl_lora_kohya")
    (folder / "readme.txt").write_text("not a model")
    (folder / "preview.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    items = library.imports.import_paths([folder])
    assert sorted(i.status for i in items) == ["imported", "imported"]
    types = sorted(i.model.type for i in items if i.model)
    assert types == ["lora", "vae"]


def test_same_name_different_content_gets_distinct_folders(library: Library, incoming: Path) -> None:
    (incoming / "a").mkdir()
    (incoming / "b").mkdir()
    one = synth.write_family(incoming / "a" / "model.safetensors", "sd15_lora_kohya")
    two = synth.write_family(incoming / "b" / "model.safetensors", "sd15_loha")
    items = library.imports.import_paths([one, two])
    dirs = sorted(library.catalog.model_file_path(i.model.id).parent.name for i in items if i.model)
    assert len(set(dirs)) == 2


def test_confined_import_refuses_paths_outside_roots(
    library: Library, incoming: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "secret"
    outside.mkdir()
    secret = synth.write_family(outside / "x.safetensors", "vae_sd15")
    link = incoming / "link.safetensors"
    link.symlink_to(secret)
    for path in (secret, link, incoming / ".." / "secret" / "x.safetensors", Path("/etc/passwd")):
        [item] = library.imports.import_paths([path], confine=True)
        assert item.status == "failed" and item.error_code == "unsafe_path", (path, item)
    assert _library_files(library) == []


def test_symlink_source_refused_for_move(library: Library, incoming: Path) -> None:
    real = synth.write_family(incoming / "real.safetensors", "vae_sd15")
    link = incoming / "alias.safetensors"
    link.symlink_to(real)
    [item] = library.imports.import_paths([link], move=True)
    assert item.status == "failed" and item.error_code == "unsafe_path"
    assert real.exists() and link.is_symlink()


def test_missing_path_and_junk_report_clear_errors(library: Library, incoming: Path) -> None:
    junk = incoming / "notes.safetensors"
    junk.write_bytes(b"hello, I am not a model at all" * 10)
    items = library.imports.import_paths([incoming / "nope.safetensors", junk])
    assert [i.status for i in items] == ["failed", "failed"]
    assert all(i.error for i in items)


def test_rebuild_after_catalog_deleted_keeps_ids_and_manual_edits(library_config, incoming: Path) -> None:
    src = synth.write_family(incoming / "m.safetensors", "sdxl_lora_kohya")
    with Library.open(library_config) as lib:
        [item] = lib.imports.import_paths([src])
        assert item.model is not None
        model_id = item.model.id
        lib.catalog.edit_model(model_id, name="My LoRA", add_tags=["style"])
    for suffix in ("", "-wal", "-shm"):
        Path(str(library_config.catalog_path) + suffix).unlink(missing_ok=True)
    with Library.open(library_config) as lib:
        model = lib.catalog.get_model(model_id)
        assert model.name == "My LoRA" and model.tags == ("style",)
        assert {"name", "tags"} <= set(model.manual_fields)


def test_corrupt_catalog_is_set_aside_never_overwritten(library_config, incoming: Path) -> None:
    src = synth.write_family(incoming / "m.safetensors", "vae_sdxl")
    with Library.open(library_config) as lib:
        [item] = lib.imports.import_paths([src])
    for suffix in ("-wal", "-shm"):
        Path(str(library_config.catalog_path) + suffix).unlink(missing_ok=True)
    junk = b"this is not a database" * 1000
    library_config.catalog_path.write_bytes(junk)
    with Library.open(library_config) as lib:  # open repairs it by itself, keeping the damaged file
        assert item.model is not None and lib.catalog.get_model(item.model.id)
        assert "damaged" in lib.recovered[0]
    [kept] = library_config.root.glob("catalog.sqlite.corrupt-*")
    assert kept.read_bytes() == junk
    library_config.catalog_path.write_bytes(junk)
    lib, report = Library.rebuild_at(library_config)
    with lib:
        assert report["models"] == 1
        assert Path(report["set_aside"]).read_bytes() == junk
        assert item.model is not None and lib.catalog.get_model(item.model.id)


def test_edit_marks_manual_and_updates_sidecar(library: Library, incoming: Path) -> None:
    src = synth.write_family(incoming / "m.safetensors", "clip_l")
    [item] = library.imports.import_paths([src])
    assert item.model is not None
    edited = library.catalog.edit_model(item.model.id, notes="from a friend", base_model="sd15")
    assert edited.notes == "from a friend" and "notes" in edited.manual_fields
    sidecar = json.loads((library.catalog.model_file_path(edited.id).parent / "metadata.json").read_text())
    assert sidecar["notes"] == "from a friend"
    assert "base_model" in sidecar["manual_fields"]


def test_remove_moves_files_to_trash(library: Library, incoming: Path) -> None:
    src = synth.write_family(incoming / "m.safetensors", "esrgan_new")
    [item] = library.imports.import_paths([src])
    assert item.model is not None
    folder = library.catalog.model_file_path(item.model.id).parent
    report = library.catalog.remove_model(item.model.id)
    assert not folder.exists()
    assert report["trashed"] and Path(report["trashed"]).is_dir()
    assert library.catalog.list_models(ModelQuery()).total == 0
    assert os.path.commonpath([report["trashed"], str(library.config.trash_dir)]) == str(
        library.config.trash_dir
    )


def test_hardlink_import_leaves_source_and_shares_inode(library: Library, incoming: Path) -> None:
    src = synth.write_family(incoming / "keep-me.safetensors", "sdxl_lora_kohya")
    data = src.read_bytes()
    [item] = library.importer.run([src], hardlink=True)
    assert item.status == "imported" and item.model is not None
    stored = library.catalog.model_file_path(item.model.id)
    assert src.read_bytes() == data
    assert os.stat(stored).st_ino == os.stat(src).st_ino, "O(1): a second name for the same bytes"
    assert item.model.hashes.sha256 == hashlib.sha256(data).hexdigest()


def test_a_duplicates_file_name_finds_the_model(library: Library, incoming: Path) -> None:
    first = synth.write_family(incoming / "copy-of-jugg.safetensors", "sdxl_checkpoint")
    (incoming / "b").mkdir()
    second = incoming / "b" / "juggernautXL_v9.safetensors"
    second.write_bytes(first.read_bytes())
    [one] = library.imports.import_paths([first])
    [two] = library.imports.import_paths([second])
    assert two.status == "duplicate" and one.model is not None
    found = library.catalog.list_models(ModelQuery(q="juggernautXL_v9"))
    assert [m.id for m in found.items] == [one.model.id]
    assert library.catalog.list_models(ModelQuery(q="juggernautxl")).total == 1  # type-ahead on the alias too
    # ...and it survives a rebuild from the metadata.json files.
    library.catalog.rebuild()
    assert library.catalog.list_models(ModelQuery(q="juggernautXL_v9")).total == 1


def test_an_import_gives_the_hashing_buffers_back_when_it_ends(library: Library, incoming: Path) -> None:
    from comfyui_model_library.core.io import hashing

    tensors = dict(synth.FAMILIES["sdxl_lora_kohya"]["tensors"])
    tensors["zz_padding"] = ("U8", (hashing.SMALL_FILE * 2,))  # read through the buffers
    [item] = library.imports.import_paths([synth.write_safetensors(incoming / "big.safetensors", tensors)])
    assert item.status == "imported", item.error
    assert hashing.kept_buffer_bytes() == 0
