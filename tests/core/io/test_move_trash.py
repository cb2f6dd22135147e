"""Move import with its crash journal, commit, trash, atomic JSON."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from comfyui_model_library.core.errors import Cancelled, Conflict, InvalidInput, UnsafePath
from comfyui_model_library.core.io import moves
from comfyui_model_library.core.io.fileops import atomic_write_json, commit_file
from comfyui_model_library.core.io.moves import finish_move, move_and_hash, move_journal, recover_moves
from comfyui_model_library.core.io.trash import empty_trash, move_to_trash


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path, bytes]:
    data = os.urandom(300_000)
    src = tmp_path / "comfy" / "models" / "loras" / "style.safetensors"
    src.parent.mkdir(parents=True)
    src.write_bytes(data)
    tmp_dir = tmp_path / "library" / ".tmp"
    tmp_dir.mkdir(parents=True)
    return src, tmp_dir, data


def test_move_hashes_the_moved_file_and_journals_until_finished(layout: tuple[Path, Path, bytes]) -> None:
    src, tmp_dir, data = layout
    inode = src.stat().st_ino
    dest = tmp_dir / "m.part"
    digests = move_and_hash(src, dest)
    assert digests.sha256 == hashlib.sha256(data).hexdigest() and digests.size == len(data)
    assert not src.exists() and dest.stat().st_ino == inode  # a rename, not a copy
    journal = move_journal(dest)
    assert json.loads(journal.read_text()) == {"src": str(src), "dest": str(dest)}

    final = tmp_dir.parent / "models" / "x" / "style.safetensors"
    commit_file(dest, final)
    finish_move(journal)
    assert not journal.exists() and final.read_bytes() == data
    assert recover_moves(tmp_dir) == []


def test_crash_after_rename_before_commit_puts_the_file_back(layout: tuple[Path, Path, bytes]) -> None:
    src, tmp_dir, data = layout
    dest = tmp_dir / "m.part"
    # The state a kill -9 leaves between the rename and the commit: journal written, file renamed.
    atomic_write_json(move_journal(dest), {"src": str(src), "dest": str(dest)})
    os.rename(src, dest)
    assert recover_moves(tmp_dir) == [src]
    assert src.read_bytes() == data
    assert list(tmp_dir.iterdir()) == []


def test_crash_before_rename_only_drops_the_journal(layout: tuple[Path, Path, bytes]) -> None:
    src, tmp_dir, data = layout
    dest = tmp_dir / "m.part"
    atomic_write_json(move_journal(dest), {"src": str(src), "dest": str(dest)})
    assert recover_moves(tmp_dir) == []
    assert src.read_bytes() == data and list(tmp_dir.iterdir()) == []


def test_crash_inside_commit_keeps_the_committed_file_only(layout: tuple[Path, Path, bytes]) -> None:
    src, tmp_dir, data = layout
    dest = tmp_dir / "m.part"
    atomic_write_json(move_journal(dest), {"src": str(src), "dest": str(dest)})
    os.rename(src, dest)
    final = tmp_dir.parent / "final.safetensors"
    os.link(dest, final)  # commit_file's first step; killed before it unlinked the temp name
    assert recover_moves(tmp_dir) == []
    assert final.read_bytes() == data and list(tmp_dir.iterdir()) == []


def test_recovery_never_overwrites_a_new_file_at_the_source_path(layout: tuple[Path, Path, bytes]) -> None:
    src, tmp_dir, data = layout
    dest = tmp_dir / "m.part"
    atomic_write_json(move_journal(dest), {"src": str(src), "dest": str(dest)})
    os.rename(src, dest)
    src.write_bytes(b"the user saved something new here")
    assert recover_moves(tmp_dir) == []
    assert src.read_bytes() == b"the user saved something new here"
    assert dest.read_bytes() == data and move_journal(dest).exists()  # kept, nothing lost


def test_recovery_ignores_foreign_journals(layout: tuple[Path, Path, bytes], tmp_path: Path) -> None:
    _, tmp_dir, _ = layout
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    atomic_write_json(tmp_dir / "evil.move.json", {"src": str(tmp_path / "gone"), "dest": str(victim)})
    (tmp_dir / "junk.move.json").write_text("{not json")
    assert recover_moves(tmp_dir) == []
    assert victim.read_text() == "keep me"


def test_cancelled_move_puts_the_file_back_at_once(layout: tuple[Path, Path, bytes]) -> None:
    src, tmp_dir, data = layout
    with pytest.raises(Cancelled):
        move_and_hash(src, tmp_dir / "m.part", cancelled=lambda: True)
    assert src.read_bytes() == data and list(tmp_dir.iterdir()) == []


def test_move_refuses_links_and_taken_names(layout: tuple[Path, Path, bytes], tmp_path: Path) -> None:
    src, tmp_dir, data = layout
    link = tmp_path / "link.safetensors"
    link.symlink_to(src)
    with pytest.raises(UnsafePath):
        move_and_hash(link, tmp_dir / "m.part")
    (tmp_dir / "m.part").write_bytes(b"busy")
    with pytest.raises(Conflict):
        move_and_hash(src, tmp_dir / "m.part")
    assert src.read_bytes() == data and (tmp_dir / "m.part").read_bytes() == b"busy"
    assert not move_journal(tmp_dir / "m.part").exists()


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="needs a second filesystem")
def test_move_across_drives_is_refused_before_anything_moves(layout: tuple[Path, Path, bytes]) -> None:
    src, _, data = layout
    if os.stat("/dev/shm").st_dev == src.stat().st_dev:
        pytest.skip("/dev/shm is on the same filesystem here")
    import tempfile

    with tempfile.TemporaryDirectory(dir="/dev/shm") as other:
        with pytest.raises(InvalidInput, match="copy mode"):
            move_and_hash(src, Path(other) / "m.part")
        assert os.listdir(other) == []
    assert src.read_bytes() == data


def test_trash_then_empty_only_old_entries_without_following_links(tmp_path: Path) -> None:
    library = tmp_path / "library"
    trash = library / ".trash"
    model_dir = library / "models" / "abc"
    model_dir.mkdir(parents=True)
    (model_dir / "model.safetensors").write_bytes(b"weights")
    outside = tmp_path / "Documents"
    outside.mkdir()
    (outside / "thesis.txt").write_text("do not lose")
    (model_dir / "docs-link").symlink_to(outside)

    trashed = move_to_trash(model_dir, trash, "My Model: v1/../x")
    assert trashed.parent.parent == trash and trashed.name == "abc"
    assert not model_dir.exists() and (trashed / "model.safetensors").read_bytes() == b"weights"
    assert "/" not in trashed.parent.name.split("-", 1)[1].replace(os.sep, "")

    (trash / "link-entry").symlink_to(outside)  # an entry that is itself a link out of the trash
    os.utime(trash / "link-entry", (0, 0), follow_symlinks=False)
    assert empty_trash(trash, older_than_days=1) == [trash / "link-entry"]  # the fresh entry stays
    later = datetime.now(timezone.utc) + timedelta(days=2)
    assert empty_trash(trash, older_than_days=1, now=later) == [trashed.parent]
    assert list(trash.iterdir()) == []
    assert (outside / "thesis.txt").read_text() == "do not lose"


def test_two_trashings_in_the_same_second_get_distinct_folders(tmp_path: Path) -> None:
    trash = tmp_path / ".trash"
    for i in range(2):
        (tmp_path / f"f{i}").write_text(str(i))
    a = move_to_trash(tmp_path / "f0", trash, "same")
    b = move_to_trash(tmp_path / "f1", trash, "same")
    assert a.parent != b.parent and a.read_text() == "0" and b.read_text() == "1"


def test_atomic_write_json_round_trips_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "metadata.json"
    atomic_write_json(path, {"name": "Ünïcode", "n": 1})
    atomic_write_json(path, {"name": "second"})
    assert json.loads(path.read_text(encoding="utf-8")) == {"name": "second"}
    assert [p.name for p in path.parent.iterdir()] == ["metadata.json"]


def test_same_filesystem(tmp_path: Path) -> None:
    assert moves.same_filesystem(tmp_path, tmp_path.parent)
