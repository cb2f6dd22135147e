"""Commit a staged model into the library, crash-safe.

Order (each step durable before the next):
1. de-duplicate by BLAKE3 against the catalog (a duplicate records its origin and discards the stage);
2. write ``metadata.json`` into the stage;
3. a journal row names the stage and its final folder;
4. one ``rename`` of the staged folder to ``models/<type>/<base>/<name>/`` (fsync of both parents);
5. the catalog row is inserted and the journal row deleted in one transaction.

Small models are committed many at a time in the same order (``group.py``). ``recover(...)`` finishes or
undoes whatever a crash interrupted: a journalled folder already in place gets its row from its
``metadata.json``; moved sources still in a stage go back to where the user had them.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..catalog.db import Database
from ..catalog.journal import JournalTable, NewerRecord
from ..catalog.sidecar import SIDECAR_NAME, read_sidecar, write_sidecar
from ..catalog.store import CatalogStore
from ..errors import Conflict, ModelLibraryError
from ..io.fileops import fsync_dir
from ..io.hashing import hash_path
from ..io.paths import sanitize_component
from ..io.trash import move_to_trash
from ..models import Model, ModelSource, model_id_from_blake3, utcnow
from ..origins.trigger_words import local_trigger_words
from ..records.kinds import RecordError
from ..taxonomy import BaseModelType, FileFormat, Location, ModelFormat, ModelType, SecurityLevel
from .journal import GROUP_OP, JOURNAL_OP, Placing
from .stage import StagedModel, put_moves_back, read_moves
from .stage_lock import LOCK_SUFFIX, STAGE_PREFIX, stage_in_use

ORPHANED_LOCK_AGE_S = 3600.0


@dataclass(frozen=True)
class CommitResult:
    model: Model
    duplicate: bool


def model_folder_rel(model_type: str, base_model: str, name: str) -> str:
    return "/".join(
        (
            "models",
            sanitize_component(model_type, fallback="unknown"),
            sanitize_component(base_model, fallback="unknown"),
            sanitize_component(name, fallback="model"),
        )
    )


def commit_staged(
    staged: StagedModel,
    *,
    library_root: Path,
    db: Database,
    repo: CatalogStore[Any],
    trash_dir: Path,
    origin_kind: str = "import",
    source: ModelSource | None = None,
    name: str | None = None,
) -> CommitResult:
    """Commit ``staged``; its lock is released on success. On failure the caller undoes the stage and
    then releases it, so that a recovery in another process never finds it unlocked and half undone.

    The content lock makes imports of the same bytes elsewhere at this moment (another machine of a
    shared library) wait for this decision and find the model, instead of placing a second folder."""
    with repo.content_lock(staged.hashes.blake3):
        result = _commit(staged, library_root, db, repo, trash_dir, origin_kind, source, name)
    staged.release()
    return result


def _commit(
    staged: StagedModel,
    library_root: Path,
    db: Database,
    repo: CatalogStore[Any],
    trash_dir: Path,
    origin_kind: str,
    source: ModelSource | None,
    name: str | None,
) -> CommitResult:
    existing = repo.by_blake3(staged.hashes.blake3)
    if existing is not None:
        # A moved file is the user's only copy: trust the library's copy only after reading it.
        verify = any(f.moved for f in staged.files)
        if existing.location == "library" and _library_copy_intact(existing, library_root, verify=verify):
            _discard_duplicate(staged, trash_dir, existing.id)
            _record_origin(repo, existing, str(staged.plan.origin), origin_kind, library_root)
            return CommitResult(existing, True)
        # Known only in place (a source), or its library copy is gone: these bytes become its library
        # copy. Never discard them: in move mode they are the user's only copy.
        return _attach(staged, existing, library_root, db, repo, trash_dir, origin_kind)

    model = new_model(staged, name, source)
    final_rel = _place(staged, model, library_root, db, origin_kind)
    model = model.replace(rel_dir=final_rel)
    try:
        with db.transaction():
            repo.add(model, origin=(str(staged.plan.origin), origin_kind))
            placing_journal(db, staged).delete(staged.stage_dir.name)
    except Conflict:
        won = lost_race(staged, model, library_root, db, repo, trash_dir, origin_kind)
        if won is None:
            raise
        return won
    # Committed: the moved sources now live in the library; the stage (and its move journal) goes.
    shutil.rmtree(staged.stage_dir, ignore_errors=True)
    return CommitResult(model, False)


def placing_journal(db: Database, staged: StagedModel) -> JournalTable:
    """Where the ``Placing`` row of ``staged`` goes: a grouped stage's under its own op (``journal.py``)."""
    return JournalTable(db, GROUP_OP if staged.batch is not None else JOURNAL_OP)


