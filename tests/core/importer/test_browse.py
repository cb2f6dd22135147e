"""Browsing the import roots for the panel's picker: real folders, symlinks out, hidden files, limits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from comfyui_model_library.core.errors import InvalidInput, UnsafePath
from comfyui_model_library.core.importer import browse as browsing
from comfyui_model_library.core.importer.browse import browse


@pytest.fixture
def roots(tmp_path: Path) -> list[Path]:
    downloads = tmp_path / "Downloads"
    (downloads / "sdxl" / "loras").mkdir(parents=True)
    (downloads / "sdxl" / "juggernaut.safetensors").write_bytes(b"x" * 10)
    (downloads / "notes.txt").write_text("not a model")
    (downloads / ".hidden.safetensors").write_bytes(b"x")
    (downloads / "model.gguf").write_bytes(b"y" * 3)
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "private.safetensors").write_bytes(b"z")
    os.symlink(secret, downloads / "shortcut")
    return [downloads, tmp_path / "not-there"]


def test_the_roots_then_a_folder_with_its_folders_and_model_files(roots: list[Path]) -> None:
    top = browse(roots).to_dict()
    assert top["path"] is None and [e["path"] for e in top["entries"]] == [str(roots[0])]
    inside = browse(roots, str(roots[0])).to_dict()
    assert [(e["name"], e["kind"]) for e in inside["entries"]] == [
        ("model.gguf", "model"),
        ("sdxl", "folder"),
        ("shortcut", "folder"),  # listed; stepping in is refused below
    ]
    assert inside["parent"] is None  # a root has no parent to go to
    sub = browse(roots, str(roots[0] / "sdxl")).to_dict()
    assert sub["parent"] == str(roots[0])
    assert [(e["name"], e.get("size")) for e in sub["entries"]] == [
        ("juggernaut.safetensors", 10),
        ("loras", None),
    ]


@pytest.mark.parametrize("where", ["/etc", "{root}/shortcut", "{root}/../secret", "{root}/sdxl/../../secret"])
def test_nothing_outside_the_roots_is_listed(roots: list[Path], where: str) -> None:
    with pytest.raises(UnsafePath, match="outside the folders"):
        browse(roots, where.format(root=roots[0]))


def test_a_file_or_a_missing_path_is_a_clear_error(roots: list[Path]) -> None:
    with pytest.raises(InvalidInput, match="not a folder"):
        browse(roots, str(roots[0] / "model.gguf"))
    with pytest.raises(InvalidInput, match="does not exist"):
        browse(roots, str(roots[0] / "gone"))


def test_a_huge_folder_is_cut_and_says_so(roots: list[Path]) -> None:
    crowd = roots[0] / "crowd"
    crowd.mkdir()
    for i in range(browsing.MAX_ENTRIES + 5):
        (crowd / f"m{i:05}.safetensors").touch()
    listing = browse(roots, str(crowd))
    assert len(listing.entries) == browsing.MAX_ENTRIES and listing.truncated
    assert not browse(roots, str(roots[0])).truncated


def test_import_roots_that_follow_a_setting_apply_without_reopening(tmp_path: Path) -> None:
    from comfyui_model_library.core.config import load_config
    from comfyui_model_library.core.library import Library
    from tests import synth

    later = tmp_path / "added-later"
    later.mkdir()
    model = synth.write_family(later / "late.safetensors", "sdxl_lora_kohya")
    setting: list[Path] = []
    with Library.open(load_config(tmp_path / "lib")) as lib:
        lib.imports.follow_import_roots(lambda: list(setting))
        (refused,) = lib.imports.import_paths([model], confine=True, lookup=False)
        assert refused.status == "failed" and "outside" in (refused.error or ""), refused
        setting.append(later)  # the user adds the folder in the settings
        assert later in lib.imports.import_roots()
        entries = lib.imports.browse(str(later)).to_dict()["entries"]
        assert [e["name"] for e in entries] == ["late.safetensors"]
        (item,) = lib.imports.import_paths([model], confine=True, lookup=False)
        assert item.status == "imported", item
        setting.clear()  # and takes it away again
        assert later not in lib.imports.import_roots()
