"""Stage one planned model in the library's temp folder: open, validate, copy-or-move while hashing.

Each source file is opened once with ``O_NOFOLLOW`` and checked by ``fstat``; its header is validated
from magic bytes before a byte is copied (a hostile file stores nothing); the bytes are copied and hashed
in one pass (or, for a move on one filesystem, renamed and hashed once). The staged folder is
``<library>/.tmp/stage-<id>/files/`` laid out as the model's folder will be.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import logging
import os
import shutil
import stat
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Cancelled, Conflict, InvalidInput, SourceChanged, UnsafePath
from ..formats.detect import Detection, detect_diffusers_folder, detect_many
from ..formats.inspect import FileInfo, inspect_fd
from ..io.copying import copy_and_hash
from ..io.fileops import SourceStat, atomic_write_json, check_unchanged, fsync_dir, open_source
from ..io.hashing import Digests, hash_fd, hash_read, read_small
from ..io.paths import is_within, validate_relpath
from ..models import Hashes, ModelFile
from ..records.kinds import RecordError
from ..types import ByteProgress, CancelCheck
from .journal import MOVES_FILE, Move, Moves
from .plan import MODEL_EXTENSIONS, PlannedModel, readable_link_target
from .shards import shard_of
from .stage_lock import StageLock, new_stage_dir

log = logging.getLogger(__name__)


# What ``stage_model`` holds while it reads a source: its drive's slot (``DriveLimiter.slot``).
ReadSlot = Callable[[], AbstractContextManager[object]]

_SECURITY_RANK = {"safe": 0, "unknown": 1, "pickle": 2}
_GROUPED_STAGES = itertools.count()  # numbers the stages made in group folders (next() is thread-safe)


@dataclass(frozen=True)
class StagedFile:
    rel_path: str
    source: Path
    staged: Path
    digests: Digests
    info: FileInfo | None
    moved: bool
    source_stat: SourceStat | None = None


@dataclass(frozen=True)
class StagedModel:
    plan: PlannedModel
    stage_dir: Path
    files: tuple[StagedFile, ...]
    detection: Detection
    file_format: str
    security: str
    hashes: Hashes
    size: int
    metadata: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    lock: StageLock | None = None
    batch: Path | None = None  # the locked group folder this stage lies in (``group.py``), if any

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()

    @property
    def files_dir(self) -> Path:
        """The folder that becomes the model's: a grouped stage is that folder itself (one folder fewer
        to make per small model; the group's lock and journal rows cover it)."""
        return self.stage_dir if self.batch is not None else self.stage_dir / "files"

    def model_files(self) -> tuple[ModelFile, ...]:
        return tuple(
            ModelFile(f.rel_path, f.digests.size, f.digests.blake3, f.digests.sha256) for f in self.files
        )


def composite_hashes(files: tuple[ModelFile, ...]) -> Hashes:
    """A multi-file model's hashes: BLAKE3 / SHA-256 over its sorted manifest of (path, size, file hash).

    A single file's hashes are the file's own, so a checkpoint's sha256 matches the Hub's LFS oid.
    """
    if len(files) == 1:
        return Hashes(files[0].blake3, files[0].sha256)
    import blake3

    ordered = sorted(files, key=lambda f: f.path)
    b3 = blake3.blake3()
    sha = hashlib.sha256()
    for f in ordered:
        b3.update(f"{f.path}\t{f.size}\t{f.blake3}\n".encode())
        sha.update(f"{f.path}\t{f.size}\t{f.sha256}\n".encode())
    return Hashes(b3.hexdigest(), sha.hexdigest())


def stage_model(
    plan: PlannedModel,
    tmp_dir: Path,
    *,
    move: bool,
    hardlink: bool = False,
    roots: list[Path] | None = None,
    progress: ByteProgress | None = None,
    cancelled: CancelCheck | None = None,
    batch: Path | None = None,
    read_slot: ReadSlot = nullcontext,
    tmp_dev: int | None = None,
) -> StagedModel:
    """Stage ``plan`` under ``tmp_dir``. On any failure the stage is undone (moves put back) and re-raised.

    ``hardlink`` (same filesystem only; else a copy): the stage gets a second name for the source's inode,
    O(1) and leaving the source untouched; adoption uses it so an original name never stops resolving.
    ``batch``: a group folder this process holds locked; the stage is made inside it, under the group's
    lock (taking a lock per stage costs more than committing a small model). Never with ``move``.
    ``read_slot``: held while a source file is read (its drive's slot, ``io/drives.py``), not while the
    bytes of a small file, read whole, are hashed or while folders are made, so the drive serves the next
    read while this one is hashed.
    ``tmp_dev``: the device of ``tmp_dir`` as the caller's run found it (a run stages thousands of small
    models there); found here when not given. Never kept past a run: a drive plugged in again gets a new
    device number, and a stale one would turn every later hard link or move into a copy.
    """
    # Links of a Diffusers folder or a set may lead anywhere inside it; a single file's only to a model.
    top = str(plan.origin) if plan.format in ("diffusion-folder", "sharded-set") else None
    lock: StageLock | None
    if batch is not None:
        if move:
            raise ValueError("moves are journalled per stage: a grouped stage never moves")
        # Unique: the group folder's name is a fresh UUID, the number this process's next.
        stage, lock = batch / f"{batch.name}-{next(_GROUPED_STAGES)}", None
        files = stage
        stage.mkdir()
    else:
        stage, lock = new_stage_dir(tmp_dir)
        files = stage / "files"
    staged: list[StagedFile] = []
    try:
        if tmp_dev is None:
            tmp_dev = os.stat(tmp_dir).st_dev
        for source, rel in zip(plan.files, plan.rel_paths):
            if cancelled is not None and cancelled():
                raise Cancelled(f"Import of {plan.origin} was cancelled; nothing was stored.")
            validate_relpath(rel)
            dest = files / rel
            if dest.parent != files:
                dest.parent.mkdir(parents=True, exist_ok=True)
            staged.append(
                _stage_file(
                    source,
                    rel,
                    dest,
                    stage,
                    tmp_dev,
                    top=top,
                    move=move,
                    hardlink=hardlink,
                    roots=roots,
                    progress=progress,
                    cancelled=cancelled,
                    read_slot=read_slot,
                )
            )
        described = describe_staged(plan, stage, tuple(staged), files)
        return StagedModel(**{**described.__dict__, "lock": lock, "batch": batch})
    except BaseException:
        undo_stage(stage, tuple(staged))
        if lock is not None:
            lock.release()
        raise


