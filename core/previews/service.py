"""The previews service: a model's picture, from the user, an image beside its file, the file itself, or
its site; decoded and re-encoded by us (``images.py``), stored by ``store.py``, served by the routes.

Sources in order of preference (``PreviewSource``): the user's pick (uploaded, or one of ComfyUI's
outputs) is never replaced automatically; then an image beside the model file, the embedded
``modelspec.thumbnail``, and a site's first image.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ..catalog.store import Catalog
from ..errors import InvalidImage, InvalidInput, NotFound, UnsafePath
from ..io.paths import confine, validate_relpath
from ..model_extras import Preview
from ..models import Model
from ..taxonomy import PreviewSource
from ..types import CancelCheck, OnChanged, WriteCheck
from .collect import FoundImage, beside, embedded, read_small_file
from .images import MAX_IMAGE_BYTES, PreviewSet, make_preview_set
from .store import PreviewFile, PreviewStore

log = logging.getLogger(__name__)

# A user's pick stays until the user changes it; the automatic ones may be replaced by a better one.
DISCOVER_AFTER = frozenset({"imported", "adopted", "downloaded", "hashed"})
USER_SOURCES = frozenset({PreviewSource.USER, PreviewSource.OUTPUT})
_RANK = {source: rank for rank, source in enumerate(PreviewSource)}

Persist = Callable[[Model], None]  # writes what the catalog now knows of a model to its record on disk


class PreviewService:
    def __init__(
        self,
        library_root: Path,
        repo: Catalog,
        *,
        persist: Persist,
        guard: WriteCheck | None = None,
        on_changed: OnChanged | None = None,
        model_paths: Callable[[Model], Sequence[str]] | None = None,
    ) -> None:
        self.store = PreviewStore(library_root)
        self.repo = repo
        self._persist = persist
        self._guard = guard or (lambda: None)
        self._changed = on_changed or (lambda ids, reason: None)
        self._model_paths = model_paths or (lambda model: ())
        self._queue: list[str] = []
        # One change of a preview at a time (files, record, catalog row): a pick, a clear and an
        # enrichment racing on one model must leave all three agreeing. Decoding stays outside it.
        self._change = threading.RLock()
        self._queue_cv = threading.Condition()
        self._worker: threading.Thread | None = None
        self._busy = False
        self._closed = False

    # -- read ------------------------------------------------------------------------------------------
    def image(self, ref: str, size: int | None = None) -> PreviewFile:
        model = self.repo.resolve(ref)
        found = self.store.file(model, size)
        if found is None:
            raise NotFound(
                f"{model.name} has no preview yet; add one in its detail, or run `model-library enrich`."
            )
        return found

    def image_bytes(self, found: PreviewFile) -> bytes:
        """The stored file's bytes: a regular file we wrote, never through a link, at most 32 MiB."""
        data = read_small_file(str(found.path), MAX_IMAGE_BYTES)
        if data is None:
            raise NotFound(
                "the preview's file is gone or is not one the library wrote; set the preview again."
            )
        return data

    # -- the user's pick -------------------------------------------------------------------------------
    def set_image(self, ref: str, data: bytes, source: PreviewSource = PreviewSource.USER) -> Model:
        """Decode ``data`` (PNG, JPEG or WebP only), re-encode it and make it the model's preview."""
        model = self._hashed(ref)
        self._guard()
        images = make_preview_set(data)
        with self._change:
            return self._save(self.repo.resolve(model.id), images, source, 0)

    def set_from_output(self, ref: str, name: str, output_dir: Path | None) -> Model:
        """One of ComfyUI's generated images (``name`` relative to its output folder) as the preview."""
        if output_dir is None:
            raise InvalidInput("No ComfyUI output folder is known here; upload the image instead.")
        validate_relpath(name.replace("\\", "/") if isinstance(name, str) else name)
        try:
            path = confine(Path(output_dir, *name.replace("\\", "/").split("/")), [output_dir])
        except UnsafePath as exc:
            if isinstance(exc.__cause__, OSError):
                raise  # a link loop: its own message says so
            raise UnsafePath(
                f"{name} leads outside ComfyUI's output folder ({output_dir}), through a link or '..'; "
                "pick an image inside that folder, or upload the image instead."
            ) from exc
        data = read_small_file(str(path), MAX_IMAGE_BYTES)
        if data is None:
            raise InvalidImage(
                f"{name} is not a regular file of at most {MAX_IMAGE_BYTES // 2**20} MiB in ComfyUI's "
                "output folder; pick another image."
            )
        return self.set_image(ref, data, PreviewSource.OUTPUT)

    def clear(self, ref: str) -> Model:
        """Forget the preview; an automatic one (beside the file, embedded) takes its place if any."""
        model = self.repo.resolve(ref)
        self._guard()
        with self._change:
            self.store.remove(model)
            updated = self.repo.update(model.id, preview=None)
            self._persist(updated)
            rediscovered = self.discover_one(updated)
        if rediscovered is None:
            self._changed([model.id], "preview")
        return rediscovered or updated

    # -- automatic -------------------------------------------------------------------------------------
    def discover(
        self, model_ids: Iterable[str] | None = None, *, cancelled: CancelCheck | None = None
    ) -> int:
        """Local previews (beside the file, embedded) for models without one; returns how many were set."""
        found = 0
        models = (self.repo.find(i) for i in model_ids) if model_ids is not None else self.repo.iter_all()
        for model in models:
            if cancelled is not None and cancelled():
                break
            if model is None or model.preview is not None or not model.hashed:
                continue
            if self.discover_one(model) is not None:
                found += 1
        return found

    def discover_one(self, model: Model) -> Model | None:
        """The first usable local image of ``model`` as its preview (None when there is none)."""
        candidates: list[FoundImage] = list(beside(self._model_paths(model)))
        thumb = embedded(dict(model.metadata) or self._metadata(model))
        if thumb is not None:
            candidates.append(thumb)
        for candidate in candidates:
            if not self._better(model.preview, candidate.source):
                return None
            try:
                images = make_preview_set(candidate.data)
            except InvalidImage as exc:
                log.info(
                    "model library: %s is not a usable preview of %s (%s)", candidate.where, model.name, exc
                )
                continue
            return self._save_if_better(model, images, candidate.source, 0)
        return None

    def from_site(self, model: Model, source: PreviewSource, data: bytes, nsfw_level: int) -> Model | None:
        """A site's image as the preview, unless the model has a better one; None when refused."""
        if not self._better(model.preview, source):
            return None
        try:
            images = make_preview_set(data)
        except InvalidImage as exc:
            log.info("model library: the %s image of %s is not usable (%s)", source.value, model.name, exc)
            return None
        return self._save_if_better(model, images, source, nsfw_level)

    def queue_discover(self, model_ids: Sequence[str]) -> None:
        """Look for local previews of these models behind the caller (after an import, a hash)."""
        if not model_ids:
            return
        with self._queue_cv:
            self._queue.extend(model_ids)
            self._queue_cv.notify()
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="model-library-previews", daemon=True)
                self._worker.start()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once the background queue is empty (for tests and shutdown)."""
        with self._queue_cv:
            return self._queue_cv.wait_for(lambda: not self._queue and not self._busy, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Finish the previews being looked for (an import's, before its command exits), then stop."""
        self.wait_idle(timeout)
        with self._queue_cv:
            self._queue.clear()
            self._closed = True
            self._queue_cv.notify_all()
        worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout)

    def _work(self) -> None:
        while True:
            with self._queue_cv:
                self._queue_cv.wait_for(lambda: self._queue or self._closed)
                if self._closed:
                    return
                batch, self._queue[:] = list(dict.fromkeys(self._queue)), []
                self._busy = True
            try:
                self.discover(batch, cancelled=lambda: self._closed)
            except Exception:
                log.exception("model library: looking for previews failed")
            finally:
                with self._queue_cv:
                    self._busy = False
                    self._queue_cv.notify_all()

    def on_event(self, event: str, data: dict[str, Any]) -> None:
        """EventBus listener: new models (imported, adopted, downloaded, hashed) get their local preview."""
        if event == "changed" and data.get("reason") in DISCOVER_AFTER:
            self.queue_discover([str(i) for i in data.get("ids") or []])

    # -- helpers ---------------------------------------------------------------------------------------
    def _better(self, current: Preview | None, source: PreviewSource) -> bool:
        if current is None:
            return True
        if current.source in USER_SOURCES:
            return source in USER_SOURCES
        return _RANK.get(source, 99) < _RANK.get(current.source, 99)

    def _hashed(self, ref: str) -> Model:
        model = self.repo.resolve(ref)
        if not model.hashed:
            raise InvalidInput(
                f"{model.name} is not hashed yet, so it cannot be given a preview: "
                "models in your own folders are hashed in the background while ComfyUI or "
                "`model-library serve` runs; run `model-library scan --hash` to hash it now (it then gets "
                "its content id: `model-library list` shows it) and try again."
            )
        return model

    def _metadata(self, model: Model) -> dict[str, str]:
        full = self.repo.find(model.id)  # list rows leave the header metadata out
        return dict(full.metadata) if full is not None else {}

    def _save_if_better(
        self, model: Model, images: PreviewSet, source: PreviewSource, nsfw_level: int
    ) -> Model | None:
        """Save an automatic preview unless the model has a better one *now* (the caller's ``model`` may
        predate a pick the user made while this image was fetched or decoded)."""
        with self._change:
            current = self.repo.find(model.id)
            if current is None or not self._better(current.preview, source):
                return None
            return self._save(current, images, source, nsfw_level)

    def _save(self, model: Model, images: PreviewSet, source: PreviewSource, nsfw_level: int) -> Model:
        preview = self.store.save(model, images, source, nsfw_level)
        updated = self.repo.update(model.id, preview=preview)
        self._persist(updated)
        self._changed([model.id], "preview")
        return updated