def placing_of(staged: StagedModel, final_rel: str) -> Placing:
    return Placing(str(staged.stage_dir), final_rel, str(staged.batch) if staged.batch is not None else "")


def lost_race(
    staged: StagedModel,
    model: Model,
    library_root: Path,
    db: Database,
    repo: CatalogStore[Any],
    trash_dir: Path,
    origin_kind: str,
) -> CommitResult | None:
    """Another process committed the same bytes between our check and our insert: one model stays
    (None: the insert failed for another reason; the caller raises its error).

    The winner may be our own folder: a rebuild on another machine of a shared library read it from
    the share after we placed it. Then it stays, and our import is done."""
    winner = repo.by_blake3(staged.hashes.blake3)
    if winner is not None and winner.location == "library" and winner.rel_dir == model.rel_dir:
        placing_journal(db, staged).delete(staged.stage_dir.name)
        shutil.rmtree(staged.stage_dir, ignore_errors=True)
        return CommitResult(winner, False)
    _unplace(library_root / model.rel_dir, staged, trash_dir)
    placing_journal(db, staged).delete(staged.stage_dir.name)
    if winner is None:
        return None
    _record_origin(repo, winner, str(staged.plan.origin), origin_kind, library_root)
    return CommitResult(winner, True)


def new_model(staged: StagedModel, name: str | None, source: ModelSource | None) -> Model:
    """The catalog's model for freshly staged bytes, at its wished-for folder (placing may rename it)."""
    now = utcnow()
    model_name = name or staged.plan.name
    detection = staged.detection
    base_rel = model_folder_rel(detection.type, detection.base_model, model_name)
    return Model(
        id=model_id_from_blake3(staged.hashes.blake3),
        name=model_name,
        type=ModelType.of(detection.type),
        base_model=BaseModelType.of(detection.base_model),
        format=ModelFormat.of(staged.plan.format),
        file_format=FileFormat.of(staged.file_format),
        security=SecurityLevel.of(staged.security),
        size=staged.size,
        hashes=staged.hashes,
        files=staged.model_files(),
        location=Location.LIBRARY,
        rel_dir=base_rel,
        source=source or ModelSource(kind="local"),
        added_at=now,
        updated_at=now,
        metadata=staged.metadata,
        warnings=staged.warnings,
        trigger_words=local_trigger_words(staged.metadata),
    )


def _record_origin(repo: CatalogStore[Any], model: Model, path: str, kind: str, library_root: Path) -> None:
    """Another place these bytes came from: in the catalog, and in the model's metadata.json (the disk is
    the truth a rebuild reads; the origins' file names make the model findable by them)."""
    repo.add_origin(model.id, path, kind)
    if model.location == "library":
        folder = library_root.joinpath(*model.rel_dir.split("/"))
        if folder.is_dir():
            write_sidecar(folder, model, origins=repo.origins(model.id))


def _library_copy_intact(model: Model, library_root: Path, *, verify: bool = False) -> bool:
    """The library copy is there with its recorded sizes (and, with ``verify``, its recorded BLAKE3)."""
    folder = library_root.joinpath(*model.rel_dir.split("/"))
    for f in model.files:
        path = folder.joinpath(*f.path.split("/"))
        try:
            if path.stat().st_size != f.size:
                return False
            if verify and hash_path(path).blake3 != f.blake3:
                return False
        except (OSError, ModelLibraryError):
            return False
    return True


