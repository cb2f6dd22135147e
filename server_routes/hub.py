"""``/hf``: HuggingFace lookup (metadata only) and downloads (as resumable jobs)."""

from __future__ import annotations

import re

from aiohttp import web

from ..core.errors import InvalidInput
from ._http import json_response, opt_str, read_json, reject_unknown, run, str_list
from ._router import Router
from ._tasks import download_task
from .guards import Policy

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


def add_routes(router: Router) -> None:
    ctx = router.ctx

    async def lookup(request: web.Request) -> web.Response:
        body = await read_json(request)
        reject_unknown(body, ("model_id",))
        ref = opt_str(body, "model_id", max_len=200, required=True)
        library = await ctx.library()
        candidates = await run(library.lookup, ref)
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

    router.add("POST", "/hf/lookup", Policy.CHANGE, lookup)
    router.add("POST", "/hf/downloads", Policy.DESTRUCTIVE, download)
