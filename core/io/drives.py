"""Drives: what kind of disk a path is on, how many big copies it takes at once, and free space.

Two large copies on one spinning disk make its head seek between them and both run slower than one
after the other; an SSD handles a few at once. So imports and downloads take a slot per *device*
(:class:`DriveLimiter`): 1 on a rotational disk, 2 on an SSD or when unknown (network shares, Windows,
macOS). Space and writability are checked before the first byte is written, so a job fails at once with
numbers instead of at 90 % with a full disk.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from ..errors import DestinationNotWritable, InsufficientSpace, InvalidInput

SSD_CONCURRENCY = 2
HDD_CONCURRENCY = 1
UNKNOWN_CONCURRENCY = 2
FOLDERS_KEPT = 4096  # folders whose drive a limiter remembers


@dataclass(frozen=True)
class DriveInfo:
    device: int
    mountpoint: str
    fstype: str
    rotational: bool | None
    concurrency: int


_cache: dict[int, DriveInfo] = {}
_cache_lock = threading.Lock()


def existing_ancestor(path: Path | str) -> Path:
    """``path`` itself if it exists, else its nearest existing parent (a destination not made yet)."""
    current = Path(os.path.abspath(path))
    while not current.exists() and current.parent != current:
        current = current.parent
    return current


def _mount_of(device: int) -> tuple[str, str, str]:
    """(mountpoint, fstype, device node) of the filesystem whose st_dev is ``device``."""
    for all_kinds in (False, True):
        try:
            partitions = psutil.disk_partitions(all=all_kinds)
        except OSError:
            continue
        # Longest mountpoint first: "/" matches many st_dev lookups that fail, so try specific ones first.
        for part in sorted(partitions, key=lambda p: len(p.mountpoint), reverse=True):
            try:
                if os.stat(part.mountpoint).st_dev == device:
                    return part.mountpoint, part.fstype, part.device
            except OSError:
                continue
    return "", "", ""


def _sys_block_dir(device: int, device_node: str) -> Path | None:
    # /sys/dev/block/MAJ:MIN leads to the partition's node; a partition's parent folder is its disk.
    candidates = [Path(f"/sys/dev/block/{os.major(device)}:{os.minor(device)}")]
    if device_node.startswith("/dev/"):
        candidates.append(Path("/sys/class/block") / Path(os.path.realpath(device_node)).name)
    for candidate in candidates:
        try:
            node = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if (node / "partition").exists():
            node = node.parent
        if (node / "queue" / "rotational").exists():
            return node
    return None


def _rotational(device: int, device_node: str) -> bool | None:
    block = _sys_block_dir(device, device_node)
    if block is None:
        return None
    try:
        return (block / "queue" / "rotational").read_text().strip() == "1"
    except OSError:
        return None


def drive_info(path: Path | str) -> DriveInfo:
    """Describe the drive holding ``path`` (or its nearest existing parent); cached per device."""
    device = os.stat(existing_ancestor(path)).st_dev
    with _cache_lock:
        cached = _cache.get(device)
    if cached is not None:
        return cached
    mountpoint, fstype, node = _mount_of(device)
    rotational = _rotational(device, node)
    if rotational is None:
        concurrency = UNKNOWN_CONCURRENCY
    else:
        concurrency = HDD_CONCURRENCY if rotational else SSD_CONCURRENCY
    info = DriveInfo(device, mountpoint, fstype, rotational, concurrency)
    with _cache_lock:
        _cache[device] = info
    return info


class DriveLimiter:
    """Bounds concurrent heavy I/O per device; ``override`` (from settings) replaces the per-kind number."""

    def __init__(self, override: int | None = None) -> None:
        if override is not None and override < 1:
            raise InvalidInput(f"drive concurrency must be at least 1, got {override}; fix the setting")
        self._override = override
        self._lock = threading.Lock()
        self._slots: dict[int, threading.BoundedSemaphore] = {}
        # A folder's files are on its drive (a file that is a mount point of its own gets its folder's
        # slot: a slot orders reads, it guards nothing): thousands of small files of a few folders then
        # cost no stat each.
        self._by_folder: dict[str, threading.BoundedSemaphore] = {}

    def _semaphore(self, path: Path | str) -> threading.BoundedSemaphore:
        folder = os.path.dirname(os.path.abspath(path))
        with self._lock:
            semaphore = self._by_folder.get(folder)
        if semaphore is not None:
            return semaphore
        info = drive_info(path)
        with self._lock:
            semaphore = self._slots.get(info.device)
            if semaphore is None:
                semaphore = threading.BoundedSemaphore(self._override or info.concurrency)
                self._slots[info.device] = semaphore
            if len(self._by_folder) >= FOLDERS_KEPT:
                self._by_folder.clear()
            self._by_folder[folder] = semaphore
            return semaphore

    @contextmanager
    def slot(self, path: Path | str) -> Iterator[None]:
        """Hold one of the device's slots for the block (waits while all are taken)."""
        semaphore = self._semaphore(path)
        with semaphore:
            yield


def check_free_space(path: Path | str, needed: int, margin: int = 0) -> None:
    """Raise InsufficientSpace unless the drive of ``path`` has ``needed + margin`` bytes free."""
    where = existing_ancestor(path)
    free = shutil.disk_usage(where).free
    if free < needed + margin:
        short = needed + margin - free
        raise InsufficientSpace(
            f"not enough free space on the drive of {where}: {needed:,} bytes needed plus a "
            f"{margin:,}-byte safety margin, {free:,} free; free {short:,} bytes and try again"
        )


def check_writable(folder: Path | str) -> None:
    """Raise DestinationNotWritable unless a file can be created in ``folder`` (made if missing)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise DestinationNotWritable(
            f"cannot write in {folder}: {exc.strerror or exc}; make the folder writable or choose "
            "another one in the settings"
        ) from exc
