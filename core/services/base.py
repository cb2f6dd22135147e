"""The contracts of the library's services, one small Protocol each (InvokeAI's ``*ServiceBase``).

``compose.py`` wires one implementation of each; ``core.library.Library`` holds them under these types, so
the glue sees only what is written here. Every method is synchronous and may block on disk: the HTTP glue
runs it in a thread, never on the event loop.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..types import CancelCheck, StageProgress

if TYPE_CHECKING:
    from ..adopt import AdoptPlan, AdoptReport, UndoReport
    from ..catalog.store import Facets
    from ..health import HealthReport, RepairReport
    from ..hf import Candidate
    from ..hf.card import HubCard
    from ..importer.browse import FolderListing
    from ..links.registry import AppRecord
    from ..mapping.apply import ApplyReport
    from ..mapping.config import MappingConfig
    from ..mapping.named_links import NamedLink
    from ..mapping.planner import Plan
    from ..models import ImportItem, Link, Model, ModelQuery, Page
    from ..origins.gallery import GalleryItem
    from ..origins.report import EnrichReport
    from ..previews.store import PreviewFile
    from ..taxonomy import PreviewSource
    from ..workflows import Workflow
    from ..workflows.fetch import WorkflowFetch
    from ..workflows.loaders import LoaderMap
    from ..workflows.resolve import WorkflowCheck
    from ..workflows.resolve_listing import Listing
    from ..workflows.stamp import StampResult

PathArg = str | os.PathLike[str]


class CatalogServiceBase(Protocol):
    """The models the library knows: list, show, edit, remove, rebuild from metadata.json."""

    def list_models(self, query: ModelQuery) -> Page: ...

    def get_model(self, ref: str) -> Model: ...

    def model_dir(self, model: Model) -> Path: ...

    def model_links(self, model_id: str) -> tuple[Link, ...]: ...

    def model_detail(self, ref: str, *, name_prefix: bool = False) -> dict[str, Any]: ...

    def model_file_path(self, ref: str) -> Path: ...

    def edit_model(
        self,
        ref: str,
        *,
        name: str | None = None,
        type: str | None = None,
        base_model: str | None = None,
        tags: Sequence[str] | None = None,
        add_tags: Sequence[str] = (),
        remove_tags: Sequence[str] = (),
        notes: str | None = None,
        trigger_words: Sequence[str] | None = None,
        favorite: bool | None = None,
        default_strength: float | str | None = None,
    ) -> Model: ...

    def facets(self, query: ModelQuery) -> Facets: ...

    def mark_used(self, ref: str) -> Model: ...

    def remove_model(self, ref: str) -> dict[str, Any]: ...

    def empty_trash(self, older_than_days: float | None = None) -> list[str]: ...

    def trash_kept(self) -> list[dict[str, Any]]: ...

    def rebuild(self) -> dict[str, Any]: ...


class ImportServiceBase(Protocol):
    """Files, Diffusers folders, sharded sets and folders of models into the library."""

    def browse(self, path: str | None = None) -> FolderListing: ...

    def import_roots(self) -> tuple[Path, ...]: ...

    def follow_import_roots(self, provider: Callable[[], Sequence[Path]]) -> None: ...

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
    ) -> list[ImportItem]: ...

    def import_uploaded(
        self,
        path: Path,
        filename: str,
        *,
        allow_pickle: bool = True,
        progress: StageProgress | None = None,
        cancelled: CancelCheck | None = None,
    ) -> list[ImportItem]: ...

    def import_uploaded_paths(
        self,
        paths: Sequence[str | Path],
        *,
        allow_pickle: bool = True,
        progress: StageProgress | None = None,
        cancelled: CancelCheck | None = None,
    ) -> list[ImportItem]: ...


class MappingServiceBase(Protocol):
    """The rules (mapping.json) and the links they make in ComfyUI installs."""

    def rules(self) -> MappingConfig: ...

    def get_config(self) -> dict[str, Any]: ...

    def set_config(self, data: Mapping[str, Any]) -> dict[str, Any]: ...

    def preview(self, comfyui_dir: PathArg | None = None) -> Plan: ...

    def apply(
        self,
        comfyui_dir: PathArg | None = None,
        resolutions: Mapping[str, str] | None = None,
        *,
        on_conflict: str = "skip",
        shared: bool = False,
        live: bool = False,
    ) -> ApplyReport: ...

    def wants_live(self, comfyui_dir: PathArg, *, write_yaml: bool) -> bool: ...

    def unmap(self, comfyui_dir: PathArg) -> ApplyReport: ...

    def installs(self) -> list[dict[str, Any]]: ...

    def sync_models(self, model_ids: Sequence[str]) -> None: ...

    def targets(self, comfyui_dir: PathArg | None = None) -> list[AppRecord]: ...

    def show_as(
        self, model: Model, category: str, name: str, apps: Sequence[AppRecord], *, sha256: str | None = None
    ) -> list[NamedLink]: ...


class HealthServiceBase(Protocol):
    """Checks (stats only) and repairs over the catalog, the files, our links and the yaml sections."""

    def check(self) -> HealthReport: ...

    def repair(self) -> RepairReport: ...


class SourceServiceBase(Protocol):
    """Folders catalogued in place: nothing is ever written into them."""

    inspecting_elsewhere: Callable[[], bool]

    def add(
        self,
        path: str | Path,
        *,
        read_only: bool = True,
        auto: bool = False,
        app_id: str | None = None,
        scan: bool = True,
    ) -> dict[str, Any]: ...

    def list_sources(self) -> list[dict[str, Any]]: ...

    def remove(self, ref: str | int) -> dict[str, Any]: ...

    def move(self, old: str | Path, new: str | Path) -> dict[str, Any]: ...

    def scan(
        self,
        *,
        progress: StageProgress | None = None,
        cancelled: CancelCheck | None = None,
        only: set[Path] | None = None,
        inspect: bool = True,
        hash_files: bool = False,
    ) -> dict[str, Any]: ...

    def inspect_pending(self, *, cancelled: CancelCheck | None = None) -> int: ...

    def hash_pending(self, *, cancelled: CancelCheck | None = None, limit: int | None = None) -> int: ...

    def duplicates(self) -> dict[str, Any]: ...

    def start_background(self, *, poll_seconds: float = 30.0) -> None: ...

    def stop_background(self) -> None: ...


class HubServiceBase(Protocol):
    """Hugging Face: origin lookups (now, or pending until the Hub answers) and downloads."""

    def lookup(self, model: Model) -> list[Candidate]: ...

    def find_file(self, filename: str, sha256: str) -> Candidate | None: ...

    def model_card(self, repo_id: str) -> HubCard: ...

    def file_at_main(self, repo_id: str, filename: str) -> tuple[str, str | None]: ...

    def image_bytes(self, url: str, max_bytes: int) -> bytes: ...

    def page_url(self, repo_id: str, filename: str | None = None) -> str: ...

    def file_url(self, repo_id: str, revision: str, path: str) -> str: ...

    def queue_pending(self, model_ids: Sequence[str], reason: str = "after import") -> None: ...

    def download(
        self,
        repo_id: str,
        filenames: Sequence[str] = (),
        revision: str | None = None,
        *,
        progress: StageProgress | None = None,
        cancelled: CancelCheck | None = None,
        expected_sha256: Mapping[str, str] | None = None,
    ) -> list[ImportItem]: ...

    def repo_files(self, repo_id: str, revision: str | None = None) -> dict[str, Any]: ...

    def network_status(self) -> dict[str, Any]: ...

    def start_retry_loop(self, interval_s: float = 300.0) -> None: ...

    def close(self) -> None: ...


class PreviewServiceBase(Protocol):
    """A model's preview: the user's pick, an image beside its file, its embedded one, or its site's."""

    def image(self, ref: str, size: int | None = None) -> PreviewFile: ...

    def image_bytes(self, found: PreviewFile) -> bytes: ...

    def set_image(self, ref: str, data: bytes, source: PreviewSource = ...) -> Model: ...

    def set_from_output(self, ref: str, name: str, output_dir: Path | None) -> Model: ...

    def clear(self, ref: str) -> Model: ...

    def discover(
        self, model_ids: Iterable[str] | None = None, *, cancelled: CancelCheck | None = None
    ) -> int: ...

    def discover_one(self, model: Model) -> Model | None: ...

    def from_site(
        self, model: Model, source: PreviewSource, data: bytes, nsfw_level: int
    ) -> Model | None: ...

    def queue_discover(self, model_ids: Sequence[str]) -> None: ...

    def wait_idle(self, timeout: float = 10.0) -> bool: ...

    def close(self, timeout: float = 10.0) -> None: ...


