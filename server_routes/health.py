"""``/health``: checks over catalog, files and links; repair (which removes broken links)."""

from __future__ import annotations

from aiohttp import web

from ._http import json_response, read_json, reject_unknown, run
from ._router import Router
from .guards import Policy


def add_routes(router: Router) -> None:
    ctx = router.ctx

    async def health(request: web.Request) -> web.Response:
        library = await ctx.library()
        return json_response(await run(library.health.check))

    async def repair(request: web.Request) -> web.Response:
        reject_unknown(await read_json(request), ())
        library = await ctx.library()
        return json_response(await run(library.health.repair))

    router.add("GET", "/health", Policy.READ, health)
    router.add("POST", "/health/repair", Policy.DESTRUCTIVE, repair)
