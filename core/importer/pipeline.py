"""The import pipeline (``Importer``): plan -> open -> copy+hash or move+hash -> validate -> commit.

``Importer.run(paths)`` never raises for one bad file: each planned model ends as an ``ImportItem`` with
status ``imported``, ``duplicate`` or ``failed`` (with the error's code and message). Work runs on a small
thread pool; each model takes a slot on its source drive (SSD 2 at once, HDD 1) so a spinning disk is
never thrashed by parallel reads.
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..catalog.db import Database
from ..catalog.store import CatalogStore
from ..config import LibraryConfig
from ..errors import InvalidInput, ModelLibraryError, UnsafePath
from ..io.drives import DriveLimiter, check_free_space, check_writable
from ..io.fileops import SourceStat
from ..io.hashing import release_buffers
from ..io.paths import at_or_under
from ..io.paths import confine as confine_path
from ..models import ImportItem, ModelSource
from ..types import ByteProgress, CancelCheck, StageProgress
from .commit import CommitResult, commit_staged
from .group import GroupTarget, failed_item, pickle_refused, segments
from .group_run import import_groups
from .plan import PlannedModel, plan_paths
from .stage import StagedModel, stage_model, undo_stage

ItemsDone = Callable[[list[ImportItem]], None]
Staging = Callable[[list[str]], None]  # the source paths of a group (or a run) about to be staged


class _Progress:
    """Sums bytes across parallel file copies into one (done, total, stage) callback."""

    def __init__(self, total: int, callback: StageProgress | None) -> None:
        self.total = total
        self.done = 0
        self._lock = threading.Lock()
        self._callback = callback

    def stage(self, label: str) -> None:
        if self._callback is not None:
            self._callback(self.done, self.total, label)

    def bytes_for(self, label: str) -> ByteProgress:
        last = [0]

        def report(done_in_file: int) -> None:
            with self._lock:
                self.done += done_in_file - last[0]
                last[0] = done_in_file
                done = self.done
            if self._callback is not None:
                self._callback(done, self.total, label)

        return report


class Importer:
    def __init__(self, config: LibraryConfig, db: Database, repo: CatalogStore[Any]) -> None:
        self.config = config
        self.db = db
        self.repo = repo
        self.limiter = DriveLimiter(config.io_concurrency)

    def run(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        move: bool = False,
        hardlink: bool = False,
        confine: bool = False,
        allow_pickle: bool = True,
        progress: StageProgress | None = None,
        cancelled: CancelCheck | None = None,
        origin_kind: str = "import",
        source: ModelSource | None = None,
        name: str | None = None,
        on_items: ItemsDone | None = None,
        on_stage: Staging | None = None,
        planned: Sequence[PlannedModel] | None = None,
    ) -> list[ImportItem]:
        """Import ``paths``; an item per model, in the order given.

        ``planned``: the models of ``paths`` as their caller planned them already (adoption plans the
        install first), imported instead of planning ``paths`` again; their files are checked as planned
        ones are, and each is opened and checked again when it is staged.

        ``on_items``: called (on this thread) with the items of each group or run as soon as they are
        committed, while the next group is being staged: adoption links a group's originals then, so that
        its work overlaps the next group's hashing instead of following all of it; the items go there only,
        not also into the list returned (so a run of 10,000 models does not hold every model to its end,
        which makes Python's garbage collector scan them again and again). ``on_stage``: called
        (on this thread) with the source paths of each group or run just before it is staged; adoption
        journals a group's originals then, not a whole run's before the first of them is read."""
        items: list[ImportItem] = []
        if planned is None:
            planned = self._plan(paths, items, confine=confine)
        roots = self._roots() if confine else None
        checked: list[PlannedModel] = []
        own = self._own_folders()
        folders: dict[Path, str] = {}  # each folder resolved once per run (thousands of files share a few)
        for plan in planned:
            try:
                self._check_files(plan, roots, own, folders)
                checked.append(plan)
            except ModelLibraryError as exc:
                items.append(ImportItem(str(plan.origin), "failed", error=exc.message, error_code=exc.code))
        planned = checked
        if on_items is not None and items:
            on_items(list(items))
            items.clear()
        if not planned:
            return items
        stats = [[_stat(f) for f in p.files] for p in planned]  # one stat a file: sizes, space, progress
        sizes = [sum(st.st_size for st in found if st is not None) for found in stats]
        tracker = _Progress(sum(sizes), progress)
        tracker.stage("planning")
        tmp_dev = self._preflight(stats, move=move or hardlink)  # found once a run, never kept longer
        workers = self.config.io_concurrency or 2
        target = GroupTarget(self.config.root, self.db, self.repo, self.config.trash_dir, origin_kind, source)

        def stage_in(plan: PlannedModel, batch: Path) -> StagedModel:
            return stage_model(
                plan,
                self.config.tmp_dir,
                move=False,
                hardlink=hardlink,
                roots=roots,
                progress=tracker.bytes_for(plan.name),
                cancelled=cancelled,
                batch=batch,
                read_slot=functools.partial(self.limiter.slot, plan.main_file),
                tmp_dev=tmp_dev,
            )

        def one(plan: PlannedModel, turn: Callable[[], None]) -> ImportItem:
            return self._import_one(
                plan,
                move=move,
                hardlink=hardlink,
                roots=roots,
                allow_pickle=allow_pickle,
                progress=tracker.bytes_for(plan.name),
                cancelled=cancelled,
                origin_kind=origin_kind,
                source=source,
                name=name if len(planned) == 1 else None,
                turn=turn,
            )

        def done(new: list[ImportItem]) -> None:
            if on_items is None:
                items.extend(new)
            elif new:
                on_items(new)

        # Consecutive groups run together, so that each stages while the one before it commits.
        for grouped, run in itertools.groupby(segments(sizes, move=move), key=lambda s: s[0]):
            parts = [[planned[i] for i in part] for _grouped, part in run]
            if grouped:
                import_groups(
                    parts,
                    tmp_dir=self.config.tmp_dir,
                    stage_one=stage_in,
                    workers=workers,
                    target=target,
                    allow_pickle=allow_pickle,
                    committed=done,
                    staging=on_stage,
                )
            else:
                for plans in parts:
                    if on_stage is not None:
                        on_stage([str(p.origin) for p in plans])
                    done(_each(plans, one, workers))
        release_buffers()
        tracker.stage("done")
        return items

    def _plan(
        self, paths: Sequence[str | os.PathLike[str]], items: list[ImportItem], *, confine: bool
    ) -> list[PlannedModel]:
        """The models of ``paths``; a failed item in ``items`` for each path refused or not planned."""
        accepted: list[Path] = []
        for raw in paths:
            path = Path(os.fspath(raw)) if confine else Path(os.fspath(raw)).expanduser()  # HTTP: no '~'
            try:
                if confine:
                    path = self._confined(path)
                elif not path.is_absolute():
                    path = path.absolute()
                accepted.append(path)
            except ModelLibraryError as exc:
                items.append(ImportItem(str(raw), "failed", error=exc.message, error_code=exc.code))
        planned, failures = plan_paths(accepted)
        items.extend(ImportItem(str(f.path), "failed", error=f.reason, error_code=f.code) for f in failures)
        return planned

    def _roots(self) -> list[Path]:
        return [r for r in self.config.all_import_roots() if r.exists()]

    def _own_folders(self) -> list[str]:
        """The library's own folders, resolved once per run (not once per file of thousands)."""
        own = [self.config.models_dir, self.config.views_dir, self.config.trash_dir]
        found = []
        for folder in own:
            try:
                found.append(os.path.normcase(os.fspath(folder.resolve(strict=True))))
            except (OSError, RuntimeError):
                continue  # not made yet (or unreadable): nothing of ours can be in it
        return found

    def _check_files(
        self, plan: PlannedModel, roots: list[Path] | None, own: list[str], folders: dict[Path, str]
    ) -> None:
        """Every file of a plan (not only the named path: a walk meets symlinks) must be inside the import
        roots when confined, and none may already be one of the library's own files."""
        for f in plan.files:
            real = confine_path(f, roots) if roots is not None else real_path(f, folders)
            if any(at_or_under(os.path.normcase(os.fspath(real)), r) for r in own):
                raise InvalidInput(
                    f"{f} is already in the library ({real}); import files from outside the library."
                )

    def _confined(self, path: Path) -> Path:
        roots = self._roots()
        if not roots:
            raise UnsafePath(
                f"{path} is outside the import roots (none are configured). Add the folder to the import "
                "roots in the settings, or put the file in the library's inbox."
            )
        return confine_path(path, roots)

    def _preflight(self, stats: Sequence[Sequence[os.stat_result | None]], *, move: bool) -> int:
        """Fail before a byte is written: an unwritable library, or not enough free space for copies.
        ``stats``: each planned file's (None: gone), as ``run`` took them. Returns the temp folder's
        device, which the run's stages use (the free space was judged by it)."""
        self.config.tmp_dir.mkdir(parents=True, exist_ok=True)
        check_writable(self.config.tmp_dir)
        tmp_dev = os.stat(self.config.tmp_dir).st_dev
        needed = sum(
            st.st_size
            for found in stats
            for st in found
            if st is not None and not (move and st.st_dev == tmp_dev)
        )
        if needed:
            check_free_space(self.config.tmp_dir, needed, self.config.free_space_margin)
        return tmp_dev

    def _import_one(
        self,
        plan: PlannedModel,
        *,
        move: bool,
        hardlink: bool = False,
        roots: list[Path] | None = None,
        allow_pickle: bool,
        progress: ByteProgress,
        cancelled: CancelCheck | None,
        origin_kind: str,
        source: ModelSource | None,
        name: str | None,
        turn: Callable[[], None] = lambda: None,
    ) -> ImportItem:
        try:
            with self.limiter.slot(plan.main_file):
                staged = stage_model(
                    plan,
                    self.config.tmp_dir,
                    move=move,
                    hardlink=hardlink,
                    roots=roots,
                    progress=progress,
                    cancelled=cancelled,
                )
            if staged.security == "pickle" and not allow_pickle:
                undo_stage(staged.stage_dir, staged.files)
                staged.release()
                return pickle_refused(plan)
            try:
                turn()  # commits follow the order the models were given in
                result = self._commit(staged, origin_kind, source, name)
            except BaseException:
                if staged.files_dir.exists():  # not placed: moved sources go back at once
                    undo_stage(staged.stage_dir, staged.files)
                staged.release()
                raise
            if move:
                self._remove_copied_sources(staged)
            status = "duplicate" if result.duplicate else "imported"
            return ImportItem(str(plan.origin), status, model=result.model, warnings=staged.warnings)
        except (ModelLibraryError, OSError) as exc:
            return failed_item(plan, exc)

    def _commit(
        self, staged: StagedModel, origin_kind: str, source: ModelSource | None, name: str | None
    ) -> CommitResult:
        return commit_staged(
            staged,
            library_root=self.config.root,
            db=self.db,
            repo=self.repo,
            trash_dir=self.config.trash_dir,
            origin_kind=origin_kind,
            source=source,
            name=name,
        )

    def _remove_copied_sources(self, staged: StagedModel) -> None:
        """Move across filesystems: the source goes only after the copy is durable, verified and committed."""
        for f in staged.files:
            if f.moved or f.source_stat is None:
                continue
            try:
                now = SourceStat.of(os.lstat(f.source))
            except FileNotFoundError:
                continue
            if now == f.source_stat:  # the very file we copied: not a new version saved meanwhile
                os.unlink(f.source)
        _remove_emptied_dirs(staged)


def _each(
    planned: Sequence[PlannedModel],
    one: Callable[[PlannedModel, Callable[[], None]], ImportItem],
    workers: int,
) -> list[ImportItem]:
    """Models committed one at a time (large or moved ones), staged ``workers`` at a time."""
    order = CommitOrder()

    def work(index: int, plan: PlannedModel) -> ImportItem:
        try:
            return one(plan, lambda: order.wait(index))
        finally:
            order.done(index)

    workers = max(1, min(len(planned), workers))
    if workers == 1:
        return [work(i, p) for i, p in enumerate(planned)]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="model-library-import") as pool:
        return list(pool.map(work, range(len(planned)), planned))


