"""``/hf``: HuggingFace lookup (metadata only) and downloads (as resumable jobs)."""

from __future__ import annotations

import re

from aiohttp import web

from ..core.errors import InvalidInput
from ._http import json_response, opt_str, read_json, reject_unknown, run, str_list
from ._router import Router
from ._tasks import download_task
from .guards import Policy

_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/]*$")
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


def add_routes(router: Router) -> None:
    ctx = router.ctx

    async def lookup(request: web.Request) -> web.Response:
        body = await read_json(request)
        reject_unknown(body, ("model_id",))
        ref = opt_str(body, "model_id", max_len=200, required=True)
        library = await ctx.library()
        candidates = await run(lambda: library.hub.lookup(library.catalog.get_model(ref)))
        return json_response({"candidates": [c.to_dict() for c in candidates]})

    async def download(request: web.Request) -> web.Response:
        body = await read_json(request)
        reject_unknown(body, ("repo_id", "filename", "filenames", "revision"))
        repo_id = opt_str(body, "repo_id", max_len=200, required=True) or ""
        if not _REPO_ID.match(repo_id):
            raise InvalidInput(f"'repo_id' must look like owner/name, got {repo_id[:80]!r}")
        filenames: list[str] = []
        if body.get("filename") is not None:
            filenames.append(opt_str(body, "filename", max_len=1024) or "")
        if body.get("filenames") is not None:
            filenames += str_list(body["filenames"], "filenames", max_items=200, max_len=1024)
        revision = opt_str(body, "revision", max_len=128)
        library = await ctx.library()
        params = {"repo_id": repo_id, "filenames": filenames, "revision": revision}
        job = await ctx.submit(
            "download",
            download_task(library, repo_id, filenames, revision),
            queue="download",
            params=params,
            resumable=True,
        )
        return json_response({"job": job.to_dict()}, status=202)

    async def repo_files(request: web.Request) -> web.Response:
        repo_id = request.match_info["repo_id"]
        if not _REPO_ID.match(repo_id):
            raise InvalidInput(f"'repo_id' must look like owner/name, got {repo_id[:80]!r}")
        revision = request.query.get("revision") or None
        if revision is not None and (len(revision) > 128 or not _REVISION.match(revision)):
            raise InvalidInput("'revision' must be a branch, tag or commit name of at most 128 characters")
        library = await ctx.library()
        listing = await run(library.hub.repo_files, repo_id, revision)
        return json_response(listing)

    router.add("GET", "/hf/repos/{repo_id:[^/]+/[^/]+}/files", Policy.READ, repo_files)
    router.add("POST", "/hf/lookup", Policy.CHANGE, lookup)
    router.add("POST", "/hf/downloads", Policy.DESTRUCTIVE, download)
