"""The importer resolves each folder once per run: the same answer as os.path.realpath for every file."""

from __future__ import annotations

import os
from pathlib import Path

from comfyui_model_library.core.importer.pipeline import real_path


def test_the_same_as_realpath_through_linked_folders_and_linked_files(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    (real / "sub" / "a.safetensors").write_bytes(b"a")
    (tmp_path / "linked").symlink_to(real)
    (real / "sub" / "b.safetensors").symlink_to(tmp_path / "elsewhere.bin")
    paths = [
        tmp_path / "linked" / "sub" / "a.safetensors",
        real / "sub" / "a.safetensors",
        tmp_path / "linked" / "sub" / "b.safetensors",  # a link: resolved alone
        tmp_path / "linked" / "sub" / "missing.safetensors",
        tmp_path / "linked" / "sub" / "..",
    ]
    folders: dict[Path, str] = {}
    for _ in range(2):  # the second time from the folders remembered
        for path in paths:
            assert real_path(path, folders) == os.path.realpath(path), path
    assert folders[tmp_path / "linked" / "sub"] == str(real / "sub")
