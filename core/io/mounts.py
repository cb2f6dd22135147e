"""Which filesystems hold a folder tree, and whether this machine's kernel sees every change to them.

A file watch (inotify, FSEvents, ReadDirectoryChangesW) reports changes made through the local kernel.
A NAS share another machine writes to (NFS, SMB, sshfs, rclone, a mapped drive on Windows) changes
behind its back, and so may a tree with such a share mounted somewhere below its root. Only a tree
wholly on filesystems known to be local disks (or memory) can rely on its watch; anything unknown is
taken as remote, since the cost of a wrong "local" is changes missed for minutes.

On Linux the mount table is read from ``/proc/self/mountinfo`` and matched by device number (an
automount point's ``autofs`` entry and the share mounted over it have different ones), without
``stat``-ing other mount points (a hung NFS server would hang that call).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .paths import at_or_under

# Lower-case names as Linux, macOS (statfs) and Windows (psutil) report them.
LOCAL_FILESYSTEMS = frozenset(
    {
        "ext2", "ext3", "ext4", "xfs", "btrfs", "zfs", "f2fs", "bcachefs", "jfs", "reiserfs", "nilfs2",
        "tmpfs", "ramfs", "overlay", "squashfs", "iso9660", "udf", "vfat", "msdos", "fat", "fat32",
        "exfat", "ntfs", "ntfs3", "fuseblk", "refs", "apfs", "hfs", "hfsplus",
    }
)  # fmt: skip
MOUNTINFO = Path("/proc/self/mountinfo")


@dataclass(frozen=True)
class Mount:
    device: str  # "major:minor" on Linux, "" elsewhere
    mountpoint: str
    fstype: str
    options: str


def is_local_fs(fstype: str, options: str = "") -> bool:
    """True for a filesystem on this machine's own disks or memory (Windows marks mapped drives remote)."""
    return fstype.lower() in LOCAL_FILESYSTEMS and "remote" not in options.split(",")


def tree_is_local(folder: Path | str) -> bool:
    """True when ``folder`` and every filesystem mounted below it are local (see the module docstring).
    False when the mount table cannot tell."""
    path = os.path.normcase(os.path.realpath(folder))  # Windows: psutil's mount points are normcased
    mounts = _mount_table()
    if not mounts:
        return False
    own = _own_mount(path, mounts)
    if own is None or not is_local_fs(own.fstype, own.options):
        return False
    # Also the entries on the folder itself: one stacked over another (a share over its autofs point).
    within = [m for m in mounts if at_or_under(m.mountpoint, path)]
    return all(is_local_fs(m.fstype, m.options) for m in within)


def mounts_within(folders: list[Path]) -> tuple[Mount, ...] | None:
    """The mounts at or below ``folders`` (to notice a share mounted into a watched tree later); None
    where reading the table is not cheap (only Linux's is a file: psutil asks each drive elsewhere, and a
    disconnected Windows network drive can take seconds to answer)."""
    if not sys.platform.startswith("linux"):
        return None
    table = _read_mountinfo()
    if table is None:
        return None
    paths = [os.path.realpath(f) for f in folders]
    return tuple(m for m in table if any(at_or_under(m.mountpoint, p) for p in paths))


def _own_mount(path: str, mounts: list[Mount]) -> Mount | None:
    if mounts[0].device:  # Linux: the entry with the folder's device number; the last one mounted wins
        try:
            st_dev = os.stat(path).st_dev
        except OSError:
            return None
        device = f"{os.major(st_dev)}:{os.minor(st_dev)}"
        matches = [m for m in mounts if m.device == device]
        if matches:
            return matches[-1]
        # A btrfs subvolume that is not mounted on its own has a device number of its own: by path.
    # The longest mount point containing the folder (the last listed, if mounted twice).
    best: Mount | None = None
    for mount in mounts:
        if at_or_under(path, mount.mountpoint) and (
            best is None or len(mount.mountpoint) >= len(best.mountpoint)
        ):
            best = mount
    return best


def _mount_table() -> list[Mount]:
    if sys.platform.startswith("linux"):
        table = _read_mountinfo()
        if table is not None:
            return table
    try:
        import psutil

        return [
            Mount("", os.path.normcase(p.mountpoint), p.fstype, p.opts)
            for p in psutil.disk_partitions(all=True)
        ]
    except Exception:  # psutil raises its own errors on odd systems: "cannot tell" is the answer
        return []


def _read_mountinfo() -> list[Mount] | None:
    try:
        # Bytes decoded as the OS decodes paths: a non-UTF-8 mount point still equals realpath's.
        return parse_mountinfo(os.fsdecode(MOUNTINFO.read_bytes()))
    except OSError:
        return None


def parse_mountinfo(text: str) -> list[Mount]:
    """``/proc/<pid>/mountinfo`` lines: ``id parent major:minor root mountpoint options [tags] - fstype
    source super-options``; spaces and other specials in paths are octal escapes (``\\040``)."""
    mounts: list[Mount] = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 6 or not tail:
            continue
        mountpoint = _unescape(fields[4])
        options = fields[5] + ("," + tail[2] if len(tail) > 2 else "")
        mounts.append(Mount(fields[2], mountpoint, tail[0], options))
    return mounts


def _unescape(field: str) -> str:
    if "\\" not in field:
        return field
    raw = field.encode("utf-8", "surrogateescape")
    out = bytearray()
    i = 0
    while i < len(raw):
        chunk = raw[i + 1 : i + 4]
        if raw[i] == 0x5C and len(chunk) == 3 and all(0x30 <= c <= 0x37 for c in chunk):
            out.append(int(chunk, 8))
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", "surrogateescape")