def _remove_emptied_dirs(staged: StagedModel) -> None:
    if staged.plan.format != "diffusion-folder":
        return
    root = staged.plan.origin
    for dirpath, _dirnames, _files in sorted(os.walk(root, topdown=False), key=lambda t: -len(t[0])):
        try:
            os.rmdir(dirpath)  # only empty folders; never rmtree a user's folder
        except OSError:
            pass


def real_path(path: Path, folders: dict[Path, str]) -> str:
    """``os.path.realpath(path)``, its folder taken from ``folders`` (resolved and added there once): a
    realpath walks every component of the path, one lstat each, for each of thousands of files."""
    if path.name in ("", ".", "..") or os.path.islink(path):
        return os.path.realpath(path)
    parent = folders.get(path.parent)
    if parent is None:
        parent = folders[path.parent] = os.path.realpath(path.parent)
    return os.path.join(parent, path.name)


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


class CommitOrder:
    """Lets models commit in the order they were given while they stage (copy and hash) in parallel, so
    of two identical files the one given first always names the model, whichever finished copying first.

    Model ``i`` commits after ``wait(i)``; ``done(i)`` (always called, also after a failure) passes the
    turn on. Tasks start in index order (the pool's queue is FIFO), so a waiting task never holds up one
    before it."""

    def __init__(self) -> None:
        self._next = 0
        self._cv = threading.Condition()

    def wait(self, index: int) -> None:
        with self._cv:
            self._cv.wait_for(lambda: self._next >= index)

    def done(self, index: int) -> None:
        with self._cv:
            self._cv.wait_for(lambda: self._next >= index)
            self._next = max(self._next, index + 1)
            self._cv.notify_all()