def _link_target(source: Path, top: str | None) -> Path:
    """The file a link found by the plan points to NOW, judged again by the plan's rule
    (``readable_link_target``): the plan looked at it before earlier models were copied, minutes ago,
    and a link swapped meanwhile for one to ``~/.ssh/id_ed25519`` must not be read."""
    target = readable_link_target(str(source), top)
    if target is None:
        raise UnsafePath(
            f"{source} now links to {os.path.realpath(source)}, which is not named like a model file and "
            "lies outside what was imported; it was not read and nothing of this model was imported"
        )
    return Path(target)


def _stage_file(
    source: Path,
    rel: str,
    dest: Path,
    stage: Path,
    tmp_dev: int,
    *,
    top: str | None,
    move: bool,
    hardlink: bool,
    roots: list[Path] | None,
    progress: ByteProgress | None,
    cancelled: CancelCheck | None,
    read_slot: ReadSlot,
) -> StagedFile:
    is_link = stat.S_ISLNK(os.lstat(source).st_mode)
    if is_link and move:
        raise UnsafePath(
            f"{source} is a symbolic link; a move would leave the link dangling. Import it without --move, "
            "or move the file it points to."
        )
    real = _link_target(source, top) if is_link else source
    fd, src_stat = open_source(real)
    try:
        if roots is not None:
            _check_opened(fd, real, roots)
        elif is_link:
            _check_opened(fd, real, [real])  # the target itself, not a folder swapped in on its way
        with read_slot():
            info = _inspect(fd, src_stat.size, real.name, rel)
            if move and src_stat.device == tmp_dev:
                digests = _move_and_hash(fd, real, dest, stage, src_stat, progress, cancelled)
                return StagedFile(rel, real, dest, digests, info, True)
            if not (hardlink and src_stat.device == tmp_dev and _try_link(real, dest)):
                digests = copy_and_hash(
                    fd, src_stat, dest, progress=progress, cancelled=cancelled, src_path=real
                )
                check_unchanged(fd, real, src_stat)
                return StagedFile(rel, real, dest, digests, info, False, src_stat)
            data = read_small(fd, cancelled, src_stat.size)  # nothing read from the fd yet: at its start
            if data is None:
                digests = hash_fd(fd, progress=progress, cancelled=cancelled)
        if data is not None:
            digests = hash_read(data, progress)  # CPU only: the drive's slot is free for the next read
        check_unchanged(fd, real, src_stat)
        return StagedFile(rel, real, dest, digests, info, False)
    finally:
        os.close(fd)


def _move_and_hash(
    fd: int,
    src: Path,
    dest: Path,
    stage: Path,
    src_stat: Any,
    progress: ByteProgress | None,
    cancelled: CancelCheck | None,
) -> Digests:
    """Move by rename (O(1)), then one hashing read of the open file.

    The move is journalled in the stage's ``moves.json`` before the rename, so after a crash recovery
    puts the file back where the user had it (THREATS invariant 5) unless the stage was committed.
    """
    record_move(stage, src, dest)
    try:
        os.link(src, dest, follow_symlinks=False)
    except FileExistsError as exc:
        raise Conflict(f"{dest} already exists; nothing was moved") from exc
    except OSError:
        os.rename(src, dest)  # filesystems without hard links
    else:
        os.unlink(src)
    fsync_dir(dest.parent)
    fsync_dir(src.parent)
    digests = hash_fd(fd, progress=progress, cancelled=cancelled)
    if digests.size != src_stat.size:
        raise SourceChanged(f"{src} changed while it was read; nothing was imported; try again later")
    check_unchanged(fd, dest, src_stat)
    return digests


