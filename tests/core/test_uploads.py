"""Upload sessions on a real folder: append-only at the offset, hashes while receiving, restart, expiry."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import blake3
import pytest

from comfyui_model_library.core.errors import (
    Conflict,
    InsufficientSpace,
    InvalidInput,
    NotFound,
)
from comfyui_model_library.core.uploads import UploadOffsetMismatch, UploadStore

DATA = os.urandom(3 * 1024 * 1024 + 17)


def send(store: UploadStore, upload_id: str, start: int, data: bytes, piece: int = 65536) -> int:
    with store.open_writer(upload_id, start) as writer:
        for i in range(0, len(data), piece):
            writer.write(data[i : i + piece])
    return writer.session.offset


def test_full_upload_hashes_and_file(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "uploads")
    session = store.create("My Model.safetensors", len(DATA))
    assert session.offset == 0 and session.to_dict()["upload_id"] == session.id
    assert send(store, session.id, 0, DATA) == len(DATA)
    done = store.complete(session.id)
    assert done.path.read_bytes() == DATA
    assert done.path.name == "My Model.safetensors"
    assert done.sha256 == hashlib.sha256(DATA).hexdigest()
    assert done.blake3 == blake3.blake3(DATA).hexdigest()
    assert store.get(session.id).complete
    with pytest.raises(Conflict):
        store.open_writer(session.id, len(DATA))
    store.discard(session.id)
    with pytest.raises(NotFound):
        store.get(session.id)
    assert list((tmp_path / "uploads").iterdir()) == []


def test_resume_in_pieces_and_after_restart(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "uploads")
    session = store.create("m.safetensors", len(DATA))
    assert send(store, session.id, 0, DATA[:1000]) == 1000
    with pytest.raises(UploadOffsetMismatch) as info:
        store.open_writer(session.id, 0)
    assert info.value.offset == 1000 and info.value.http_status == 409
    # A new store on the same folder is a restarted server: the hasher state is rebuilt from disk.
    restarted = UploadStore(tmp_path / "uploads")
    assert restarted.get(session.id).offset == 1000
    send(restarted, session.id, 1000, DATA[1000:2_000_000])
    send(restarted, session.id, 2_000_000, DATA[2_000_000:])
    done = restarted.complete(session.id)
    assert done.sha256 == hashlib.sha256(DATA).hexdigest()
    assert done.blake3 == blake3.blake3(DATA).hexdigest()


def test_one_writer_at_a_time_and_no_overrun(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "uploads")
    session = store.create("m.safetensors", 10)
    writer = store.open_writer(session.id, 0)
    with pytest.raises(Conflict):
        store.open_writer(session.id, 0)
    writer.write(b"12345")
    with pytest.raises(InvalidInput):
        writer.write(b"1234567")
    writer.close()
    assert store.get(session.id).offset == 5
    with pytest.raises(UploadOffsetMismatch):
        store.complete(session.id)


@pytest.mark.parametrize(
    "name", ["../../custom_nodes/x/__init__.py", "..", "a/b.safetensors", "CON", "x\x00.safetensors", ""]
)
def test_hostile_filenames_refused(tmp_path: Path, name: str) -> None:
    store = UploadStore(tmp_path / "uploads")
    with pytest.raises(InvalidInput):
        store.create(name, 10)
    assert list((tmp_path / "uploads").iterdir()) == []


def test_size_checks(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "uploads", max_size=100)
    for bad in (0, -1, True, "10", 101):
        with pytest.raises(InvalidInput):
            store.create("m.safetensors", bad)  # type: ignore[arg-type]
    huge = UploadStore(tmp_path / "uploads2", max_size=1 << 62)
    with pytest.raises(InsufficientSpace):
        huge.create("m.safetensors", 1 << 60)


def test_ids_cannot_traverse(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "uploads")
    for bad in ("../../etc", "a" * 200, "x/y", ""):
        with pytest.raises(NotFound):
            store.get(bad)


def test_expired_sessions_are_removed(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "uploads", ttl_seconds=60)
    old = store.create("old.safetensors", 10)
    fresh = store.create("new.safetensors", 10)
    meta = tmp_path / "uploads" / old.id / "session.json"
    raw = json.loads(meta.read_text())
    raw["updated_at"] -= 3600
    meta.write_text(json.dumps(raw))
    assert store.cleanup_expired() == [old.id]
    assert store.get(fresh.id).offset == 0
    with pytest.raises(NotFound):
        store.get(old.id)


def test_filename_named_like_our_own_files(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "uploads")
    session = store.create("session.json", 3)
    send(store, session.id, 0, b"abc")
    done = store.complete(session.id)
    assert done.path.read_bytes() == b"abc"
    assert store.get(session.id).complete