class OriginServiceBase(Protocol):
    """What Civitai and Hugging Face say of a model, by its hash: sites, trigger words, a newer version."""

    def lookup(self, ref: str) -> dict[str, Any]: ...

    def enrich(self, ref: str, *, previews: bool = True) -> Model: ...

    def enrich_many(
        self,
        model_ids: Sequence[str] | None = None,
        *,
        previews: bool = True,
        progress: StageProgress | None = None,
        cancelled: CancelCheck | None = None,
    ) -> EnrichReport: ...

    def enrich_quietly(self, model: Model) -> None: ...

    def gallery(self, ref: str) -> list[GalleryItem]: ...

    def gallery_image(self, ref: str, index: int, size: int | None = None) -> PreviewFile: ...

    def use_gallery_image(self, ref: str, index: int) -> Model: ...

    def close(self) -> None: ...


class AdoptServiceBase(Protocol):
    """A ComfyUI install's models brought into the library in place, and given back."""

    def plan(self, comfyui_dir: PathArg) -> AdoptPlan: ...

    def adopt(
        self,
        comfyui_dir: PathArg,
        *,
        dry_run: bool = False,
        progress: StageProgress | None = None,
        cancelled: CancelCheck | None = None,
    ) -> AdoptReport: ...

    def undo(
        self,
        comfyui_dir: PathArg,
        *,
        progress: StageProgress | None = None,
        cancelled: CancelCheck | None = None,
    ) -> UndoReport: ...

    def release_adopted(self, model_id: str) -> UndoReport | None: ...


