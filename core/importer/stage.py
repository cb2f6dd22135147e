"""Stage one planned model in the library's temp folder: open, validate, copy-or-move while hashing.

Each source file is opened once with ``O_NOFOLLOW`` and checked by ``fstat``; its header is validated
from magic bytes before a byte is copied (a hostile file stores nothing); the bytes are copied and hashed
in one pass (or, for a move on one filesystem, renamed and hashed once). The staged folder is
``<library>/.tmp/stage-<id>/files/`` laid out as the model's folder will be.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import Cancelled, InvalidInput, UnsafePath
from ..formats.detect import Detection, detect_diffusers_folder, detect_many
from ..formats.inspect import FileInfo, inspect_fd
from ..io.fileops import check_unchanged, copy_and_hash, move_and_hash, open_source
from ..io.hashing import Digests
from ..io.paths import validate_relpath
from ..models import Hashes, ModelFile
from .plan import MODEL_EXTENSIONS, PlannedModel, shard_of

BytesProgress = Callable[[int], None]
CancelledFn = Callable[[], bool]

_SECURITY_RANK = {"safe": 0, "unknown": 1, "pickle": 2}


@dataclass(frozen=True)
class StagedFile:
    rel_path: str
    source: Path
    staged: Path
    digests: Digests
    info: FileInfo | None
    moved: bool
    move_journal: Path | None = None


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

    @property
    def files_dir(self) -> Path:
        return self.stage_dir / "files"

    def model_files(self) -> tuple[ModelFile, ...]:
        return tuple(
            ModelFile(f.rel_path, f.digests.size, f.digests.blake3, f.digests.sha256) for f in self.files
        )


def new_stage_dir(tmp_dir: Path) -> Path:
    stage = tmp_dir / f"stage-{uuid.uuid4().hex}"
    (stage / "files").mkdir(parents=True)
    return stage


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
    progress: BytesProgress | None = None,
    cancelled: CancelledFn | None = None,
) -> StagedModel:
    """Stage ``plan`` under ``tmp_dir``. On any failure the stage is undone (moves put back) and re-raised."""
    stage = new_stage_dir(tmp_dir)
    staged: list[StagedFile] = []
    try:
        tmp_dev = os.stat(tmp_dir).st_dev
        for source, rel in zip(plan.files, plan.rel_paths):
            if cancelled is not None and cancelled():
                raise Cancelled(f"Import of {plan.origin} was cancelled; nothing was stored.")
            validate_relpath(rel)
            dest = stage / "files" / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            staged.append(_stage_file(source, rel, dest, tmp_dev, move=move, progress=progress,
                                      cancelled=cancelled))
        return _describe(plan, stage, tuple(staged))
    except BaseException:
        undo_stage(stage, tuple(staged))
        raise


def _stage_file(
    source: Path,
    rel: str,
    dest: Path,
    tmp_dev: int,
    *,
    move: bool,
    progress: BytesProgress | None,
    cancelled: CancelledFn | None,
) -> StagedFile:
    is_link = stat.S_ISLNK(os.lstat(source).st_mode)
    if is_link and move:
        raise UnsafePath(
            f"{source} is a symbolic link; a move would leave the link dangling. Import it without --move, "
            "or move the file it points to."
        )
    real = source.resolve(strict=True) if is_link else source
    fd, src_stat = open_source(real)
    try:
        info = _inspect(fd, src_stat.size, real.name, rel)
        if move and src_stat.device == tmp_dev:
            os.close(fd)
            fd = -1
            digests = move_and_hash(real, dest, expected=src_stat, progress=progress, cancelled=cancelled)
            return StagedFile(rel, real, dest, digests, info, True, _journal_for(dest))
        digests = copy_and_hash(fd, src_stat, dest, progress=progress, cancelled=cancelled)
        check_unchanged(fd, real, src_stat)
        return StagedFile(rel, real, dest, digests, info, False)
    finally:
        if fd >= 0:
            os.close(fd)


def _journal_for(dest: Path) -> Path:
    return dest.with_name(dest.name + ".move.json")


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


def _describe(plan: PlannedModel, stage: Path, files: tuple[StagedFile, ...]) -> StagedModel:
    infos = [f.info for f in files if f.info is not None]
    names = [f.rel_path for f in files if f.info is not None]
    warnings = list(plan.warnings)
    if plan.format == "diffusion-folder":
        detection = detect_diffusers_folder(stage / "files")
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


def undo_stage(stage: Path, files: tuple[StagedFile, ...]) -> None:
    """Put moved sources back where the user had them, then remove the stage (it is ours alone)."""
    for f in files:
        if f.moved and f.staged.exists() and not os.path.lexists(f.source):
            os.rename(f.staged, f.source)
        if f.move_journal is not None:
            try:
                f.move_journal.unlink()
            except FileNotFoundError:
                pass
    remaining_moved = [f for f in files if f.moved and f.staged.exists()]
    if remaining_moved:
        # The source name was taken meanwhile: keep the bytes rather than delete a user's data.
        return
    shutil.rmtree(stage, ignore_errors=True)