def _attach(
    staged: StagedModel,
    existing: Model,
    library_root: Path,
    db: Database,
    repo: CatalogStore[Any],
    trash_dir: Path,
    origin_kind: str,
) -> CommitResult:
    from ..sources.registry import SourceRegistry

    old_folder = (
        library_root.joinpath(*existing.rel_dir.split("/")) if existing.location == "library" else None
    )
    target = existing.replace(
        location="library",
        rel_dir=model_folder_rel(existing.type, existing.base_model, existing.name),
        files=staged.model_files(),
        state="ready",
    )
    final_rel = _place(staged, target, library_root, db, origin_kind)
    files = [(f.path, f.size, f.blake3, f.sha256) for f in staged.model_files()]
    SourceRegistry(db).attach_library_copy(existing.id, final_rel, files)
    _record_origin(repo, repo.get(existing.id), str(staged.plan.origin), origin_kind, library_root)
    placing_journal(db, staged).delete(staged.stage_dir.name)
    if old_folder is not None and old_folder.exists() and old_folder != library_root / final_rel:
        move_to_trash(old_folder, trash_dir, f"{existing.id}-incomplete")  # ours, and broken
    shutil.rmtree(staged.stage_dir, ignore_errors=True)
    return CommitResult(repo.get(existing.id), False)


def _place(
    staged: StagedModel, model: Model, library_root: Path, db: Database, origin_kind: str = "import"
) -> str:
    """Rename the staged folder into its final place, under a unique name; returns the final rel_dir."""
    files_dir = staged.files_dir
    base_rel = model.rel_dir
    parent = library_root / base_rel.rsplit("/", 1)[0]
    parent.mkdir(parents=True, exist_ok=True)
    leaf = base_rel.rsplit("/", 1)[1]
    for attempt in range(1, 1000):
        candidate_leaf = leaf if attempt == 1 else f"{leaf}-{attempt}"
        final_rel = f"{base_rel.rsplit('/', 1)[0]}/{candidate_leaf}"
        final = library_root / final_rel
        if os.path.lexists(final):
            continue
        first_origin = [(str(staged.plan.origin), origin_kind, utcnow())]
        write_sidecar(files_dir, model.replace(rel_dir=final_rel), origins=first_origin)
        placing_journal(db, staged).write(staged.stage_dir.name, "placing", placing_of(staged, final_rel))
        try:
            os.rename(files_dir, final)
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                continue  # lost a race for this name: take the next
            raise
        fsync_dir(final.parent)
        fsync_dir(staged.files_dir.parent)
        return final_rel
    raise Conflict(f"Could not find a free folder name for {base_rel} after 999 tries; rename some models.")


def _unplace(final: Path, staged: StagedModel, trash_dir: Path) -> None:
    """Undo a placement we made (a lost race): our folder goes back to the stage, then is discarded."""
    os.rename(final, staged.files_dir)
    _discard_duplicate(staged, trash_dir, "race")


def _discard_duplicate(staged: StagedModel, trash_dir: Path, label: str) -> None:
    moved = [f for f in staged.files if f.moved]
    if moved:
        # The user asked to move these bytes into the library, which holds them already. Keep them in the
        # trash (recoverable) rather than delete them.
        move_to_trash(staged.files_dir, trash_dir, f"duplicate-of-{label}")
    shutil.rmtree(staged.stage_dir, ignore_errors=True)


