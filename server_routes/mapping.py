"""``/mapping``: the rules that decide where ComfyUI sees each model, their preview and apply.

The ComfyUI folder is never taken from a request: the routes act on the install the host configured
(a request naming any folder would let a page create links anywhere).
"""

from __future__ import annotations

from aiohttp import web

from ..core.errors import InvalidInput
from ._http import json_response, read_json, reject_unknown, run
from ._router import Router
from .guards import Policy


def add_routes(router: Router) -> None:
    ctx = router.ctx

    async def get_mapping(request: web.Request) -> web.Response:
        library = await ctx.library()
        return json_response(await run(library.mapping.get_config))

    async def put_mapping(request: web.Request) -> web.Response:
        body = await read_json(request)
        library = await ctx.library()
        return json_response(await run(library.mapping.set_config, body))

    async def preview(request: web.Request) -> web.Response:
        reject_unknown(await read_json(request), ())
        library = await ctx.library()
        return json_response(await run(library.mapping.preview))

    async def apply(request: web.Request) -> web.Response:
        body = await read_json(request)
        reject_unknown(body, ("resolutions", "shared"))
        shared = body.get("shared", False)
        if not isinstance(shared, bool):
            raise InvalidInput("'shared' must be true or false")
        resolutions = body.get("resolutions")
        if resolutions is not None and not (
            isinstance(resolutions, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in resolutions.items())
        ):
            raise InvalidInput("'resolutions' must map link paths to skip|overwrite|rename")
        library = await ctx.library()
        return json_response(await run(lambda: library.mapping.apply(None, resolutions, shared=shared)))

    async def remove(request: web.Request) -> web.Response:
        reject_unknown(await read_json(request), ())
        library = await ctx.library()
        configured = library.config.comfyui_root
        if configured is None:
            raise InvalidInput("No ComfyUI install is configured here: nothing to unmap.")
        return json_response(await run(library.mapping.unmap, configured))

    router.add("GET", "/mapping", Policy.READ, get_mapping)
    router.add("PUT", "/mapping", Policy.DESTRUCTIVE, put_mapping)
    router.add("POST", "/mapping/preview", Policy.CHANGE, preview)
    router.add("POST", "/mapping/apply", Policy.DESTRUCTIVE, apply)
    router.add("POST", "/mapping/remove", Policy.DESTRUCTIVE, remove)
