"""Upload sessions on a real folder: append-only at the offset, hashes while receiving, restart, expiry."""

from __future__ import annotations

import hashlib
import json
import os
import time
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


# -- groups: the files of one drop, laid out as the user's folder ------------------------------------------


def grouped(store: UploadStore, rel: str, data: bytes, group: str = "drop-1", size: int = 2) -> str:
    session = store.create(rel.rsplit("/", 1)[-1], len(data), relative_path=rel, group=group, group_size=size)
    send(store, session.id, 0, data)
    return session.id


def test_group_laid_out_as_dropped_and_claimed_once(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "uploads")
    first = grouped(store, "set/a-00001-of-00002.safetensors", b"one")
    done = store.complete(first)
    assert done.group is not None and done.group.pending == 1
    assert store.groups.claim(done.group.folder) == (False, store.groups.state(done.group.folder))
    # A restarted server finds the same folder for the same group id, and counts from disk.
    restarted = UploadStore(tmp_path / "uploads")
    second = grouped(restarted, "set/a-00002-of-00002.safetensors", b"two")
    last = restarted.complete(second)
    assert last.group is not None and last.group.folder == done.group.folder and last.group.pending == 0
    folder = last.group.folder
    assert tree_of(restarted.groups.path(folder) / "files") == {
        "set/a-00001-of-00002.safetensors": b"one",
        "set/a-00002-of-00002.safetensors": b"two",
    }
    assert restarted.groups.import_paths(folder) == [restarted.groups.path(folder) / "files" / "set"]
    claimed, state = restarted.groups.claim(folder)
    assert claimed and state.claimed
    assert restarted.groups.claim(folder)[0] is False  # exactly one import
    assert restarted.describe(first)["group_pending"] == 0
    restarted.groups.set_job(folder, "job1")
    assert restarted.describe(first)["job_id"] == "job1"
    # Joining a group that is importing is refused.
    with pytest.raises(Conflict):
        restarted.create("c.bin", 3, relative_path="set/c.bin", group="drop-1", group_size=2)
    restarted.discard_group(folder)
    assert sorted(p.name for p in (tmp_path / "uploads").iterdir()) == [".group-key"]
    assert oct((tmp_path / "uploads" / ".group-key").stat().st_mode & 0o777) == "0o600"


def tree_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_group_folder_is_not_the_client_id(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "uploads")
    other = UploadStore(tmp_path / "other")
    session = store.create("a.bin", 3, group="drop-1", group_size=2)
    assert session.group == "drop-1" and session.group_folder is not None
    assert "drop-1" not in session.group_folder and "group_folder" not in session.to_dict()
    # Another key (another install) gives another folder: names cannot be guessed from the id.
    assert other.groups.folder_for("drop-1") != session.group_folder


@pytest.mark.parametrize(
    ("rel", "group", "size"),
    [
        ("../x.bin", "g", 2),
        ("/etc/x.bin", "g", 2),
        ("a\\x.bin", "g", 2),
        ("CON/x.bin", "g", 2),
        ("a/y.bin", "g", 2),
        ("x.bin", "../g", 2),
        ("x.bin", "g" * 65, 2),
        ("x.bin", "g", 0),
        ("x.bin", "g", 10_001),
        ("x.bin", "g", None),
        ("x.bin", None, 2),
    ],
)
def test_hostile_group_fields_write_nothing(
    tmp_path: Path, rel: str, group: str | None, size: int | None
) -> None:
    store = UploadStore(tmp_path / "uploads")
    with pytest.raises(InvalidInput):
        store.create("x.bin", 3, relative_path=rel, group=group, group_size=size)
    assert list((tmp_path / "uploads").iterdir()) == []


def test_group_path_conflicts(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "uploads")
    store.create("a.bin", 3, relative_path="m/a.bin", group="g", group_size=3)
    for rel in ("m/a.bin", "M/A.BIN", "m/a.bin/b.bin"):
        with pytest.raises(Conflict):
            store.create(rel.rsplit("/", 1)[-1], 3, relative_path=rel, group="g", group_size=3)
    with pytest.raises(Conflict):
        store.create("m", 3, relative_path="m", group="g", group_size=3)
    with pytest.raises(Conflict):
        store.create("b.bin", 3, relative_path="m/b.bin", group="g", group_size=4)
    # The refused ones left no session behind: only the one member and the group.
    sessions = [p for p in (tmp_path / "uploads").iterdir() if p.is_dir() and not p.name.startswith("group.")]
    assert len(sessions) == 1


def test_discarded_member_leaves_the_group(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "uploads")
    uid = grouped(store, "m/a.bin", b"abc")
    folder = store.complete(uid).group
    assert folder is not None
    store.discard(uid)
    state = store.groups.state(folder.folder)
    assert state.members == 0 and state.done == 0
    assert not store.groups.file_path(folder.folder, "m/a.bin").exists()
    again = grouped(store, "m/a.bin", b"abc")  # the path is free again
    assert store.complete(again).group is not None


