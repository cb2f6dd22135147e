"""The temp folder's device is found anew for each import run, not once per process: a library drive
unplugged and plugged back (``/media/u/disk`` on ``sdb1``, then ``sdc1``) gets a new device number, and a
device remembered from before would make every later hard-link adoption and move import copy instead
(bytes the run's free-space check did not count, as it saw one drive)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from comfyui_model_library.core.importer.plan import plan_paths
from comfyui_model_library.core.importer.stage import stage_model, undo_stage
from tests import synth

SHM = Path("/dev/shm")


@pytest.fixture
def other_drive(tmp_path: Path) -> Iterator[Path]:
    if not SHM.is_dir() or os.stat(SHM).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on a device of its own")
    folder = Path(tempfile.mkdtemp(prefix="ml-review-", dir=SHM))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _hardlinked(source: Path, tmp_dir: Path) -> bool:
    [plan], _ = plan_paths([source])
    staged = stage_model(plan, tmp_dir, move=False, hardlink=True)
    try:
        [f] = staged.files
        return os.stat(f.staged).st_ino == os.stat(source).st_ino
    finally:
        undo_stage(staged.stage_dir, staged.files)
        staged.release()


def test_a_temp_folder_now_on_another_drive_is_seen_there(tmp_path: Path, other_drive: Path) -> None:
    tmp_dir = tmp_path / "library-tmp"  # where the library's drive is mounted: first here ...
    (tmp_path / "first").mkdir()
    tmp_dir.symlink_to(tmp_path / "first")
    assert _hardlinked(synth.write_family(tmp_path / "a.safetensors", "vae_sd15"), tmp_dir)

    tmp_dir.unlink()  # ... then, the drive plugged in again, on another device
    (other_drive / "tmp").mkdir()
    tmp_dir.symlink_to(other_drive / "tmp")
    assert _hardlinked(synth.write_family(other_drive / "b.safetensors", "vae_sd15"), tmp_dir)
