"""A mount table for tests: real folders (matched by their real device numbers) declared to be on the
filesystem a test needs (a NAS share, a local disk), in ``/proc/self/mountinfo``'s format."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from comfyui_model_library.core.io import mounts


def device_of(path: Path) -> str:
    st_dev = os.stat(path).st_dev
    return f"{os.major(st_dev)}:{os.minor(st_dev)}"


def mountinfo_line(n: int, device: str, mountpoint: str, fstype: str, source: str = "src") -> str:
    escaped = mountpoint.replace(" ", "\\040")
    return f"{n} 1 {device} / {escaped} rw,relatime shared:{n} - {fstype} {source} rw"


def use_table(monkeypatch: pytest.MonkeyPatch, folder: Path, lines: list[str]) -> None:
    """Make ``lines`` the mount table the library reads (written to a file in ``folder``)."""
    table = folder / "mountinfo"
    table.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(mounts, "MOUNTINFO", table)


def declare(monkeypatch: pytest.MonkeyPatch, folder: Path, fstype: str) -> None:
    """``folder``'s filesystem (the whole device it is on) is ``fstype``."""
    use_table(monkeypatch, folder.parent, [mountinfo_line(1, device_of(folder), "/", fstype)])
