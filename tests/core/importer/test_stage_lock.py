"""A live import's stage is never taken for an interrupted one, whenever another process recovers.

CI once saw two processes import the same file at once and one fail with "No such file or directory":
the second process's recovery (at ``Library.open``) removed the first one's stage in the moment between
its ``mkdir`` and its lock.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from comfyui_model_library.core.importer import stage_lock
from comfyui_model_library.core.importer.commit import ORPHANED_LOCK_AGE_S, recover
from comfyui_model_library.core.importer.stage_lock import (
    StageLock,
    new_stage_dir,
    stage_in_use,
    stage_lock_path,
)
from comfyui_model_library.core.library import Library
from tests import synth


def test_a_recovery_while_the_stage_folder_is_made_leaves_it(
    library: Library, incoming: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = library.config
    survived: list[bool] = []
    real_mkdir = Path.mkdir

    def mkdir_then_recover(self: Path, *args: object, **kwargs: object) -> None:
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]
        if self.name == "files" and self.parent.name.startswith(stage_lock.STAGE_PREFIX) and not survived:
            # Another process opening the library right now: its recovery must see a live stage.
            recover(config.root, config.tmp_dir, library.db, library.repo)
            survived.append(self.is_dir())

    monkeypatch.setattr(Path, "mkdir", mkdir_then_recover)
    [item] = library.imports.import_paths([synth.write_family(incoming / "m.safetensors", "sdxl_lora_kohya")])
    monkeypatch.undo()
    assert survived == [True], "the recovery left the new stage alone"
    assert item.status == "imported", item.error
    assert library.catalog.model_file_path(item.model.id).is_file()


def test_the_lock_is_held_before_the_stage_exists_and_gone_after_release(tmp_path: Path) -> None:
    stage, lock = new_stage_dir(tmp_path / "tmp")
    assert (stage / "files").is_dir()
    assert stage_in_use(stage)
    assert not StageLock(stage).acquire(), "a second holder is refused"
    lock.release()
    assert not stage_lock_path(stage).exists(), "no lock file is left behind"
    assert not stage_in_use(stage)
    assert not stage_lock_path(stage).exists(), "a check leaves no lock file either"


def test_recovery_removes_an_unlocked_stage_and_an_old_orphaned_lock_only(library: Library) -> None:
    config = library.config
    config.tmp_dir.mkdir(parents=True, exist_ok=True)
    crashed, crashed_lock = new_stage_dir(config.tmp_dir)
    (crashed / "files" / "partial.safetensors").write_bytes(b"\0" * 64)
    crashed_lock.release()  # as if its process were killed
    live, live_lock = new_stage_dir(config.tmp_dir)
    old_orphan = config.tmp_dir / f"{stage_lock.STAGE_PREFIX}dead{stage_lock.LOCK_SUFFIX}"
    old_orphan.write_bytes(b"")
    past = time.time() - ORPHANED_LOCK_AGE_S - 60
    os.utime(old_orphan, (past, past))
    fresh_orphan = config.tmp_dir / f"{stage_lock.STAGE_PREFIX}new{stage_lock.LOCK_SUFFIX}"
    fresh_orphan.write_bytes(b"")  # a lock file an import has just created and is about to take
    try:
        actions = recover(config.root, config.tmp_dir, library.db, library.repo)
        assert not crashed.exists()
        assert any(crashed.name in a for a in actions)
        assert (live / "files").is_dir(), "a live stage is left alone"
        assert stage_lock_path(live).exists()
        assert not old_orphan.exists()
        assert fresh_orphan.exists()
    finally:
        live_lock.release()


def test_a_refused_pickle_and_a_failed_commit_leave_no_stage_lock(
    library: Library, incoming: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_dir = library.config.tmp_dir
    [refused] = library.imports.import_paths(
        [synth.write_pickle_ckpt(incoming / "old.ckpt")], allow_pickle=False
    )
    assert refused.error_code == "pickle_needs_confirmation"
    assert list(tmp_dir.glob(f"{stage_lock.STAGE_PREFIX}*")) == []

    from comfyui_model_library.core.importer import commit

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(commit, "write_sidecar", fail)
    src = synth.write_family(incoming / "m.safetensors", "sdxl_lora_kohya")
    [failed] = library.imports.import_paths([src], move=True)
    assert failed.status == "failed" and "No space left" in (failed.error or "")
    assert src.is_file(), "the moved source is back"
    assert list(tmp_dir.glob(f"{stage_lock.STAGE_PREFIX}*")) == []


def test_stages_of_an_older_version_and_for_an_older_version_are_both_respected(library: Library) -> None:
    """ComfyUI upgraded, a CLI not yet (or the reverse): the older kind locks ``<stage>/.lock`` only."""
    from filelock import FileLock, Timeout

    config = library.config
    config.tmp_dir.mkdir(parents=True, exist_ok=True)
    older = config.tmp_dir / f"{stage_lock.STAGE_PREFIX}older"
    (older / "files").mkdir(parents=True)
    held_by_older = FileLock(str(older / stage_lock.INNER_LOCK))
    held_by_older.acquire(timeout=0)
    try:
        recover(config.root, config.tmp_dir, library.db, library.repo)
        assert (older / "files").is_dir(), "an older process's live stage is left alone"
    finally:
        held_by_older.release()
    recover(config.root, config.tmp_dir, library.db, library.repo)
    assert not older.exists(), "and removed once nobody holds it"

    ours, lock = new_stage_dir(config.tmp_dir)
    try:
        as_an_older_recovery_checks = FileLock(str(ours / stage_lock.INNER_LOCK))
        with pytest.raises(Timeout):
            as_an_older_recovery_checks.acquire(timeout=0)
    finally:
        lock.release()
