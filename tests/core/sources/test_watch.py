"""How often the background rescans a source: a kernel watch sees every local change, so local folders
are not walked again and again; folders on network filesystems (written by other machines) still are."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest

from comfyui_model_library.core.io.drives import drive_info
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import ModelQuery
from comfyui_model_library.core.sources import background
from tests import synth


@pytest.fixture
def models(tmp_path: Path) -> Path:
    root = tmp_path / "ComfyUI" / "models"
    (root / "loras").mkdir(parents=True)
    synth.write_family(root / "loras" / "detail.safetensors", "sdxl_lora_kohya")
    return root


def _count_scans(library: Library, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    scans: list[object] = []
    scan = library.sources.scan

    def counted(*args: object, **kwargs: object) -> object:
        scans.append(kwargs.get("only"))
        return scan(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(library.sources, "scan", counted)
    return scans


def _names(library: Library) -> set[str]:
    return {m.name for m in library.list_models(ModelQuery(limit=100)).items}


def _wait_for(predicate: object, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize(
    ("fstype", "sees"),
    [
        ("ext4", True),
        ("xfs", True),
        ("btrfs", True),
        ("tmpfs", True),
        ("overlay", True),
        ("apfs", True),
        ("NTFS", True),
        ("nfs4", False),
        ("cifs", False),
        ("smb3", False),
        ("fuse.sshfs", False),
        ("fuse.rclone", False),
        ("fuseblk", True),  # ntfs-3g, exFAT: a local disk through FUSE, written only through this kernel
        ("9p", False),
    ],
)
def test_which_filesystems_a_local_watch_sees_completely(fstype: str, sees: bool) -> None:
    assert background.sees_remote_changes(fstype) is sees


def test_a_watched_local_folder_is_not_rescanned_every_poll(
    library: Library, models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("watchfiles")
    library.add_source(models, scan=False)
    scans = _count_scans(library, monkeypatch)
    library.start_background(poll_seconds=0.3)
    try:
        assert _wait_for(lambda: "detail" in _names(library)), f"the first scan did not list it: {scans}"
        time.sleep(2.5)  # eight polls' worth
        assert scans.count(None) == 1, f"full rescans of a watched local folder: {scans}"
        synth.write_family(models / "loras" / "fresh.safetensors", "sd15_loha")
        assert _wait_for(lambda: "fresh" in _names(library)), "the watch did not list a new file"
        assert scans.count(None) == 1 and scans[-1], f"listed by a full rescan, not the watch: {scans}"
    finally:
        library.sources.stop_background()


def test_a_folder_on_a_network_filesystem_is_still_rescanned_every_poll(
    library: Library, models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another machine writing to a NAS share raises no event here: only a rescan can see its files."""
    pytest.importorskip("watchfiles")
    # This test's own filesystem, declared a network one: the real detection path runs on it.
    monkeypatch.setattr(background, "NETWORK_FILESYSTEMS", frozenset({drive_info(models).fstype.lower()}))
    library.add_source(models, scan=False)
    scans = _count_scans(library, monkeypatch)
    library.start_background(poll_seconds=0.5)
    try:
        assert _wait_for(lambda: scans.count(None) >= 3), f"rescans of a network folder: {scans}"
    finally:
        library.sources.stop_background()


def test_without_watchfiles_the_first_scan_runs_at_once_and_polls_follow(
    library: Library, models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "watchfiles", None)  # `import watchfiles` raises ImportError
    library.add_source(models, scan=False)
    scans = _count_scans(library, monkeypatch)
    library.start_background(poll_seconds=60)
    try:
        assert _wait_for(lambda: "detail" in _names(library), 5.0), "the first scan waited for a poll"
        library.sources.stop_background()
        library.start_background(poll_seconds=0.3)
        synth.write_family(models / "loras" / "fresh.safetensors", "sd15_loha")
        assert _wait_for(lambda: "fresh" in _names(library)), "polling did not list a new file"
        assert all(only is None for only in scans)
    finally:
        library.sources.stop_background()


def test_an_unmounted_source_does_not_make_the_watch_rescan_all_the_time(
    library: Library, models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("watchfiles")
    share = tmp_path / "nas" / "models"
    synth.write_family(share / "loras" / "shared.safetensors", "sd15_loha")
    library.add_source(models)
    library.add_source(share)
    shutil.rmtree(tmp_path / "nas")  # the share is unmounted
    scans = _count_scans(library, monkeypatch)
    library.start_background(poll_seconds=30)
    try:
        time.sleep(4)
        assert len(scans) == 1, f"{len(scans)} full rescans in 4 s (only the watch's first)"
        synth.write_family(share / "loras" / "back.safetensors", "sd15_loha")  # mounted again
        assert _wait_for(lambda: "back" in _names(library)), "a share that comes back is watched again"
    finally:
        library.sources.stop_background()
