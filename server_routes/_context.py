"""What the routes share: the library (built on first use), its job runner, upload store and events.

Nothing is built when the routes are registered: ComfyUI imports the plugin at start-up and prints the
time it took, so the library, its catalog and the runner's threads come to life on the first request
(in a worker thread, never on the event loop).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._http import run
from .guards import GuardSettings

if TYPE_CHECKING:
    # Imported for real only when the first request builds the parts: registering routes happens while
    # ComfyUI starts, and these pull in sqlite3, blake3 and psutil.
    from ..core.jobs import Job, JobFn, JobRunner
    from ..core.library import Library
    from ..core.uploads import UploadStore

log = logging.getLogger("model_library.http")

Publish = Callable[[str, dict[str, Any]], None]
Listing = Callable[[str], Iterable[str]]
EVENT_JOB = "model-library.job"
EVENT_CHANGED = "model-library.changed"


@dataclass(frozen=True)
class RunnerOptions:
    queues: Mapping[str, int] = field(default_factory=lambda: {"io": 2, "download": 2})
    max_queued: int = 100


@dataclass
class _Parts:
    library: Library
    runner: JobRunner
    uploads: UploadStore
    unsubscribe: list[Callable[[], None]]


class RouteContext:
    def __init__(
        self,
        get_library: Callable[[], Library],
        *,
        settings: GuardSettings,
        publish: Publish | None = None,
        runner_options: RunnerOptions | None = None,
        listing: Listing | None = None,
        loaders: Callable[[], Any] | None = None,
        output_dir: Callable[[], Path | None] | None = None,
    ) -> None:
        self._get_library = get_library
        # Inside ComfyUI: its output folder (folder_paths); elsewhere the configured install's "output".
        self._output_dir = output_dir
        # Inside ComfyUI: its own file lists per category (folder_paths), what "present" means for a
        # workflow's models; None elsewhere (the configured install's folders are read instead).
        self.listing = listing
        # Inside ComfyUI: which inputs of its nodes name model files (custom loaders too); None elsewhere.
        self.loaders = loaders
        self.settings = settings
        self._publish = publish
        self._runner_options = runner_options or RunnerOptions()
        self._parts: _Parts | None = None
        self._lock = threading.Lock()

    # -- lazily built parts ----------------------------------------------------------------------------
    def _build(self) -> _Parts:
        with self._lock:
            if self._parts is not None:
                return self._parts
            from ..core.catalog.backends import open_job_table
            from ..core.jobs import JobRunner
            from ..core.uploads import UploadStore

            library = self._get_library()
            runner = JobRunner(
                open_job_table(library.repo, library.db),
                queues=self._runner_options.queues,
                max_queued=self._runner_options.max_queued,
                machine=library.config.machine,
            )
            uploads = UploadStore(
                Path(library.config.tmp_dir) / "uploads",
                free_space_margin=library.config.free_space_margin,
            )
            unsubscribe = [
                runner.subscribe(self._on_job),
                library.events.subscribe(self._on_library_event),
            ]
            self._parts = _Parts(library, runner, uploads, unsubscribe)
        from ._tasks import resume_factory

        resumed = runner.resume_interrupted(resume_factory(library, uploads))
        if resumed:
            log.info("resumed %d interrupted job(s)", len(resumed))
        return self._parts

    def parts(self) -> _Parts:
        """The parts, building them on first use. Blocking: call from a thread (see :meth:`ensure`)."""
        parts = self._parts
        return parts if parts is not None else self._build()

    async def ensure(self) -> _Parts:
        parts = self._parts
        return parts if parts is not None else await run(self._build)

    async def library(self) -> Library:
        return (await self.ensure()).library

    async def runner(self) -> JobRunner:
        return (await self.ensure()).runner

    async def uploads(self) -> UploadStore:
        return (await self.ensure()).uploads

    def output_dir(self) -> Path | None:
        """The folder "use this output as preview" may read from (None when no ComfyUI is known)."""
        if self._output_dir is not None:
            return self._output_dir()
        parts = self._parts
        root = parts.library.config.comfyui_root if parts is not None else None
        return Path(root) / "output" if root is not None else None

    def built(self) -> bool:
        return self._parts is not None

    # -- events ----------------------------------------------------------------------------------------
    def publish(self, event: str, data: dict[str, Any]) -> None:
        if self._publish is None:
            return
        try:
            self._publish(event, data)
        except Exception:
            log.exception("publishing %s failed", event)

    def _on_job(self, job: Job) -> None:
        self.publish(EVENT_JOB, job.to_dict())

    def _on_library_event(self, event: str, data: dict[str, Any]) -> None:
        self.publish(EVENT_CHANGED if event == "changed" else f"model-library.{event}", data)

    # -- jobs ------------------------------------------------------------------------------------------
    async def submit(
        self,
        kind: str,
        fn: JobFn,
        *,
        queue: str = "io",
        params: Mapping[str, Any] | None = None,
        resumable: bool = False,
    ) -> Job:
        runner = await self.runner()
        # submit() writes one row; quick, but still SQLite: off the loop.
        return await run(runner.submit, kind, fn, queue=queue, params=params, resumable=resumable)

    def shutdown(self, *, wait: bool = True) -> None:
        parts = self._parts
        if parts is None:
            return
        for unsubscribe in parts.unsubscribe:
            unsubscribe()
        parts.runner.shutdown(wait=wait)
