"""The origins service: what Civitai and Hugging Face say of a model, found by its hash.

``enrich`` asks both sites (Civitai by SHA-256; the Hub through the model's Hugging Face source, looked up
by hash first when it has none), keeps every answer in the model's record (``fetched``), and shows what
they say: sites, description, license, trigger words (never over the user's own), a newer version (never
downloaded), and a preview (a site's image only when the model has no better one). Offline, rate-limited
or failing sites leave the model pending: the hub's retry loop runs it again later.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from ..catalog.model_records import ModelRecords
from ..catalog.store import Catalog
from ..config import LibraryConfig
from ..errors import CircuitOpen, InvalidInput, ModelLibraryError, NetworkError, NotFound, RateLimited
from ..models import Model, utcnow
from ..previews.store import PreviewFile, PreviewStore
from ..records.pending import PendingLookups
from ..taxonomy import BaseModelType, PreviewSource, Site
from ..types import CancelCheck, OnChanged, StageProgress, WriteCheck
from .clients import LazyCivitai
from .gallery import Gallery, GalleryItem, gallery_items, item_at
from .report import EnrichReport
from .summary import Summary, summarize

if TYPE_CHECKING:
    from ..services.base import HubServiceBase, PreviewServiceBase

log = logging.getLogger(__name__)

PENDING_RETRY = timedelta(minutes=10)
MAX_SITE_IMAGE_BYTES = 32 * 1024 * 1024
_OFFLINE = (CircuitOpen, RateLimited, NetworkError)


class OriginService:
    def __init__(
        self,
        config: LibraryConfig,
        repo: Catalog,
        hub: HubServiceBase,
        previews: PreviewServiceBase,
        records: ModelRecords,
        pending: PendingLookups,
        *,
        civitai: LazyCivitai,
        guard: WriteCheck | None = None,
        on_changed: OnChanged | None = None,
    ) -> None:
        self.config = config
        self.repo = repo
        self.hub = hub
        self.previews = previews
        self.records = records
        self.pending = pending
        self._civitai = civitai
        self._guard = guard or (lambda: None)
        self._changed = on_changed or (lambda ids, reason: None)
        self._gallery = Gallery(PreviewStore(config.root), self._fetch_image)

    def close(self) -> None:
        self._civitai.close()

    # -- gallery: the sites' images, re-encoded on demand ----------------------------------------------
    def gallery(self, ref: str) -> list[GalleryItem]:
        """The images the model's sites show (at most 12), from what was fetched (run enrich first)."""
        model = self.repo.resolve(ref)
        return gallery_items(self._summary(model).images)

    def gallery_image(self, ref: str, index: int, size: int | None = None) -> PreviewFile:
        model = self.repo.resolve(ref)
        item = item_at(gallery_items(self._summary(model).images), index)
        return self._gallery.file(model, item, size)

    def use_gallery_image(self, ref: str, index: int) -> Model:
        """The user picks one of the gallery's images as the model's preview (kept as the user's pick)."""
        found = self.gallery_image(ref, index)
        return self.previews.set_image(ref, found.path.read_bytes(), PreviewSource.USER)

    def _summary(self, model: Model) -> Summary:
        fetched = self.records.read_fetched(model)
        hub_page = self.hub.page_url(model.source.repo_id) if model.source.repo_id else None
        return summarize(model, fetched, hub_page=hub_page)

    def _fetch_image(self, site: Site, url: str) -> bytes:
        if site == Site.CIVITAI:
            return self._civitai().image_bytes(url, max_bytes=MAX_SITE_IMAGE_BYTES)
        return self.hub.image_bytes(url, MAX_SITE_IMAGE_BYTES)

    # -- lookup: candidates, nothing applied -----------------------------------------------------------
    def lookup(self, ref: str) -> dict[str, Any]:
        """Hugging Face candidates and the Civitai version with the model's hash (errors per site)."""
        model = self._hashed(ref)
        answer: dict[str, Any] = {"model_id": model.id, "huggingface": [], "civitai": None, "errors": {}}
        try:
            answer["huggingface"] = [c.to_dict() for c in self.hub.lookup(model)]
        except ModelLibraryError as exc:
            answer["errors"]["huggingface"] = exc.to_dict()["error"]
        try:
            if not self.config.civitai_lookup:
                raise InvalidInput("Civitai lookups are turned off in the settings.")
            version = self._civitai().by_hash(model.hashes.sha256)
            answer["civitai"] = version.to_dict() if version is not None else None
        except ModelLibraryError as exc:
            answer["errors"]["civitai"] = exc.to_dict()["error"]
        return answer

    # -- enrich ----------------------------------------------------------------------------------------
    def enrich(self, ref: str, *, previews: bool = True) -> Model:
        """Ask both sites now and record what they say; raises when a site cannot be reached (pending)."""
        report = EnrichReport()
        model = self._hashed(ref)
        self._guard()
        updated = self._enrich_one(model, report, previews=previews)
        if report.pending:
            raise NetworkError(
                f"{model.name}: {report.pending[0]['reason']} What was found is kept; the rest is "
                "retried later."
            )
        return updated

    def enrich_many(
        self,
        model_ids: Sequence[str] | None = None,
        *,
        previews: bool = True,
        progress: StageProgress | None = None,
        cancelled: CancelCheck | None = None,
    ) -> EnrichReport:
        """Enrich these models (or every hashed one); one failing never stops the others."""
        self._guard()
        ids = list(model_ids) if model_ids is not None else [m.id for m in self.repo.iter_all() if m.hashed]
        report = EnrichReport()
        for done, model_id in enumerate(ids):
            if cancelled is not None and cancelled():
                break
            if progress is not None:
                progress(done, len(ids), "enrich")
            model = self.repo.find(model_id)
            if model is None or not model.hashed:
                if model_ids is not None:  # named ones are said, never skipped in silence
                    report.failed.append({"id": model_id, "error": self._skipped(model_id, model)})
                continue
            try:
                self._enrich_one(model, report, previews=previews)
            except ModelLibraryError as exc:
                report.failed.append({"id": model_id, "error": exc.message})
        if progress is not None:
            progress(len(ids), len(ids), "enrich")
        return report

    def enrich_quietly(self, model: Model) -> None:
        """The background path (after an import, pending retries): errors are logged, never raised."""
        try:
            self._enrich_one(model, EnrichReport(), previews=True)
        except ModelLibraryError as exc:
            log.info("model library: enriching %s deferred: %s", model.name, exc.message)

    # -- one model -------------------------------------------------------------------------------------
    def _enrich_one(self, model: Model, report: EnrichReport, *, previews: bool) -> Model:
        model = self.repo.get(model.id)  # with its header metadata
        fetched = dict(self.records.read_fetched(model))
        offline: list[str] = []
        model = self._hub_part(model, fetched, report, offline)
        self._civitai_part(model, fetched, report, offline)
        hub_page = (
            self.hub.page_url(model.source.repo_id, model.source.filename)
            if model.source.kind == "huggingface" and model.source.repo_id
            else None
        )
        summary = summarize(model, fetched, hub_page=hub_page)
        changes: dict[str, Any] = {
            "site_origins": list(summary.site_origins),
            "about": summary.about,
            "update": summary.update,
        }
        if "trigger_words" not in model.manual_fields and summary.trigger_words != model.trigger_words:
            changes["trigger_words"] = list(summary.trigger_words)
        civitai_base = _civitai_base(fetched)
        if model.base_model == "unknown" and "base_model" not in model.manual_fields and civitai_base:
            changes["base_model"] = civitai_base
        updated = self.repo.update(model.id, **changes)
        self.records.write(updated, fetched=fetched)
        if previews:
            updated = self._preview(updated, summary.images, report) or updated
        report.enriched += 1
        if offline:
            reason = "; ".join(offline)
            report.pending.append({"id": model.id, "reason": reason})
            later = (datetime.now(timezone.utc) + PENDING_RETRY).replace(microsecond=0).isoformat()
            self.pending.failed(model.id, reason, later)
        else:
            self.pending.clear(model.id)
        self._changed([model.id], "enriched")
        return updated

    def _hub_part(
        self, model: Model, fetched: dict[str, Any], report: EnrichReport, offline: list[str]
    ) -> Model:
        try:
            if model.source.kind != "huggingface" or not model.source.repo_id:
                self.hub.lookup(model)  # applies a hash match to the model's source
                model = self.repo.get(model.id)
            repo_id, filename = model.source.repo_id, model.source.filename
            if model.source.kind != "huggingface" or not repo_id:
                return model
            report.found["huggingface"] += 1
            card = self.hub.model_card(repo_id)
            record = card.to_dict()
            record["image_urls"] = [self.hub.file_url(repo_id, card.sha or "main", p) for p in card.images]
            fetched["huggingface"] = record
            if filename and model.source.match == "hash":
                commit, sha256 = self.hub.file_at_main(repo_id, filename)
                if sha256 and sha256 != model.hashes.sha256:
                    fetched["huggingface_newest"] = {
                        "version_name": commit[:8],
                        "url": self.hub.page_url(repo_id, filename),
                        "sha256": sha256,
                    }
                else:
                    fetched.pop("huggingface_newest", None)
        except _OFFLINE as exc:
            offline.append(f"Hugging Face: {exc.message}")
        except NotFound:
            pass  # a repo gone since: what was fetched stays
        return model

    def _civitai_part(
        self, model: Model, fetched: dict[str, Any], report: EnrichReport, offline: list[str]
    ) -> None:
        if not self.config.civitai_lookup:
            return
        try:
            client = self._civitai()
            version = client.by_hash(model.hashes.sha256)
            if version is None:
                return  # not there (or deleted since): what was fetched before stays
            report.found["civitai"] += 1
            fetched["civitai"] = version.to_dict()
            fetched["civitai_fetched_at"] = utcnow()
            newest = client.model(version.model_id).versions
            ids = [v.version_id for v in newest]
            if newest and newest[0].version_id != version.version_id and version.version_id in ids:
                base = version.page_url.split("?", 1)[0]
                fetched["civitai_newest"] = {
                    "version_id": newest[0].version_id,
                    "version_name": newest[0].name,
                    "url": f"{base}?modelVersionId={newest[0].version_id}",
                }
            else:
                fetched.pop("civitai_newest", None)
        except _OFFLINE as exc:
            offline.append(f"Civitai: {exc.message}")
        except NotFound:
            pass

    def _preview(
        self, model: Model, images: Iterable[tuple[Site, str, int]], report: EnrichReport
    ) -> Model | None:
        if model.preview is not None and model.preview.source in (
            PreviewSource.USER,
            PreviewSource.OUTPUT,
            PreviewSource.SIDECAR,
        ):
            return None
        found = self.previews.discover_one(model) if model.preview is None else None
        if found is not None:
            report.previews += 1
            return found
        for site, url, nsfw_level in images:
            source = PreviewSource.CIVITAI if site == Site.CIVITAI else PreviewSource.HUGGINGFACE
            if model.preview is not None and model.preview.source in (PreviewSource.EMBEDDED, source):
                return None
            try:
                data = (
                    self._civitai().image_bytes(url, max_bytes=MAX_SITE_IMAGE_BYTES)
                    if site == Site.CIVITAI
                    else self.hub.image_bytes(url, MAX_SITE_IMAGE_BYTES)
                )
            except ModelLibraryError as exc:
                log.info(
                    "model library: the preview %s of %s was not fetched: %s", url, model.name, exc.message
                )
                continue
            updated = self.previews.from_site(model, source, data, nsfw_level)
            if updated is not None:
                report.previews += 1
                return updated
        return None

    def _skipped(self, model_id: str, model: Model | None) -> str:
        if model is None:
            return f"no model {model_id!r} in the catalog; `model-library list` shows the ids."
        try:
            self._hashed(model.id)
        except InvalidInput as exc:
            return exc.message
        return f"{model.name} was not enriched."

    def _hashed(self, ref: str) -> Model:
        model = self.repo.resolve(ref)
        if not model.hashed:
            raise InvalidInput(
                f"{model.name} is not hashed yet, so it cannot be looked up: "
                "models in your own folders are hashed in the background while ComfyUI or "
                "`model-library serve` runs; run `model-library scan --hash` to hash it now (it then gets "
                "its content id: `model-library list` shows it) and try again."
            )
        return model


def _civitai_base(fetched: dict[str, Any]) -> str | None:
    from ..civitai.base_models import base_model_of

    civitai = fetched.get("civitai")
    name = civitai.get("base_model") if isinstance(civitai, dict) else None
    if not isinstance(name, str):
        return None
    ours = base_model_of(name)
    return ours if ours != "unknown" and BaseModelType.has(ours) else None
