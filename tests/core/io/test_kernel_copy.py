"""The kernel-copy path of copy_and_hash: hashes over mapped destination pages, writeback hints, cleanup."""

from __future__ import annotations

import errno
import hashlib
import os
import sys
from pathlib import Path

import blake3
import pytest

from comfyui_model_library.core.errors import Cancelled, StorageError
from comfyui_model_library.core.io import copying, hashing
from comfyui_model_library.core.io.copying import copy_and_hash
from comfyui_model_library.core.io.fileops import open_source

STEP = 1 << 20  # small steps so a small file crosses many of them
kernel_only = pytest.mark.skipif(
    not (hasattr(os, "copy_file_range") and copying._MAP_READ_SHARED),
    reason="no kernel copy on this platform",
)


@pytest.fixture(autouse=True)
def small_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(copying, "COPY_STEP", STEP)
    monkeypatch.setattr(copying, "COPY_LEAD", 2)


def _copy(src: Path, dest: Path, **kwargs: object) -> hashing.Digests:
    fd, st = open_source(src)
    try:
        return copy_and_hash(fd, st, dest, src_path=src, **kwargs)  # type: ignore[arg-type]
    finally:
        os.close(fd)


def _mapped_files() -> str:
    return Path("/proc/self/maps").read_text(encoding="utf-8")


@kernel_only
@pytest.mark.parametrize("size", [1, 4095, 4096, STEP - 1, STEP, STEP + 1, 5 * STEP + 777])
def test_kernel_copy_hashes_every_byte_written(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    seen: list[int] = []
    digests = _copy(src, tmp_path / "dest.part", progress=seen.append)
    assert (tmp_path / "dest.part").read_bytes() == data
    assert (digests.size, digests.sha256, digests.blake3) == (
        size,
        hashlib.sha256(data).hexdigest(),
        blake3.blake3(data).hexdigest(),
    )
    assert seen == sorted(seen) and seen[-1] == size and all(b - a <= STEP for a, b in zip([0, *seen], seen))


@kernel_only
def test_no_mapping_of_the_new_file_is_left_after_success_or_cancel(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(6 * STEP))
    _copy(src, tmp_path / "done.part")
    assert "done.part" not in _mapped_files()

    calls = iter([False, False, False, True])
    with pytest.raises(Cancelled):
        _copy(src, tmp_path / "cancelled.part", cancelled=lambda: next(calls))
    assert not (tmp_path / "cancelled.part").exists()
    assert "cancelled.part" not in _mapped_files()


@kernel_only
def test_kernel_copy_failing_half_way_is_an_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(4 * STEP))
    real = os.copy_file_range
    calls = 0

    def fail_later(*args: int) -> int:
        nonlocal calls
        calls += 1
        if calls > 2:  # an unsupported-looking errno after bytes were copied is a real failure
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(*args)

    monkeypatch.setattr(os, "copy_file_range", fail_later)
    with pytest.raises(StorageError, match="failed while copying"):
        _copy(src, tmp_path / "dest.part")
    assert not (tmp_path / "dest.part").exists()
    assert "dest.part" not in _mapped_files()


def test_copy_without_writeback_hints_still_copies_and_hashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(copying, "_sync_file_range", lambda: None)
    data = os.urandom(3 * STEP + 5)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    assert _copy(src, tmp_path / "dest.part").sha256 == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "dest.part").read_bytes() == data


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux-only")
def test_writeback_hint_is_found_on_linux_and_harmless_on_bad_input(tmp_path: Path) -> None:
    assert copying._sync_file_range() is not None
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 10_000)
    fd = os.open(path, os.O_RDONLY)
    try:
        copying._start_writeback(fd, 0, 10_000)
        copying._start_writeback(fd, -5, 3)  # EINVAL from the kernel: ignored, it is only a hint
    finally:
        os.close(fd)
    copying._start_writeback(10_000_000, 0, 1)  # EBADF: ignored too
    assert path.read_bytes() == b"x" * 10_000


@kernel_only
def test_a_kernel_copy_that_copies_nothing_falls_back_to_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "copy_file_range", lambda *args: 0)  # as some filesystems do
    data = os.urandom(2 * STEP + 3)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    assert _copy(src, tmp_path / "dest.part").blake3 == blake3.blake3(data).hexdigest()
    assert (tmp_path / "dest.part").read_bytes() == data


@kernel_only
def test_a_destination_that_cannot_be_mapped_falls_back_to_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> object:
        raise OSError(errno.ENODEV, "No such device")

    monkeypatch.setattr(copying.mmap, "mmap", refuse)
    data = os.urandom(2 * STEP + 3)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    assert _copy(src, tmp_path / "dest.part").sha256 == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "dest.part").read_bytes() == data
