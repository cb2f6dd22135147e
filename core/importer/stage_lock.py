"""Stage folders and their locks: a live import's stage is never taken for an interrupted one."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path

from filelock import FileLock, Timeout

from ..errors import StorageError

LOCK_SUFFIX = ".lock"
STAGE_PREFIX = "stage-"


# Versions before the lock moved beside the stage locked ``<stage>/.lock`` only. A stage holds that lock
# too, and recovery honours it, so a library shared by an older process (a CLI or ``serve`` not yet
# upgraded, beside ComfyUI) never loses a live stage either way.
INNER_LOCK = ".lock"


class StageLock:
    """The lock a live import holds on its stage, kept *beside* the stage as ``<stage>.lock``.

    It is taken before the stage folder exists, so a recovery in another process never finds the folder
    unlocked (one ``.lock`` inside the folder left a moment between ``mkdir`` and the lock in which a
    recovery could remove a starting import's stage). Stage names are never reused, so removing the lock
    file after the release cannot let two processes hold "the same" lock.
    """

    def __init__(self, stage: Path) -> None:
        self.path = stage_lock_path(stage)
        self._lock = FileLock(str(self.path))
        self._inner = FileLock(str(stage / INNER_LOCK))

    def acquire(self) -> bool:
        return _try(self._lock)

    def hold_inside(self) -> None:
        """Also take the lock inside the (now existing) stage folder, the one older versions look at."""
        _try(self._inner)

    def release(self) -> None:
        self._inner.release()
        self._lock.release()
        with contextlib.suppress(OSError):
            self.path.unlink()


def _try(lock: FileLock) -> bool:
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return False
    return True


def stage_lock_path(stage: Path) -> Path:
    return stage.with_name(stage.name + LOCK_SUFFIX)


def new_stage_dir(tmp_dir: Path) -> tuple[Path, StageLock]:
    """A fresh stage folder, locked for as long as this process works in it (recovery skips it)."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    stage = tmp_dir / f"{STAGE_PREFIX}{uuid.uuid4().hex}"
    lock = StageLock(stage)
    if not lock.acquire():  # a fresh random name: only a clash of UUIDs could get here
        raise StorageError(f"The stage {stage} is locked by another process; try the import again.")
    try:
        (stage / "files").mkdir(parents=True)
        lock.hold_inside()
    except BaseException:
        lock.release()
        raise
    return stage, lock


def stage_in_use(stage: Path) -> bool:
    """A live process holds ``stage`` (this version's lock beside it, or an older one's inside it).
    Taking a free lock for a moment is harmless: nobody waits on it."""
    lock = StageLock(stage)
    if not lock.acquire():
        return True
    try:
        inner = stage / INNER_LOCK
        if not inner.is_file():
            return False
        legacy = FileLock(str(inner))
        if not _try(legacy):
            return True
        legacy.release()
        return False
    finally:
        lock.release()