def test_incomplete_group_expires(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "uploads", ttl_seconds=60)
    uid = grouped(store, "m/a.bin", b"abc")
    done = store.complete(uid)
    assert done.group is not None
    pending = store.create("b.bin", 3, relative_path="m/b.bin", group="drop-1", group_size=2)
    # Still live: nothing goes.
    assert store.cleanup_expired() == []
    assert store.groups.path(done.group.folder).exists()
    removed = store.cleanup_expired(now=time.time() + 3600)
    assert sorted(removed) == sorted([uid, pending.id])
    assert not store.groups.path(done.group.folder).exists()
    with pytest.raises(NotFound):
        store.get(pending.id)


def test_free_space_is_never_promised_twice(tmp_path: Path) -> None:
    import shutil

    from comfyui_model_library.core.errors import InsufficientSpace as NoSpace

    store = UploadStore(tmp_path / "uploads", free_space_margin=0)
    free = shutil.disk_usage(tmp_path).free
    first = store.create("big.safetensors", free * 6 // 10)
    with pytest.raises(NoSpace):
        store.create("second.safetensors", free * 6 // 10)
    store.discard(first.id)
    assert store.create("second.safetensors", free * 6 // 10).size == free * 6 // 10


def test_open_sessions_are_capped(tmp_path: Path) -> None:
    from comfyui_model_library.core.errors import Busy, TooManyUploads

    store = UploadStore(tmp_path / "uploads", max_open_sessions=3)
    for i in range(3):
        store.create(f"m{i}.safetensors", 10, client=f"10.0.0.{i}")
    with pytest.raises(TooManyUploads) as caught:
        store.create("m4.safetensors", 10, client="10.0.0.9")
    assert isinstance(caught.value, Busy) and caught.value.http_status == 429
    assert "DELETE /uploads" in caught.value.message


def test_default_limits_are_the_documented_ones() -> None:
    from comfyui_model_library.core import uploads

    assert (uploads.MAX_OPEN_SESSIONS, uploads.MAX_SESSIONS_PER_CLIENT) == (64, 16)
    assert uploads.DEFAULT_TTL_S == 24 * 3600


def test_sessions_per_client_are_capped_and_finished_ones_do_not_count(tmp_path: Path) -> None:
    from comfyui_model_library.core.errors import TooManyUploads

    store = UploadStore(tmp_path / "uploads", max_sessions_per_client=2)
    first = store.create("a.safetensors", 4, client="10.0.0.1")
    store.create("b.safetensors", 4, client="10.0.0.1")
    with pytest.raises(TooManyUploads):
        store.create("c.safetensors", 4, client="10.0.0.1")
    store.create("c.safetensors", 4, client="10.0.0.2")  # another client is not held up
    with store.open_writer(first.id, 0) as writer:
        writer.write(b"abcd")
    store.complete(first.id)  # finished: no longer open
    store.create("c.safetensors", 4, client="10.0.0.1")
    # The limit holds after a restart (the client is stored with the session).
    again = UploadStore(tmp_path / "uploads", max_sessions_per_client=2)
    with pytest.raises(TooManyUploads):
        again.create("d.safetensors", 4, client="10.0.0.1")


def test_an_idle_reservation_stops_holding_space_and_is_checked_again_on_resume(tmp_path: Path) -> None:
    import shutil
    import time

    from comfyui_model_library.core.errors import InsufficientSpace

    store = UploadStore(tmp_path / "uploads", free_space_margin=0)
    usable = shutil.disk_usage(store.root).free
    idle = store.create("idle.safetensors", usable * 6 // 10, client="10.0.0.1")
    with pytest.raises(InsufficientSpace):
        store.create("other.safetensors", usable * 6 // 10, client="10.0.0.2")
    store.cleanup_expired(now=time.time() + 2 * 3600)  # two hours without a byte: the hold lapses
    other = store.create("other.safetensors", usable * 6 // 10, client="10.0.0.2")
    assert store.get(idle.id).offset == 0  # still there, resumable
    with pytest.raises(InsufficientSpace, match="no longer free"):
        store.open_writer(idle.id, 0)
    store.discard(other.id)
    with store.open_writer(idle.id, 0) as writer:  # the space is free again: it resumes and holds it
        writer.write(b"x")
    with pytest.raises(InsufficientSpace):
        store.create("third.safetensors", usable * 6 // 10, client="10.0.0.3")


def test_an_import_that_ended_before_its_job_was_noted_leaves_nothing_behind(tmp_path: Path) -> None:
    """A file that is no model fails its import at once: the job may discard the session before the
    route notes the job's id on it. Noting it then is a no-op, not an error (it answered 500)."""
    store = UploadStore(tmp_path / "uploads")
    session = store.create("m.safetensors", len(DATA))
    send(store, session.id, 0, DATA)
    store.complete(session.id)
    store.discard(session.id)  # the quick job's end
    store.set_job(session.id, "job-1")
    assert list((tmp_path / "uploads").iterdir()) == []
