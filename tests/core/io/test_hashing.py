from __future__ import annotations

import hashlib
import os
from pathlib import Path

import blake3
import pytest

from comfyui_model_library.core.errors import Cancelled
from comfyui_model_library.core.io import hashing
from comfyui_model_library.core.io.hashing import DualHasher, hash_bytes, hash_fd, hash_path


def _expected(data: bytes) -> tuple[str, str]:
    return blake3.blake3(data).hexdigest(), hashlib.sha256(data).hexdigest()


CHUNK = hashing.CHUNK_SIZE


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, 3 * CHUNK + 7])
def test_hash_path_matches_reference_hashes(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "m.bin"
    path.write_bytes(data)
    seen: list[int] = []
    digests = hash_path(path, progress=seen.append)
    assert (digests.blake3, digests.sha256) == _expected(data)
    assert digests.size == size
    assert seen == sorted(seen) and (seen[-1] == size if size else seen == [])


def test_digests_prefixed_and_hashes() -> None:
    digests = hash_bytes(b"abc")
    assert digests.prefixed() == {"blake3": f"blake3:{digests.blake3}", "sha256": f"sha256:{digests.sha256}"}
    assert digests.hashes().sha256 == hashlib.sha256(b"abc").hexdigest()


def test_dual_hasher_copies_mutable_chunks_so_callers_may_reuse_them() -> None:
    buffer = bytearray(b"a" * 100_000)
    hasher = DualHasher()
    hasher.update(buffer)
    buffer[:] = b"b" * 100_000  # reused at once, before hashing finished
    hasher.update(memoryview(buffer))
    digests = hasher.finish()
    assert (digests.blake3, digests.sha256) == _expected(b"a" * 100_000 + b"b" * 100_000)
    with pytest.raises(RuntimeError):
        hasher.update(b"more")


def test_dual_hasher_runs_both_hashes_in_their_own_threads() -> None:
    import threading

    before = {t.name for t in threading.enumerate()}
    with DualHasher() as hasher:
        hasher.update(b"x" * 1_000_000)
        names = {t.name for t in threading.enumerate()} - before
        assert any("blake3" in n for n in names) and any("sha256" in n for n in names)
    leftover = {t.name for t in threading.enumerate() if t.is_alive()} - before
    assert not any("model-library" in n for n in leftover)


def test_cancel_stops_hashing_with_cancelled(tmp_path: Path) -> None:
    path = tmp_path / "m.bin"
    path.write_bytes(os.urandom(3 * hashing.CHUNK_SIZE))
    calls = 0

    def cancelled() -> bool:
        nonlocal calls
        calls += 1
        return calls > 1

    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(Cancelled):
            hash_fd(fd, cancelled=cancelled)
    finally:
        os.close(fd)
    assert calls == 2


def test_read_buffers_are_kept_between_hashes_and_given_back_on_release(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(hashing.SMALL_FILE + 123))
    expected = hashlib.sha256(big.read_bytes()).hexdigest()
    assert hash_path(big).sha256 == expected
    kept = hashing.CHUNK_SIZE * hashing.RING_DEPTH
    assert hashing.kept_buffer_bytes() == kept, "one ring kept: the next file needs no new buffers"
    hashing.release_buffers()
    assert hashing.kept_buffer_bytes() == 0
    assert hash_path(big).sha256 == expected, "hashing allocates them again"
    hashing.release_buffers()
