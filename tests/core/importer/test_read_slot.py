"""The drive's slot bounds reads, not hashing: a small file read whole is hashed after its slot is given
back, so on a spinning disk (one slot) the next file is read while this one is hashed."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from comfyui_model_library.core.config import LibraryConfig
from comfyui_model_library.core.importer import stage as stage_mod
from comfyui_model_library.core.importer.plan import plan_paths
from comfyui_model_library.core.importer.stage import stage_model, undo_stage
from comfyui_model_library.core.io import hashing
from tests import synth


def test_a_small_file_is_read_in_its_slot_and_hashed_outside_it(
    library_config: LibraryConfig, incoming: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    held: list[bool] = []

    @contextmanager
    def slot() -> Iterator[None]:
        held.append(True)
        try:
            yield
        finally:
            held.pop()

    read_in_slot: list[bool] = []
    hashed_in_slot: list[bool] = []

    def read_small(fd: int, cancelled: object = None, size: int | None = None) -> bytes | None:
        read_in_slot.append(bool(held))
        return hashing.read_small(fd, None, size)

    def hash_read(data: bytes, progress: object = None) -> hashing.Digests:
        hashed_in_slot.append(bool(held))
        return hashing.hash_read(data)

    monkeypatch.setattr(stage_mod, "read_small", read_small)
    monkeypatch.setattr(stage_mod, "hash_read", hash_read)
    source = synth.write_family(incoming / "m.safetensors", "vae_sd15")
    [plan], _ = plan_paths([source])
    library_config.tmp_dir.mkdir(parents=True, exist_ok=True)
    staged = stage_model(plan, library_config.tmp_dir, move=False, hardlink=True, read_slot=slot)
    try:
        assert read_in_slot == [True]
        assert hashed_in_slot == [False]
        assert staged.hashes.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    finally:
        undo_stage(staged.stage_dir, staged.files)
        staged.release()


def test_read_small_leaves_a_large_file_to_the_streaming_hash(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"\1" * (hashing.SMALL_FILE + 1))
    with open(big, "rb") as fh:
        assert hashing.read_small(fh.fileno()) is None
        assert hashing.hash_fd(fh.fileno()).sha256 == hashlib.sha256(big.read_bytes()).hexdigest()


def test_read_small_of_a_known_size_reads_the_whole_file_even_one_grown_since(tmp_path: Path) -> None:
    path = tmp_path / "m.bin"
    path.write_bytes(b"\2" * 5000)
    with open(path, "rb") as fh:
        assert hashing.read_small(fh.fileno(), None, 5000) == b"\2" * 5000
        assert hashing.read_small(fh.fileno(), None, 4000) == b"\2" * 5000  # grown since its stat
        assert hashing.read_small(fh.fileno(), None, hashing.SMALL_FILE + 1) is None
