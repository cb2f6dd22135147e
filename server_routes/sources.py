"""``/sources`` (folders catalogued in place) and ``/scan`` (rescan them, as a job)."""

from __future__ import annotations

from aiohttp import web

from ..core.errors import InvalidInput
from ._http import json_response, opt_str, read_json, reject_unknown, run, to_json
from ._router import Router
from ._tasks import scan_task
from .guards import Policy


def add_routes(router: Router) -> None:
    ctx = router.ctx

    async def list_sources(request: web.Request) -> web.Response:
        library = await ctx.library()
        return json_response({"items": await run(library.sources.list_sources)})

    async def add_source(request: web.Request) -> web.Response:
        body = await read_json(request)
        reject_unknown(body, ("path", "read_only"))
        path = opt_str(body, "path", max_len=4096, required=True)
        read_only = body.get("read_only", True)
        if not isinstance(read_only, bool):
            raise InvalidInput("'read_only' must be true or false")
        library = await ctx.library()
        # The folder is catalogued by a scan job, not inside the request: a big folder takes a while.
        source = to_json(await run(library.sources.add, path, read_only=read_only, scan=False))
        job = await ctx.submit("scan", scan_task(library), params={"source": path})
        return json_response({**source, "scan_job": job.to_dict()}, status=201)

    async def remove_source(request: web.Request) -> web.Response:
        raw = request.match_info["id"]
        library = await ctx.library()
        source_id: int | str = int(raw) if raw.isdigit() else raw
        return json_response(await run(library.sources.remove, source_id))

    async def scan(request: web.Request) -> web.Response:
        reject_unknown(await read_json(request), ())
        library = await ctx.library()
        job = await ctx.submit("scan", scan_task(library))
        return json_response({"job": job.to_dict()}, status=202)

    router.add("GET", "/sources", Policy.READ, list_sources)
    router.add("POST", "/sources", Policy.DESTRUCTIVE, add_source)
    router.add("DELETE", "/sources/{id}", Policy.DESTRUCTIVE, remove_source)
    router.add("POST", "/scan", Policy.CHANGE, scan)
