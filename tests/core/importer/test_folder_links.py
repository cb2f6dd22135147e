"""A folder import reads only what is in the folder, and a library copy is never more readable than its
source. The sources' rule (importer/plan.readable_link_target) decides which links are read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from comfyui_model_library.core.library import Library
from tests import synth

SECRET = b"-----BEGIN OPENSSH PRIVATE KEY----- not a model, never to be copied"


@pytest.fixture
def secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    key = home / ".ssh" / "id_ed25519"
    key.write_bytes(SECRET)
    key.chmod(0o600)
    shadow = tmp_path / "etc" / "shadow"
    shadow.parent.mkdir()
    shadow.write_bytes(SECRET + b" shadow")
    monkeypatch.setenv("HOME", str(home))
    return {"key": key, "shadow": shadow}


def _library_bytes(library: Library) -> list[bytes]:
    return [p.read_bytes() for p in library.config.root.rglob("*") if p.is_file() and not p.is_symlink()]


def test_a_folder_import_never_follows_a_model_named_link_to_a_secret(
    library: Library, tmp_path: Path, secrets: dict[str, Path]
) -> None:
    folder = tmp_path / "downloads"
    folder.mkdir()
    synth.write_family(folder / "real.safetensors", "sd15_loha")
    (folder / "model.safetensors").symlink_to(secrets["key"])
    (folder / "shadow.ckpt").symlink_to(secrets["shadow"])
    items = library.imports.import_paths([folder], lookup=False)  # the CLI: no import roots to confine to
    imported = [i for i in items if i.status == "imported"]
    refused = sorted(i.source_path for i in items if i.status == "failed")
    assert [i.model.name for i in imported if i.model] == ["real"]
    assert refused == [str(folder / "model.safetensors"), str(folder / "shadow.ckpt")]
    assert all("not named like a model" in (i.error or "") for i in items if i.status == "failed")
    assert not any(SECRET in data for data in _library_bytes(library))


def test_a_link_named_on_the_command_line_is_read_only_if_its_target_is_a_model(
    library: Library, tmp_path: Path, secrets: dict[str, Path]
) -> None:
    elsewhere = tmp_path / "other-disk"
    elsewhere.mkdir()
    model = synth.write_family(elsewhere / "flux.safetensors", "flux_lora_kohya")
    (tmp_path / "a.safetensors").symlink_to(secrets["key"])
    (tmp_path / "b.safetensors").symlink_to(model)
    bad, good = library.imports.import_paths(
        [tmp_path / "a.safetensors", tmp_path / "b.safetensors"], lookup=False
    )
    assert bad.status == "failed" and "not named like a model" in (bad.error or "")
    assert good.status == "imported"
    assert not any(SECRET in data for data in _library_bytes(library))


def test_links_to_model_files_and_to_the_hub_cache_blobs_are_followed(
    library: Library, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "other-disk"
    elsewhere.mkdir()
    folder = tmp_path / "loras"
    folder.mkdir()
    (folder / "linked.safetensors").symlink_to(synth.write_family(elsewhere / "x.safetensors", "sd15_loha"))
    repo = tmp_path / "hub" / "models--org--name"
    blob = synth.write_family(repo / "blobs" / "0123abcdef", "sdxl_lora_kohya")
    snapshot = repo / "snapshots" / "deadbeef"
    snapshot.mkdir(parents=True)
    (snapshot / "lora.safetensors").symlink_to(os.path.relpath(blob, snapshot))
    items = library.imports.import_paths([folder, snapshot], lookup=False)
    assert sorted(i.model.name for i in items if i.model) == ["linked", "lora"], [i.error for i in items]


def test_a_diffusers_folder_holding_a_link_to_a_secret_is_not_imported(
    library: Library, tmp_path: Path, secrets: dict[str, Path]
) -> None:
    folder = synth.write_diffusers_folder(tmp_path / "pipe", "StableDiffusionPipeline")
    (folder / "tokenizer").mkdir(exist_ok=True)
    (folder / "tokenizer" / "vocab.json").symlink_to(secrets["key"])
    [item] = library.imports.import_paths([tmp_path], lookup=False)
    assert item.status == "failed" and "not named like a model" in (item.error or "")
    assert not any(SECRET in data for data in _library_bytes(library))


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
@pytest.mark.parametrize(
    ("source_mode", "expected"), [(0o600, 0o600), (0o640, 0o640), (0o644, 0o644), (0o400, 0o600)]
)
def test_a_library_copy_is_never_more_readable_than_its_source(
    library: Library, incoming: Path, source_mode: int, expected: int
) -> None:
    old = os.umask(0o022)
    try:
        src = synth.write_family(incoming / f"m{source_mode:o}.safetensors", "sd15_loha")
        src.chmod(source_mode)
        [item] = library.imports.import_paths([src], lookup=False)
    finally:
        os.umask(old)
    assert item.model is not None
    assert library.catalog.model_file_path(item.model.id).stat().st_mode & 0o777 == expected


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_folder_plans_its_regular_files_and_links_to_files_only(tmp_path: Path) -> None:
    """A FIFO or a link to a folder named like a model is not a model: the folder's listing tells the
    kinds (no stat a file), and only regular files and links to files are planned."""
    from comfyui_model_library.core.importer.plan import plan_paths

    folder = tmp_path / "loras"
    folder.mkdir()
    (folder / "real.safetensors").write_bytes(b"planning reads no content")
    os.mkfifo(folder / "pipe.safetensors")
    (tmp_path / "dir.safetensors").mkdir()
    os.symlink(tmp_path / "dir.safetensors", folder / "to-dir.safetensors")
    os.symlink(folder / "real.safetensors", folder / "to-real.safetensors")
    planned, failures = plan_paths([folder])
    assert sorted(p.files[0].name for p in planned) == ["real.safetensors", "to-real.safetensors"]
    assert failures == []
