"""copy_and_hash on real files: digests, source changes, cancel, disk full, unsafe sources."""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import blake3
import pytest

from comfyui_model_library.core.errors import (
    Cancelled,
    Conflict,
    DestinationNotWritable,
    InsufficientSpace,
    InvalidInput,
    SourceChanged,
    StorageError,
    UnsafePath,
)
from comfyui_model_library.core.io import copying, fileops, hashing
from comfyui_model_library.core.io.copying import copy_and_hash
from comfyui_model_library.core.io.fileops import commit_file, open_source

SIZE = 2 * hashing.CHUNK_SIZE + 12345


@pytest.fixture(autouse=True)
def small_copy_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    # The kernel copy works in large steps; with a step of one hashing chunk a small test file still
    # goes through several steps, so changes and cancels between steps are exercised.
    monkeypatch.setattr(copying, "COPY_STEP", hashing.CHUNK_SIZE)


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(SIZE)
    path = tmp_path / "incoming" / "model.safetensors"
    path.parent.mkdir()
    path.write_bytes(data)
    return path, data


@pytest.fixture
def tmp_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "library" / ".tmp"
    folder.mkdir(parents=True)
    return folder


def _copy(src: Path, dest: Path, **kwargs: object) -> hashing.Digests:
    fd, st = open_source(src)
    try:
        return copy_and_hash(fd, st, dest, src_path=src, **kwargs)  # type: ignore[arg-type]
    finally:
        os.close(fd)


def test_copy_gives_identical_bytes_and_their_hashes(source: tuple[Path, bytes], tmp_dir: Path) -> None:
    src, data = source
    progress: list[int] = []
    digests = _copy(src, tmp_dir / "a.part", progress=progress.append)
    assert digests.sha256 == hashlib.sha256(data).hexdigest()
    assert digests.blake3 == blake3.blake3(data).hexdigest()
    assert digests.size == SIZE and progress[-1] == SIZE
    assert (tmp_dir / "a.part").read_bytes() == data
    assert src.read_bytes() == data  # the source is untouched

    final = tmp_dir.parent / "models" / "m" / "model.safetensors"
    commit_file(tmp_dir / "a.part", final)
    assert final.read_bytes() == data and not (tmp_dir / "a.part").exists()


def test_copy_of_an_empty_file(tmp_path: Path, tmp_dir: Path) -> None:
    src = tmp_path / "empty.bin"
    src.write_bytes(b"")
    assert _copy(src, tmp_dir / "e.part").sha256 == hashlib.sha256(b"").hexdigest()


def test_commit_never_overwrites(source: tuple[Path, bytes], tmp_dir: Path, tmp_path: Path) -> None:
    src, data = source
    _copy(src, tmp_dir / "a.part")
    final = tmp_path / "final.bin"
    final.write_bytes(b"precious")
    with pytest.raises(Conflict, match="already exists"):
        commit_file(tmp_dir / "a.part", final)
    assert final.read_bytes() == b"precious"
    assert (tmp_dir / "a.part").read_bytes() == data


def test_existing_temp_name_is_refused_not_overwritten(source: tuple[Path, bytes], tmp_dir: Path) -> None:
    (tmp_dir / "a.part").write_bytes(b"other job")
    with pytest.raises(StorageError):
        _copy(source[0], tmp_dir / "a.part")
    assert (tmp_dir / "a.part").read_bytes() == b"other job"


def test_source_growing_during_copy_is_refused(source: tuple[Path, bytes], tmp_dir: Path) -> None:
    src, _ = source

    def append(done: int) -> None:
        if done == hashing.CHUNK_SIZE:
            with open(src, "ab") as fh:
                fh.write(b"more bytes from a download still running")

    with pytest.raises(SourceChanged, match="changed while it was read"):
        _copy(src, tmp_dir / "a.part", progress=append)
    assert list(tmp_dir.iterdir()) == []


def test_source_touched_during_copy_is_refused(source: tuple[Path, bytes], tmp_dir: Path) -> None:
    src, _ = source

    def touch(done: int) -> None:
        os.utime(src, ns=(1, 1_000_000_000))  # same size, other mtime

    with pytest.raises(SourceChanged):
        _copy(src, tmp_dir / "a.part", progress=touch)
    assert list(tmp_dir.iterdir()) == []


def test_source_swapped_during_copy_is_refused(source: tuple[Path, bytes], tmp_dir: Path) -> None:
    src, data = source
    impostor = src.with_name("impostor")
    impostor.write_bytes(data)
    st = src.stat()
    os.utime(impostor, ns=(st.st_atime_ns, st.st_mtime_ns))

    def swap(done: int) -> None:
        if impostor.exists():
            os.replace(impostor, src)  # same size and mtime, other inode

    with pytest.raises(SourceChanged):
        _copy(src, tmp_dir / "a.part", progress=swap)
    assert list(tmp_dir.iterdir()) == []


