"""The import service: files, Diffusers folders, sharded sets and folders of models into the library."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ..importer.browse import FolderListing, browse
from ..importer.pipeline import Importer
from ..models import ImportItem
from ..types import CancelCheck, OnChanged, StageProgress, WriteCheck

SyncFn = Callable[[Sequence[str]], None]
SplitFn = Callable[[Sequence[str | Path]], tuple[list[str | Path], list[ImportItem]]]
QueueFn = Callable[[Sequence[str]], None]


class ImportService:
    def __init__(
        self,
        importer: Importer,
        *,
        guard: WriteCheck,
        on_changed: OnChanged,
        split_read_only: SplitFn,
        sync_models: SyncFn,
        queue_lookups: QueueFn,
        lookup_after_import: bool,
    ) -> None:
        self.importer = importer
        self._guard = guard
        self._changed = on_changed
        self._split_read_only = split_read_only
        self._sync = sync_models
        self._queue_lookups = queue_lookups
        self._lookup_after_import = lookup_after_import
        self._roots_provider: Callable[[], Sequence[Path]] | None = None

    def follow_import_roots(self, provider: Callable[[], Sequence[Path]]) -> None:
        """Read the extra import roots anew on each use (inside ComfyUI: its setting, so a change
        applies without a restart)."""
        self._roots_provider = provider

    def import_roots(self) -> tuple[Path, ...]:
        """Every folder imports may read from now (the inbox, uploads, the configured ones)."""
        if self._roots_provider is not None:
            extra = tuple(self._roots_provider())
            if extra != self.importer.config.import_roots:
                self.importer.config = self.importer.config.replace(import_roots=extra)
        return self.importer.config.all_import_roots()

    def import_paths(
        self,
        paths: Sequence[str | Path],
        *,
        move: bool = False,
        confine: bool = False,
        allow_pickle: bool = True,
        lookup: bool = True,
        progress: StageProgress | None = None,
        cancelled: CancelCheck | None = None,
    ) -> list[ImportItem]:
        """Import files, Diffusers folders, sharded sets, or folders of models.

        ``confine=True`` (HTTP callers) requires every path to resolve inside the configured import roots;
        ``lookup`` queues a HuggingFace origin lookup for each new model. A move out of a read-only source
        is refused for that path.
        """
        self._guard()
        if confine:
            self.import_roots()  # the setting may have changed since the last import
        refused: list[ImportItem] = []
        if move:
            paths, refused = self._split_read_only(paths)
        items = refused + self.importer.run(
            paths,
            move=move,
            confine=confine,
            allow_pickle=allow_pickle,
            progress=progress,
            cancelled=cancelled,
        )
        self._after_import(items, lookup=lookup)
        return items

    def import_uploaded(
        self,
        path: Path,
        filename: str,
        *,
        allow_pickle: bool = True,
        progress: StageProgress | None = None,
        cancelled: CancelCheck | None = None,
    ) -> list[ImportItem]:
        """Import a finished upload (a file in the library's uploads folder), moving it in (O(1))."""
        self._guard()
        items = self.importer.run(
            [path],
            move=True,
            confine=True,
            allow_pickle=allow_pickle,
            progress=progress,
            cancelled=cancelled,
            origin_kind="upload",
            name=_stem(filename),
        )
        self._after_import(items)
        return items

    def import_uploaded_paths(
        self,
        paths: Sequence[str | Path],
        *,
        allow_pickle: bool = True,
        progress: StageProgress | None = None,
        cancelled: CancelCheck | None = None,
    ) -> list[ImportItem]:
        """Import a finished group of uploads (a dropped folder), moved in and confined, as ``upload``s."""
        self._guard()
        items = self.importer.run(
            paths,
            move=True,
            confine=True,
            allow_pickle=allow_pickle,
            progress=progress,
            cancelled=cancelled,
            origin_kind="upload",
        )
        self._after_import(items)
        return items

    def browse(self, path: str | None = None) -> FolderListing:
        """The import roots, or one folder inside them: its sub-folders and model files."""
        return browse(self.import_roots(), path)

    def _after_import(self, items: Sequence[ImportItem], *, lookup: bool = True) -> None:
        ids = [i.model.id for i in items if i.model is not None and i.status == "imported"]
        if ids:
            self._sync(ids)
            self._changed(ids, "imported")
            if lookup and self._lookup_after_import:
                self._queue_lookups(ids)


def _stem(filename: str) -> str:
    from ..importer.plan import model_name_from_file

    return model_name_from_file(Path(filename).name)
