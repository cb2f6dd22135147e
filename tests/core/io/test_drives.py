from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from comfyui_model_library.core.errors import DestinationNotWritable, InsufficientSpace, InvalidInput
from comfyui_model_library.core.io.drives import (
    DriveLimiter,
    check_free_space,
    check_writable,
    drive_info,
    existing_ancestor,
)


def test_drive_info_describes_the_drive_of_a_path_not_made_yet(tmp_path: Path) -> None:
    info = drive_info(tmp_path / "not" / "yet")
    assert info.device == tmp_path.stat().st_dev
    assert info.mountpoint and Path(tmp_path).resolve().is_relative_to(info.mountpoint)
    assert info.concurrency == (1 if info.rotational else 2)
    assert drive_info(tmp_path) is info  # cached per device
    assert existing_ancestor(tmp_path / "a" / "b") == tmp_path


def test_limiter_allows_the_set_number_per_drive(tmp_path: Path) -> None:
    limiter = DriveLimiter(override=2)
    active = peak = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal active, peak
        with limiter.slot(tmp_path):
            with lock:
                active += 1
                peak = max(peak, active)
            time.sleep(0.05)
            with lock:
                active -= 1

    threads = [threading.Thread(target=work) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak == 2
    with pytest.raises(InvalidInput):
        DriveLimiter(override=0)


def test_the_files_of_a_folder_share_its_drives_slot_found_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thousands of small files of one folder cost one drive lookup; another drive's folder gets its own
    slots (a tmpfs, where the machine has one)."""
    from comfyui_model_library.core.io import drives

    looked_up: list[str] = []
    real = drives.drive_info
    monkeypatch.setattr(drives, "drive_info", lambda path: looked_up.append(str(path)) or real(path))
    limiter = DriveLimiter(override=1)
    folder = tmp_path / "loras"
    folder.mkdir()
    for i in range(50):
        with limiter.slot(folder / f"m{i}.safetensors"):
            pass
    assert looked_up == [str(folder / "m0.safetensors")]
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        return
    held = threading.Event()
    with limiter.slot(folder / "a.safetensors"):  # the only slot of tmp_path's drive is taken ...

        def other_drive() -> None:
            with limiter.slot(shm / "b.safetensors"):  # ... and another drive's is free
                held.set()

        thread = threading.Thread(target=other_drive)
        thread.start()
        assert held.wait(5), "a file on another drive waited for this drive's slot"
        thread.join()


def test_free_space_check_names_the_numbers(tmp_path: Path) -> None:
    check_free_space(tmp_path, 1, margin=0)
    with pytest.raises(InsufficientSpace, match=r"free [\d,]+ bytes and try again"):
        check_free_space(tmp_path, 2**62, margin=1024)


def test_check_writable_probes_without_leaving_anything(tmp_path: Path) -> None:
    check_writable(tmp_path / "new" / "folder")
    assert list((tmp_path / "new" / "folder").iterdir()) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(DestinationNotWritable, match="cannot write in"):
        check_writable(tmp_path / "file" / "sub")  # a file where a folder should be


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_check_writable_on_a_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(DestinationNotWritable):
            check_writable(folder)
    finally:
        folder.chmod(0o755)
