"""The library's HuggingFace side: origin lookups (now, or pending until the Hub answers) and downloads
committed through the importer's atomic path.

A download is hashed while it is received; its files are then renamed into an import stage and committed
like any import (de-dup by BLAKE3, journal, one rename, one row), so no byte is read twice.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from .catalog.db import Database
from .catalog.store import CatalogStore
from .config import LibraryConfig
from .errors import CircuitOpen, InvalidInput, ModelLibraryError, NetworkError, RateLimited
from .formats.inspect import inspect_path
from .importer.commit import commit_staged
from .importer.plan import PlannedModel, is_model_file, model_name_from_file
from .importer.stage import (
    StagedFile,
    StagedModel,
    describe_staged,
    record_move,
    undo_stage,
)
from .importer.stage_lock import new_stage_dir
from .models import ImportItem, Model, ModelSource, utcnow
from .net.cache import HttpCache
from .records.pending import PendingLookups
from .taxonomy import MatchKind
from .types import CancelCheck, OnChanged, StageProgress, WriteCheck

if TYPE_CHECKING:
    # The Hub client pulls in httpx and huggingface_hub: loaded on the first Hub call, not at start-up.
    from .hf import Candidate, HubClient
    from .hf.card import HubCard

log = logging.getLogger(__name__)


PENDING_RETRY = timedelta(minutes=10)


class HubService:
    def __init__(
        self,
        config: LibraryConfig,
        db: Database,
        repo: CatalogStore[Any],
        on_changed: OnChanged | None = None,
        *,
        guard: WriteCheck | None = None,
        sync_models: Callable[[Sequence[str]], None] | None = None,
    ) -> None:
        self.config = config
        self.db = db
        self.waiting = PendingLookups(db)
        self.repo = repo
        self._on_changed = on_changed
        self._guard = guard  # raises when the library may not be written now
        self._sync_models = sync_models  # brings mapped installs up to date for new models
        self._client: HubClient | None = None
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._queue: list[str] = []
        self._queue_cv = threading.Condition()
        self._stop = threading.Event()
        self._retry_thread: threading.Thread | None = None
        # Set by compose: the background path enriches from every site (Civitai too), not the Hub alone.
        self.background_enrich: Callable[[Model], None] | None = None

    @property
    def client(self) -> HubClient:
        with self._lock:
            if self._client is None:
                from .hf import HubClient

                self._client = HubClient(self.config, cache=HttpCache(self.db))
            return self._client

    def close(self) -> None:
        self._stop.set()
        with self._queue_cv:
            self._queue.clear()
            self._queue.append("")  # wakes and stops the worker
            self._queue_cv.notify_all()
        with self._lock:
            if self._client is not None:
                self._client.close()

    def network_status(self) -> dict[str, Any]:
        if self._client is None:
            return {"hosts": {}, "offline": False}
        hosts = self._client.hosts_status()
        offline = any(h.get("state") == "open" for h in hosts.values())
        return {"hosts": hosts, "offline": offline}

    # -- lookup ----------------------------------------------------------------------------------------
    def lookup(self, model: Model) -> list[Candidate]:
        """Candidates for ``model``'s origin; the best hash match is applied (never over manual edits)."""
        if not model.hashed:
            raise InvalidInput(
                f"{model.name} is not hashed yet, so it cannot be looked up: "
                "models in your own folders are hashed in the background while ComfyUI or "
                "`model-library serve` runs; run `model-library scan --hash` to hash it now (it then gets "
                "its content id: `model-library list` shows it) and try again."
            )
        from .hf import lookup_model

        try:
            candidates = lookup_model(model, self.client)
        except (CircuitOpen, RateLimited, NetworkError) as exc:
            self._record_pending(model.id, exc.message)
            raise
        self._clear_pending(model.id)
        if candidates and candidates[0].match == "hash":
            self._apply(model, candidates[0])
        return candidates

    def _apply(self, model: Model, candidate: Candidate) -> None:
        from .hf import apply_candidate

        updates = apply_candidate(model, candidate)
        if updates:
            updated = self.repo.update(model.id, **updates)
            if updated.location == "library":
                from .catalog.sidecar import write_sidecar

                folder = self.config.root.joinpath(*updated.rel_dir.split("/"))
                write_sidecar(folder, updated, origins=self.repo.origins(updated.id))
            self._changed([model.id], "enriched")

    def schedule(self, model_ids: Sequence[str]) -> None:
        """Look these models up in the background (after an import); offline ones become pending."""
        if not model_ids:
            return
        with self._queue_cv:
            self._queue.extend(model_ids)
            self._queue_cv.notify()
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="model-library-lookup", daemon=True)
                self._worker.start()

    def queue_pending(self, model_ids: Sequence[str], reason: str = "after import") -> None:
        """Record lookups to run later (on the next start, or by the retry loop)."""
        self.waiting.queue(model_ids, reason)

    def retry_pending(self) -> int:
        ids = self.waiting.due(utcnow())
        self.schedule(ids)
        return len(ids)

    def start_retry_loop(self, interval_s: float = 300.0) -> None:
        """Retry due pending lookups now and every ``interval_s`` (a daemon thread; stops on close)."""
        if self._retry_thread is not None:
            return

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.retry_pending()
                except Exception:
                    log.exception("model library: retrying pending lookups failed")
                self._stop.wait(interval_s)

        self._retry_thread = threading.Thread(target=loop, name="model-library-lookup-retry", daemon=True)
        self._retry_thread.start()

    def pending(self) -> list[dict[str, Any]]:
        return self.waiting.all()

    def _work(self) -> None:
        while True:
            with self._queue_cv:
                while not self._queue:
                    self._queue_cv.wait()
                model_id = self._queue.pop(0)
            if not model_id:
                return
            model = self.repo.find(model_id)
            if model is None or not model.hashed:
                continue
            try:
                if self.background_enrich is not None:
                    self.background_enrich(model)
                else:
                    self.lookup(model)
            except ModelLibraryError as exc:
                log.info("model library: lookup of %s deferred: %s", model.name, exc.message)
            except Exception:
                log.exception("model library: lookup of %s failed", model.name)

    def _record_pending(self, model_id: str, reason: str) -> None:
        later = (datetime.now(timezone.utc) + PENDING_RETRY).replace(microsecond=0).isoformat()
        self.waiting.failed(model_id, reason, later)

    def _clear_pending(self, model_id: str) -> None:
        self.waiting.clear(model_id)

    def find_file(self, filename: str, sha256: str) -> Candidate | None:
        """A Hub file with exactly this SHA-256, searched by its name (network; None when not found)."""
        from .hf.lookup import find_by_sha256

        return find_by_sha256(self.client, filename, sha256)

    # -- what the Hub says of a repo (enrichment) -------------------------------------------------------
    def model_card(self, repo_id: str) -> HubCard:
        return self.client.model_card(repo_id)

    def file_at_main(self, repo_id: str, filename: str) -> tuple[str, str | None]:
        """(the commit of ``main``, the file's SHA-256 there or None when it is gone or not LFS)."""
        listing = self.client.list_files(repo_id, None)
        for f in listing.files:
            if f.path == filename:
                return listing.revision, f.sha256
        return listing.revision, None

    def image_bytes(self, url: str, max_bytes: int) -> bytes:
        return self.client.image_bytes(url, max_bytes=max_bytes)

    def page_url(self, repo_id: str, filename: str | None = None) -> str:
        base = f"{self.client.endpoint}/{repo_id}"
        return f"{base}/blob/main/{filename}" if filename else base

    def file_url(self, repo_id: str, revision: str, path: str) -> str:
        return self.client.resolve_url(repo_id, revision, path)

    # -- downloads -------------------------------------------------------------------------------------
    def repo_files(self, repo_id: str, revision: str | None = None) -> dict[str, Any]:
        listing = self.client.list_files(repo_id, revision)
        return listing.to_dict()

    def download(
        self,
        repo_id: str,
        filenames: Sequence[str] = (),
        revision: str | None = None,
        *,
        progress: StageProgress | None = None,
        cancelled: CancelCheck | None = None,
        expected_sha256: Mapping[str, str] | None = None,
    ) -> list[ImportItem]:
        """Download a model (a file, a sharded set or a Diffusers folder) from a Hub repo.
        ``expected_sha256`` (file -> hex): bytes other than these are refused (a workflow's hash)."""
        from .hf.download import pick_model_files

        if self._guard is not None:
            self._guard()

        listing = self.client.list_files(repo_id, revision)
        groups: list[list[str]] = []
        for name in filenames or [None]:  # type: ignore[list-item]
            group = pick_model_files(listing.files, name)
            if group not in groups:
                groups.append(group)
        items: list[ImportItem] = []
        for group in groups:
            try:
                items.append(
                    self._download_group(repo_id, group, revision, progress, cancelled, expected_sha256)
                )
            except ModelLibraryError as exc:
                items.append(
                    ImportItem(f"{repo_id}/{group[0]}", "failed", error=exc.message, error_code=exc.code)
                )
        ids = [i.model.id for i in items if i.model is not None and i.status == "imported"]
        if ids:
            self._changed(ids, "downloaded")
            if self._sync_models is not None:
                self._sync_models(ids)
        return items

    def _download_group(
        self,
        repo_id: str,
        group: list[str],
        revision: str | None,
        progress: StageProgress | None,
        cancelled: CancelCheck | None,
        expected_sha256: Mapping[str, str] | None = None,
    ) -> ImportItem:
        from .hf import download_files, finish_download

        key = hashlib.sha256("\n".join([repo_id, revision or "", *group]).encode()).hexdigest()[:20]
        dl_dir = self.config.tmp_dir / "downloads" / key
        result = download_files(
            self.client,
            repo_id,
            group,
            revision,
            dl_dir,
            progress=progress,
            cancelled=cancelled,
            config=self.config,
            expected_sha256=expected_sha256,
        )
        staged = self._stage(repo_id, group, result.revision_sha, result.files)
        try:
            primary = next((f for f in group if is_model_file(f)), group[0])
            commit = commit_staged(
                staged,
                library_root=self.config.root,
                db=self.db,
                repo=self.repo,
                trash_dir=self.config.trash_dir,
                origin_kind="download",
                source=ModelSource(
                    kind="huggingface",
                    repo_id=repo_id,
                    revision=result.revision_sha,
                    filename=primary,
                    match=MatchKind.HASH,
                    confidence=1.0,
                ),
            )
        except BaseException:
            undo_stage(staged.stage_dir)
            staged.release()
            raise
        finish_download(dl_dir)
        shutil.rmtree(dl_dir, ignore_errors=True)
        status = "duplicate" if commit.duplicate else "imported"
        return ImportItem(f"hf://{repo_id}/{primary}", status, model=commit.model, warnings=staged.warnings)

    def _stage(self, repo_id: str, group: list[str], revision: str, files: Sequence[Any]) -> StagedModel:
        diffusers = any(PurePosixPath(f).name == "model_index.json" for f in group)
        if diffusers:
            index = next(f for f in group if PurePosixPath(f).name == "model_index.json")
            base = PurePosixPath(index).parent
            fmt, name = "diffusion-folder", repo_id.split("/")[-1] if str(base) == "." else base.name
        else:
            base = None
            weights = [f for f in group if is_model_file(f) and not f.endswith(".json")]
            fmt = "sharded-set" if len(weights) > 1 else "single-file"
            name = model_name_from_file(PurePosixPath(weights[0] if weights else group[0]).name)
            if fmt == "sharded-set":
                name = name.split("-0000")[0]
        stage, lock = new_stage_dir(self.config.tmp_dir)
        staged_files: list[StagedFile] = []
        try:
            for f in files:
                rel = (
                    str(PurePosixPath(f.relpath).relative_to(base))
                    if base is not None and str(base) != "."
                    else (f.relpath if diffusers else PurePosixPath(f.relpath).name)
                )
                dest = stage / "files" / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                record_move(stage, Path(f.path), dest)  # a failed commit puts it back for the resume
                os.rename(f.path, dest)
                info = inspect_path(dest) if is_model_file(dest.name) else None
                staged_files.append(
                    StagedFile(rel, Path(f"hf://{repo_id}/{f.relpath}"), dest, f.digests, info, False)
                )
            order = sorted(staged_files, key=lambda s: (s.rel_path != "model_index.json", s.rel_path))
            plan = PlannedModel(
                fmt,
                Path(f"hf://{repo_id}"),
                tuple(s.source for s in order),
                tuple(s.rel_path for s in order),
                name,
            )
            described = describe_staged(plan, stage, tuple(order))
            return StagedModel(**{**described.__dict__, "lock": lock})
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            lock.release()
            raise

    def _changed(self, ids: list[str], reason: str) -> None:
        if self._on_changed is not None:
            self._on_changed(ids, reason)