class CacheServiceBase(Protocol):
    """This machine's content-addressed cache of the library's files (off without MODEL_LIBRARY_CACHE)."""

    @property
    def enabled(self) -> bool: ...

    def route(self, path: str, *, fill: bool = True) -> str:
        """The path to read for a library file: its cached copy (filled on this first use unless
        ``fill`` is False), or itself."""

    def prefetch(self, model_ids: Sequence[str]) -> dict[str, Any]: ...

    def status(self) -> dict[str, Any]: ...

    def clear(self) -> dict[str, Any]: ...


class WorkflowServiceBase(Protocol):
    """The models a workflow references: which are available here and what would make each one so.

    ``comfyui_dir`` (default: the configured install) is the ComfyUI whose lists count as present;
    ``listing`` (category -> names, e.g. ``folder_paths.get_filename_list``) replaces reading its folders.
    ``fetch`` makes them available: links what the library holds under the names the workflow expects
    (in the named install, else every mapped one) and downloads what it lacks, verified by hash.
    """

    def check(
        self,
        workflow: Workflow,
        *,
        comfyui_dir: PathArg | None = None,
        listing: Listing | None = None,
        loaders: LoaderMap | None = None,
    ) -> WorkflowCheck: ...

    def stamp(self, workflow: Workflow) -> StampResult: ...

    def fetch(
        self,
        workflow: Workflow,
        *,
        comfyui_dir: PathArg | None = None,
        listing: Listing | None = None,
        loaders: LoaderMap | None = None,
        choices: Mapping[tuple[str | None, str], str] | None = None,
        progress: StageProgress | None = None,
        cancelled: CancelCheck | None = None,
    ) -> WorkflowFetch: ...
