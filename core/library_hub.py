"""The facade's HuggingFace and sources part (mixed into ``Library``; delegation only)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .models import ImportItem
from .types import CancelCheck, StageProgress

if TYPE_CHECKING:
    from .catalog.db import Database
    from .catalog.repository import ModelRepository
    from .config import LibraryConfig
    from .hub_service import HubService
    from .models import Model
    from .sources import SourceService

# A partial download is kept this long for a resume (a job resumed after a restart picks it up).
PARTIAL_RETENTION_DAYS = 7.0


class HubSourcesPart:
    config: LibraryConfig
    db: Database
    repo: ModelRepository
    hub: HubService
    sources: SourceService

    def get_model(self, ref: str) -> Model:
        raise NotImplementedError  # provided by Library

    def _writable(self) -> None: ...

    def sync_models(self, model_ids: Sequence[str]) -> None: ...

    # -- HuggingFace ---------------------------------------------------------------------------------
    def lookup(self, ref: str) -> list[Any]:
        """HuggingFace candidates for a model's origin; a hash match is recorded as its source."""
        return self.hub.lookup(self.get_model(ref))

    def queue_lookups(self, ids: Sequence[str]) -> None:
        """Record lookups to run in the background (now, when a server runs; else on the next start)."""
        self.hub.queue_pending(ids)

    def download(
        self,
        repo_id: str,
        filenames: Sequence[str] = (),
        revision: str | None = None,
        *,
        progress: StageProgress | None = None,
        cancelled: CancelCheck | None = None,
    ) -> list[ImportItem]:
        """Download a model (a file, a sharded set or a Diffusers folder) from a Hub repo."""
        self._writable()
        items = self.hub.download(repo_id, filenames, revision, progress=progress, cancelled=cancelled)
        self.sync_models([i.model.id for i in items if i.model is not None and i.status == "imported"])
        return items

    def repo_files(self, repo_id: str, revision: str | None = None) -> dict[str, Any]:
        return self.hub.repo_files(repo_id, revision)

    def network_status(self) -> dict[str, Any]:
        return self.hub.network_status()

    # -- sources (catalogued in place) ----------------------------------------------------------------
    def add_source(
        self,
        path: str | Path,
        *,
        read_only: bool = True,
        auto: bool = False,
        app_id: str | None = None,
        scan: bool = True,
    ) -> dict[str, Any]:
        return self.sources.add(path, read_only=read_only, auto=auto, app_id=app_id, scan=scan)

    def list_sources(self) -> list[dict[str, Any]]:
        return self.sources.list_sources()

    def remove_source(self, ref: str | int) -> dict[str, Any]:
        return self.sources.remove(ref)

    def move_source(self, old: str | Path, new: str | Path) -> dict[str, Any]:
        """A source folder now lives elsewhere (a drive mounted at another place): every stored path under
        it moves to the new place in one transaction, so its models keep their metadata and edits."""
        from .errors import InvalidInput, NotFound
        from .identity import rewrite_prefix
        from .sources.registry import check_source_path

        self._writable()
        source = next((s for s in self.sources.list_sources() if Path(s["path"]) == Path(old)), None)
        if source is None:
            raise NotFound(f"No source at {old}; `model-library sources list` shows the catalogued folders.")
        target = check_source_path(Path(new), self.config.root)
        if any(Path(s["path"]) == target for s in self.sources.list_sources()):
            raise InvalidInput(f"{target} is already a source.")
        counts = rewrite_prefix(self.db, str(Path(old)), str(target), sources=True)
        report = self.sources.scan()
        return {"moved": counts, "scan": report}

    def scan(
        self,
        *,
        progress: StageProgress | None = None,
        cancelled: CancelCheck | None = None,
        hash_files: bool = False,
    ) -> dict[str, Any]:
        report = self.sources.scan(progress=progress, cancelled=cancelled)
        if hash_files:
            report["hashed"] = self.sources.hash_pending(cancelled=cancelled)
        return report

    def duplicates(self) -> dict[str, Any]:
        return self.sources.duplicates()

    def start_background(self, *, poll_seconds: float = 30.0, lookups: bool = True) -> None:
        """Watch and hash the sources, and run pending Hub lookups, in daemon threads (ComfyUI, ``serve``)."""
        self.housekeeping()
        self.sources.start_background(poll_seconds=poll_seconds)
        if lookups:
            self.hub.start_retry_loop()

    def housekeeping(self) -> dict[str, Any]:
        """Empty the trash past its retention period and drop partial downloads nobody resumed."""
        from .io.partials import cleanup_stale_partials
        from .io.trash import empty_trash

        trashed = empty_trash(self.config.trash_dir, self.config.trash_retention_days)
        partials = cleanup_stale_partials(self.config.tmp_dir / "downloads", PARTIAL_RETENTION_DAYS)
        return {"trash_emptied": [str(p) for p in trashed], "partials_removed": [str(p) for p in partials]}