def test_source_appended_by_a_concurrent_writer_is_refused(source: tuple[Path, bytes], tmp_dir: Path) -> None:
    import threading

    src, _ = source
    started = threading.Event()

    def writer() -> None:
        started.wait()
        with open(src, "ab") as fh:
            for _ in range(50):
                fh.write(b"x" * 4096)
                fh.flush()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        with pytest.raises(SourceChanged):
            _copy(src, tmp_dir / "a.part", progress=lambda done: started.set() or thread.join())
    finally:
        started.set()
        thread.join()
    assert list(tmp_dir.iterdir()) == []


def test_cancel_removes_the_temp_file(source: tuple[Path, bytes], tmp_dir: Path) -> None:
    calls = iter([False, False, True])
    with pytest.raises(Cancelled):
        _copy(source[0], tmp_dir / "a.part", cancelled=lambda: next(calls))
    assert list(tmp_dir.iterdir()) == []


def test_disk_full_mid_copy_is_insufficient_space_and_leaves_nothing(
    source: tuple[Path, bytes], tmp_dir: Path
) -> None:
    # A file-size limit makes write() fail with EFBIG half-way, like a full disk would with ENOSPC.
    script = textwrap.dedent(
        f"""
        import os, resource, signal, sys
        from pathlib import Path
        from comfyui_model_library.core.errors import InsufficientSpace
        from comfyui_model_library.core.io.copying import copy_and_hash
        from comfyui_model_library.core.io.fileops import open_source
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({hashing.CHUNK_SIZE + 100}, resource.RLIM_INFINITY))
        fd, st = open_source({str(source[0])!r})
        try:
            copy_and_hash(fd, st, Path({str(tmp_dir / "a.part")!r}))
        except InsufficientSpace as exc:
            print("InsufficientSpace:", exc)
            sys.exit(3)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 3, result.stderr
    assert "file-size limit" in result.stdout
    assert list(tmp_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("code", "kind", "words"),
    [
        (errno.ENOSPC, InsufficientSpace, "disk full while copying a to b; free 1,234 bytes"),
        (errno.EROFS, DestinationNotWritable, "make the library folder writable"),
        (errno.EACCES, DestinationNotWritable, "make the library folder writable"),
        (errno.EIO, StorageError, "failed while copying a to b"),
    ],
)
def test_write_errors_map_to_clear_storage_errors(code: int, kind: type, words: str) -> None:
    error = fileops.storage_error(OSError(code, os.strerror(code)), "copying a to b", 1234)
    assert type(error) is kind
    assert words in error.message


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_destination_is_destination_not_writable(source: tuple[Path, bytes], tmp_dir: Path) -> None:
    tmp_dir.chmod(0o555)
    try:
        with pytest.raises(DestinationNotWritable):
            _copy(source[0], tmp_dir / "a.part")
    finally:
        tmp_dir.chmod(0o755)
    assert list(tmp_dir.iterdir()) == []


def test_open_source_refuses_a_symlink(source: tuple[Path, bytes], tmp_path: Path) -> None:
    link = tmp_path / "link.safetensors"
    link.symlink_to(source[0])
    with pytest.raises(UnsafePath, match="symbolic link"):
        open_source(link)


def test_open_source_refuses_fifo_folder_device_and_missing(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(UnsafePath, match="not a regular file"):
        open_source(fifo)  # and does not hang waiting for a writer
    with pytest.raises(UnsafePath, match="a folder"):
        open_source(tmp_path)
    with pytest.raises(UnsafePath, match="not a regular file"):
        open_source("/dev/null")
    with pytest.raises(InvalidInput, match="does not exist"):
        open_source(tmp_path / "missing")


def test_check_unchanged_accepts_an_untouched_file(source: tuple[Path, bytes]) -> None:
    fd, st = open_source(source[0])
    try:
        fileops.check_unchanged(fd, source[0], st)
        source[0].unlink()
        with pytest.raises(SourceChanged):
            fileops.check_unchanged(fd, source[0], st)
    finally:
        os.close(fd)


def test_copy_falls_back_to_read_write_where_the_kernel_copy_is_refused(
    source: tuple[Path, bytes], tmp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> int:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", refuse, raising=False)
    src, data = source
    digests = _copy(src, tmp_dir / "a.part")
    assert digests.sha256 == hashlib.sha256(data).hexdigest()
    assert (tmp_dir / "a.part").read_bytes() == data
