"""How often the background rescans a source: a kernel watch sees every local change, so local folders
are not walked again and again; folders on network filesystems (written by other machines) still are."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest

from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import ModelQuery
from tests import synth
from tests.mount_table import declare, device_of, mountinfo_line, use_table
from tests.namespaces import run_in_mount_namespace

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a mount table to declare")


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
    return {m.name for m in library.catalog.list_models(ModelQuery(limit=100)).items}


def _wait_for(predicate: object, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


@linux_only
def test_a_watched_local_folder_is_not_rescanned_every_poll(
    library: Library, models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("watchfiles")
    declare(monkeypatch, models, "ext4")
    library.sources.add(models, scan=False)
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


@linux_only
def test_a_folder_on_a_network_filesystem_is_still_rescanned_every_poll(
    library: Library, models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another machine writing to a NAS share raises no event here: only a rescan can see its files."""
    pytest.importorskip("watchfiles")
    declare(monkeypatch, models, "nfs4")
    library.sources.add(models, scan=False)
    scans = _count_scans(library, monkeypatch)
    library.start_background(poll_seconds=0.5)
    try:
        assert _wait_for(lambda: scans.count({models}) >= 3), f"rescans of a network folder: {scans}"
        assert scans.count(None) == 1, "only the share is rescanned, not everything"
    finally:
        library.sources.stop_background()


@linux_only
def test_only_the_sources_a_watch_cannot_see_are_polled(
    library: Library, models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A NAS share beside the install's 10,000 local files: polling the share must not walk the rest."""
    pytest.importorskip("watchfiles")
    nas = tmp_path / "nas"
    synth.write_family(nas / "loras" / "shared.safetensors", "sd15_loha")
    use_table(
        monkeypatch,
        tmp_path,
        [mountinfo_line(1, device_of(models), "/", "ext4"), mountinfo_line(2, "0:999", str(nas), "cifs")],
    )
    library.sources.add(models, scan=False)
    library.sources.add(nas, scan=False)
    scans = _count_scans(library, monkeypatch)
    library.start_background(poll_seconds=0.4)
    try:
        assert _wait_for(lambda: scans.count({nas}) >= 3), f"the share was not polled: {scans}"
        assert scans.count(None) == 1 and all(only in (None, {nas}) for only in scans), scans
        synth.write_family(nas / "loras" / "remote.safetensors", "vae_flux")
        assert _wait_for(lambda: "remote" in _names(library))
    finally:
        library.sources.stop_background()


def test_without_watchfiles_the_first_scan_runs_at_once_and_polls_follow(
    library: Library, models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "watchfiles", None)  # `import watchfiles` raises ImportError
    library.sources.add(models, scan=False)
    scans = _count_scans(library, monkeypatch)
    library.start_background(poll_seconds=60)
    try:
        assert _wait_for(lambda: "detail" in _names(library), 5.0), "the first scan waited for a poll"
        library.sources.stop_background()
        before = len(scans)
        library.start_background(poll_seconds=0.3)
        assert _wait_for(lambda: len(scans) > before), "no first scan after a restart"
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
    library.sources.add(models)
    library.sources.add(share)
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


@linux_only
def test_a_source_with_links_to_files_outside_it_is_rescanned_every_poll(
    library: Library, models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watch sees the link, not its target: a target deleted on the other disk is noticed by rescans."""
    pytest.importorskip("watchfiles")
    declare(monkeypatch, models, "ext4")
    target = synth.write_family(tmp_path / "ssd" / "big.safetensors", "sdxl_checkpoint")
    (models / "checkpoints").mkdir()
    (models / "checkpoints" / "big.safetensors").symlink_to(target)
    library.sources.add(models, scan=False)
    library.start_background(poll_seconds=0.5)
    try:
        assert _wait_for(lambda: "big" in _names(library))
        target.unlink()

        def missing() -> bool:
            return [m.state for m in library.catalog.list_models(ModelQuery(q="big")).items] == ["missing"]

        assert _wait_for(missing), "a link whose target went away was not noticed"
    finally:
        library.sources.stop_background()


@linux_only
def test_a_share_mounted_on_a_watched_empty_folder_is_watched(tmp_path: Path) -> None:
    """ComfyUI started before the NAS was mounted: the watch on the empty mount point sees nothing of the
    share mounted over it, so a new device under a source is a new watch (and its first scan). The same
    for a share mounted on a folder inside a source."""
    pytest.importorskip("watchfiles")
    done = run_in_mount_namespace(LATE_MOUNT, str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "listed arrived" in done.stdout and "listed below" in done.stdout


LATE_MOUNT = r"""
import subprocess, sys, time
from pathlib import Path
from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import ModelQuery
from tests import synth

tmp = Path(sys.argv[1])
share = tmp / "nas"
share.mkdir()
with Library.open(load_config(tmp / "library")) as library:
    library.sources.add(share, scan=False)
    library.start_background(poll_seconds=30)  # a poll would be too late; the mount must be noticed
    time.sleep(1.5)
    subprocess.run(["mount", "-t", "tmpfs", "share", str(share)], check=True)
    synth.write_family(share / "arrived.safetensors", "sd15_loha")
    for name in ("arrived", "below"):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if library.catalog.list_models(ModelQuery(q=name)).total == 1:
                print("listed", name)
                break
            time.sleep(0.05)
        else:
            print(name, "not listed within 20 s")
            sys.exit(1)
        if name == "arrived":  # and a second share mounted on a folder inside the first
            (share / "loras").mkdir()
            time.sleep(2.5)  # the rescan the new folder causes is over before the share is mounted on it
            subprocess.run(["mount", "-t", "tmpfs", "below", str(share / "loras")], check=True)
            synth.write_family(share / "loras" / "below.safetensors", "sd15_loha")
    library.sources.stop_background()
"""
