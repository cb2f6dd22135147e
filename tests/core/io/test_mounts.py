"""Which trees a local file watch sees completely: read from a mount table like the kernel's, matched by
the real device number of real folders."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from comfyui_model_library.core.io import mounts
from tests.mount_table import device_of, mountinfo_line, use_table

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/mountinfo")


@pytest.mark.parametrize(
    ("fstype", "options", "local"),
    [
        ("ext4", "rw,relatime", True),
        ("xfs", "", True),
        ("btrfs", "", True),
        ("zfs", "", True),
        ("tmpfs", "", True),
        ("overlay", "", True),
        ("apfs", "", True),
        ("NTFS", "rw,fixed", True),
        ("NTFS", "rw,remote", False),  # a mapped network drive on Windows
        ("fuseblk", "", True),  # ntfs-3g, exFAT: a local disk through FUSE
        ("nfs4", "", False),
        ("cifs", "", False),
        ("smbfs", "", False),
        ("autofs", "", False),
        ("fuse.sshfs", "", False),
        ("fuse.rclone", "", False),
        ("fuse.fuse-overlayfs", "", False),
        ("macfuse", "", False),
        ("9p", "", False),
        ("drvfs", "", False),
        ("something-new", "", False),  # unknown: taken as remote
    ],
)
def test_local_filesystems(fstype: str, options: str, local: bool) -> None:
    assert mounts.is_local_fs(fstype, options) is local


def test_mountinfo_paths_with_spaces_and_tags() -> None:
    text = (
        "36 35 98:0 /mnt1 /mnt/my\\040models rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n"
        "37 35 0:52 / /mnt/nas rw,relatime - cifs //nas/models rw,vers=3.0\n"
        "garbage line\n"
    )
    parsed = mounts.parse_mountinfo(text)
    assert [(m.device, m.mountpoint, m.fstype) for m in parsed] == [
        ("98:0", "/mnt/my models", "ext3"),
        ("0:52", "/mnt/nas", "cifs"),
    ]


@linux_only
def test_a_folder_is_judged_by_the_filesystem_its_device_belongs_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    use_table(monkeypatch, tmp_path, [mountinfo_line(1, device_of(folder), "/", "ext4")])
    assert mounts.tree_is_local(folder)
    use_table(monkeypatch, tmp_path, [mountinfo_line(1, device_of(folder), "/", "nfs4")])
    assert not mounts.tree_is_local(folder)


@linux_only
def test_an_automounted_share_is_the_share_not_its_autofs_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """systemd's automount lists ``autofs`` on the mount point before the share mounted over it."""
    folder = tmp_path / "nas"
    folder.mkdir()
    lines = [
        mountinfo_line(1, "0:9999", str(folder), "autofs", "systemd-1"),
        mountinfo_line(2, device_of(folder), str(folder), "cifs", "//nas/models"),
    ]
    use_table(monkeypatch, tmp_path, lines)
    assert not mounts.tree_is_local(folder)


@linux_only
def test_a_share_mounted_inside_a_local_tree_makes_the_tree_remote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "models"
    (folder / "loras" / "from nas").mkdir(parents=True)
    (folder / "checkpoints").mkdir()
    lines = [
        mountinfo_line(1, device_of(folder), "/", "ext4"),
        mountinfo_line(2, "0:77", str(folder / "loras" / "from nas"), "nfs4", "nas:/loras"),
        mountinfo_line(3, "0:78", str(tmp_path / "elsewhere"), "nfs4", "nas:/other"),
    ]
    use_table(monkeypatch, tmp_path, lines)
    assert not mounts.tree_is_local(folder)
    assert not mounts.tree_is_local(folder / "checkpoints" / "..")  # the same tree, by another spelling
    assert mounts.tree_is_local(folder / "checkpoints"), "a sibling of the share is local"
    assert not mounts.tree_is_local(tmp_path / "nowhere"), "a folder that is not there cannot be judged"


@linux_only
def test_an_unreadable_mount_table_means_cannot_tell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mounts, "MOUNTINFO", tmp_path / "missing")
    monkeypatch.setitem(sys.modules, "psutil", None)  # and no psutil to fall back on
    assert not mounts.tree_is_local(tmp_path)


def test_the_real_mount_table_of_this_machine_is_read(tmp_path: Path) -> None:
    table = mounts._mount_table()
    assert table, "no mount table"
    assert mounts._own_mount(os.path.realpath(tmp_path), table) is not None