def recover(library_root: Path, tmp_dir: Path, db: Database, repo: CatalogStore[Any]) -> list[str]:
    """Finish or undo imports a crash interrupted. Returns a line per action taken (for logs/health).

    Stages a live process still holds (their lock is taken) are left alone.
    """
    actions: list[str] = []
    placed: set[str] = set()
    for journal in (JournalTable(db, JOURNAL_OP), JournalTable(db, GROUP_OP)):
        actions += _recover_placings(journal, library_root, db, repo, placed)
    now = time.time()
    for stage in sorted(tmp_dir.glob(f"{STAGE_PREFIX}*")):
        if stage.name.endswith(LOCK_SUFFIX):
            _remove_orphaned_lock(stage, now)
            continue
        if not stage.is_dir() or stage_in_use(stage):
            continue
        if stage.name in placed:
            shutil.rmtree(stage, ignore_errors=True)  # committed: its moves are done
            continue
        try:
            moves = read_moves(stage)
        except NewerRecord:
            actions.append(f"kept {stage} (its move journal is from a newer version of the library)")
            continue
        except RecordError as exc:
            actions.append(f"kept {stage} (it may hold your moved files; {exc})")
            continue
        if moves:
            if put_moves_back(stage):
                actions.append(f"moved back the sources of interrupted import {stage.name}")
                shutil.rmtree(stage, ignore_errors=True)
            else:
                actions.append(f"kept {stage} (its source names are taken; nothing was deleted)")
            continue
        try:
            age = now - stage.stat().st_mtime
        except OSError:
            continue
        if age >= 0:
            # An unlocked stage without moves holds only copies we made: discard it.
            shutil.rmtree(stage, ignore_errors=True)
            actions.append(f"removed interrupted copy {stage.name}")
    return actions


def _recover_placings(
    journal: JournalTable, library_root: Path, db: Database, repo: CatalogStore[Any], placed: set[str]
) -> list[str]:
    """Commit the journalled folders a crash left placed but uncatalogued; forget the rows of the rest
    (their bytes are still in their stage, which the caller discards or puts back)."""
    actions: list[str] = []
    for entry in journal.entries(Placing.from_json):
        stage, final_rel = Path(entry.record.stage), entry.record.final_rel
        holder = Path(entry.record.lock_holder)
        if holder.exists() and stage_in_use(holder):
            continue
        final = library_root / final_rel
        # Placed means *this* stage's folder was renamed there: its files/ is gone (a grouped stage is
        # that folder itself). Another import may have taken the same name first; then our bytes are
        # still in the stage.
        gone = stage if entry.record.batch else stage / "files"
        if (final / SIDECAR_NAME).is_file() and not gone.exists():
            placed.add(stage.name)
            known = repo.find(_id_from_sidecar(final))
            if known is None:
                model = read_sidecar(final, final_rel)
                if repo.by_blake3(model.hashes.blake3) is None:
                    repo.add(model, origin=None)
                    actions.append(f"committed interrupted import {final_rel}")
            elif known.rel_dir != final_rel:
                from ..sources.registry import SourceRegistry

                model = read_sidecar(final, final_rel)
                files = [(f.path, f.size, f.blake3, f.sha256) for f in model.files]
                SourceRegistry(db).attach_library_copy(known.id, final_rel, files)
                actions.append(f"attached interrupted library copy {final_rel}")
        journal.delete(entry.key)
    return actions


def _remove_orphaned_lock(lock_path: Path, now: float) -> None:
    """A stage lock left by a process killed before its folder was made (or after it was removed).

    Only old ones: a lock file just created may not be locked yet by the import that is making it.
    """
    stage = lock_path.with_name(lock_path.name[: -len(LOCK_SUFFIX)])
    try:
        if stage.exists() or now - lock_path.stat().st_mtime < ORPHANED_LOCK_AGE_S:
            return
    except OSError:
        return
    stage_in_use(stage)  # a free lock is taken, released and removed; a held one is left alone


def _id_from_sidecar(folder: Path) -> str:
    try:
        data = json.loads((folder / SIDECAR_NAME).read_text(encoding="utf-8"))
        return str(data.get("id") or data.get("model", {}).get("id", ""))
    except (OSError, ValueError):
        return ""
