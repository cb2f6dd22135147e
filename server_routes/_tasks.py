"""The functions jobs run, shared by the routes that start them and by resume after a restart."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import InvalidInput, ModelLibraryError

if TYPE_CHECKING:
    # Types only: the job and upload modules load when the first request builds the route context.
    from ..core.jobs import Job, JobFn
    from ..core.library import Library
    from ..core.models import ImportItem
    from ..core.types import CancelCheck, StageProgress
    from ..core.uploads import UploadStore


class NothingImported(ModelLibraryError):
    """Every item of an import failed: the job ends ``failed`` (never a green "done"), items kept."""

    code = "import_failed"
    http_status = 400


def items_result(items: list[ImportItem], **extra: Any) -> dict[str, Any]:
    """The result of an import-like job; raises (job failed, result kept) when every item failed."""
    result = {"items": [item.to_dict() for item in items], **extra}
    if items and all(item.status == "failed" for item in items):
        from ..core.jobs import FailedWithResult

        if len(items) == 1:
            error = NothingImported(items[0].error or "The import failed.")
            error.code = items[0].error_code or NothingImported.code
        else:
            error = NothingImported(
                f"None of the {len(items)} items was imported; each item says why "
                f"(first: {items[0].error or 'failed'})."
            )
        raise FailedWithResult(error, result)
    return result


def import_task(library: Library, paths: list[str], *, move: bool, allow_pickle: bool = False) -> JobFn:
    """Pickle-format files (which can run code when loaded) import only with ``allow_pickle``: over HTTP
    the user confirms them explicitly (THREATS #8); without it they fail with pickle_needs_confirmation."""

    def fn(progress: StageProgress, cancelled: CancelCheck) -> dict[str, Any]:
        items = library.imports.import_paths(
            paths, move=move, confine=True, allow_pickle=allow_pickle, progress=progress, cancelled=cancelled
        )
        if not items:  # a job that imported nothing must not end "done" (green) as if it had
            raise InvalidInput(
                f"nothing to import: no model files (.safetensors, .gguf, .ckpt, ...) in {', '.join(paths)}"
            )
        return items_result(items)

    return fn


def upload_import_task(
    library: Library,
    uploads: UploadStore,
    upload_id: str,
    path: Path,
    filename: str,
    received: dict[str, Any],
) -> JobFn:
    """Import a finished upload, then drop the session (whatever the outcome: the bytes were copied or
    refused, and a failed upload would otherwise hold its space until it expires)."""

    def fn(progress: StageProgress, cancelled: CancelCheck) -> dict[str, Any]:
        try:
            items = library.imports.import_uploaded(path, filename, progress=progress, cancelled=cancelled)
        finally:
            uploads.discard(upload_id)
        return items_result(items, received=received)

    return fn


def upload_group_import_task(library: Library, uploads: UploadStore, group_folder: str, group: str) -> JobFn:
    """Import the files of one drop as ``import <folder>`` would (sharded sets and Diffusers folders
    become one model each), moving them in and confined to the import roots; then drop the group."""

    def fn(progress: StageProgress, cancelled: CancelCheck) -> dict[str, Any]:
        try:
            paths = uploads.groups.import_paths(group_folder)
            items = library.imports.import_uploaded_paths(paths, progress=progress, cancelled=cancelled)
        finally:
            uploads.discard_group(group_folder)
        return items_result(items, group=group)

    return fn


def download_task(library: Library, repo_id: str, filenames: list[str], revision: str | None) -> JobFn:
    def fn(progress: StageProgress, cancelled: CancelCheck) -> dict[str, Any]:
        items = library.hub.download(repo_id, filenames, revision, progress=progress, cancelled=cancelled)
        return items_result(items)

    return fn


def scan_task(library: Library) -> JobFn:
    def fn(progress: StageProgress, cancelled: CancelCheck) -> Any:
        return library.sources.scan(progress=progress, cancelled=cancelled)

    return fn


def resume_factory(library: Library, uploads: UploadStore) -> Any:
    """For :meth:`JobRunner.resume_interrupted`: continue downloads and imports of finished uploads."""

    def factory(job: Job) -> JobFn | None:
        params = job.params
        if job.kind == "download":
            return download_task(
                library, str(params["repo_id"]), list(params.get("filenames", [])), params.get("revision")
            )
        if job.kind == "upload" and params.get("group_folder"):
            if Path(str(params.get("path", ""))).is_dir():
                return upload_group_import_task(
                    library, uploads, str(params["group_folder"]), str(params.get("group", ""))
                )
        elif job.kind == "upload":
            path = Path(str(params.get("path", "")))
            if path.is_file():
                return upload_import_task(
                    library,
                    uploads,
                    str(params["upload_id"]),
                    path,
                    str(params["filename"]),
                    dict(params.get("received", {})),
                )
        return None

    return factory


def enrich_task(library: Library, model_ids: list[str] | None) -> JobFn:
    def fn(progress: StageProgress, cancelled: CancelCheck) -> Any:
        return library.origins.enrich_many(model_ids, progress=progress, cancelled=cancelled).to_dict()

    return fn