def _check_opened(fd: int, path: Path, roots: list[Path]) -> None:
    """The file actually opened must be inside the roots: a folder swapped for a symlink between the
    path check and the open (O_NOFOLLOW guards only the last component) is caught here."""
    opened = _fd_path(fd)
    if opened is None:
        return
    if not any(is_within(opened, root.resolve()) for root in roots):
        raise UnsafePath(
            f"{path} resolved outside the import roots while it was opened; nothing was imported."
        )


def _fd_path(fd: int) -> Path | None:
    proc = Path(f"/proc/self/fd/{fd}")
    try:
        return Path(os.readlink(proc))
    except OSError:
        pass
    try:
        import fcntl

        get_path = getattr(fcntl, "F_GETPATH", None)  # macOS
        if get_path is not None:
            raw = fcntl.fcntl(fd, get_path, b"\0" * 1024)
            return Path(raw.split(b"\0", 1)[0].decode())
    except OSError:
        pass
    return None


def _try_link(src: Path, dest: Path) -> bool:
    try:
        os.link(src, dest, follow_symlinks=False)
    except OSError:
        return False  # no hard links here (FAT, some shares): the caller copies instead
    return True


def record_move(stage: Path, src: Path, dest: Path) -> None:
    moves = (*Moves.read(stage).moves, Move(str(src), str(dest)))
    atomic_write_json(stage / MOVES_FILE, Moves(moves).to_json())


def read_moves(stage: Path) -> tuple[Move, ...]:
    """The moves journalled in ``stage`` (see ``journal.py``). Raises ``NewerRecord`` for a newer file."""
    return Moves.read(stage).moves


def put_moves_back(stage: Path) -> bool:
    """Return moved files of an uncommitted stage to their sources. True if nothing of theirs remains."""
    try:
        moves = read_moves(stage)
    except RecordError as exc:  # the stage may hold the user's moved files: keep it
        log.warning("model library: kept %s: %s", stage, exc)
        return False
    clean = True
    for move in moves:
        src, dest = Path(move.src), Path(move.dest)
        if stage not in dest.parents or not os.path.lexists(dest):
            continue
        if os.path.lexists(src):
            try:
                if os.path.samefile(src, dest):  # crashed between link and unlink
                    os.unlink(dest)
                    continue
            except OSError:
                pass
            clean = False  # the name was taken meanwhile: keep the bytes, never delete them
            continue
        try:
            src.parent.mkdir(parents=True, exist_ok=True)
            os.rename(dest, src)
            fsync_dir(src.parent)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                clean = False
    return clean


def _inspect(fd: int, size: int, name: str, rel: str) -> FileInfo | None:
    """Validate model files from their header; configs and tokenizers of a Diffusers folder pass as is."""
    lower = name.lower()
    ext = os.path.splitext(lower)[1]
    if ext in MODEL_EXTENSIONS or shard_of(name) is not None:
        return inspect_fd(fd, size, name)
    if rel.count("/") == 0 and not lower.endswith(".json"):
        # A lone non-model file named by the user: sniff it anyway, so junk is reported as junk.
        return inspect_fd(fd, size, name)
    return None


def describe_staged(
    plan: PlannedModel, stage: Path, files: tuple[StagedFile, ...], files_dir: Path | None = None
) -> StagedModel:
    infos = [f.info for f in files if f.info is not None]
    names = [f.rel_path for f in files if f.info is not None]
    warnings = list(plan.warnings)
    if plan.format == "diffusion-folder":
        detection = detect_diffusers_folder(files_dir or stage / "files")
        file_format = "diffusers"
    elif not infos:
        raise InvalidInput(f"{plan.origin} holds no model file that could be read.")
    else:
        detection = detect_many(infos, names) if len(infos) > 1 else infos[0].detection
        file_format = infos[0].file_format
    security = "safe"
    for info in infos:
        if _SECURITY_RANK.get(info.security, 1) > _SECURITY_RANK[security]:
            security = info.security
    if plan.format == "diffusion-folder" and not infos:
        security = "unknown"
    if security == "pickle":
        warnings.append(
            "pickle format: the file can run code when loaded by other tools; it was stored, never unpickled"
        )
    for info in infos:  # what inspection found (risky pickle imports, an unrecognised format), once each
        warnings.extend(w for w in info.warnings if w not in warnings and not w.startswith("pickle format:"))
    model_files = tuple(
        ModelFile(f.rel_path, f.digests.size, f.digests.blake3, f.digests.sha256) for f in files
    )
    metadata = dict(infos[0].metadata) if infos else {}
    return StagedModel(
        plan=plan,
        stage_dir=stage,
        files=files,
        detection=detection,
        file_format=file_format,
        security=security,
        hashes=composite_hashes(model_files),
        size=sum(f.digests.size for f in files),
        metadata=metadata,
        warnings=tuple(warnings),
    )


def undo_stage(stage: Path, files: tuple[StagedFile, ...] = ()) -> None:
    """Put moved sources back where the user had them, then remove the stage (it is ours alone)."""
    if put_moves_back(stage):
        shutil.rmtree(stage, ignore_errors=True)
