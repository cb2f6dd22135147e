"""``POST /imports``: import files the server can read, confined to the import roots, as a job."""

from __future__ import annotations

from aiohttp import web

from ..core.errors import InvalidInput
from ._http import json_response, read_json, reject_unknown, str_list
from ._router import Router
from ._tasks import import_task
from .guards import Policy, RequestFacts, require_remote_allowed

MAX_PATHS = 1000
MAX_PATH_LEN = 4096


def add_routes(router: Router) -> None:
    ctx = router.ctx

    async def create_import(request: web.Request) -> web.Response:
        body = await read_json(request)
        reject_unknown(body, ("paths", "mode", "allow_pickle"))
        paths = str_list(body.get("paths"), "paths", max_items=MAX_PATHS, max_len=MAX_PATH_LEN)
        if not paths:
            raise InvalidInput("'paths' must name at least one file or folder")
        mode = body.get("mode", "copy")
        if mode not in ("copy", "move"):
            raise InvalidInput(f'\'mode\' must be "copy" or "move", got {mode!r}')
        allow_pickle = body.get("allow_pickle", False)
        if not isinstance(allow_pickle, bool):
            raise InvalidInput("'allow_pickle' must be true or false")
        if mode == "move":
            # Moving takes files away from where they were: destructive, like a delete.
            require_remote_allowed(RequestFacts.of(request), ctx.settings)
        library = await ctx.library()
        job = await ctx.submit(
            "import",
            import_task(library, paths, move=mode == "move", allow_pickle=allow_pickle),
            params={"paths": paths, "mode": mode, "allow_pickle": allow_pickle},
        )
        return json_response({"job": job.to_dict()}, status=202)

    router.add("POST", "/imports", Policy.CHANGE, create_import)
