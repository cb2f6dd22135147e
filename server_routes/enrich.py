"""Origins: ``POST /models/{id}/enrich`` (now, this model) and ``POST /enrich`` (a job, many models)."""

from __future__ import annotations

from aiohttp import web

from ..core.errors import InvalidInput
from ._http import json_response, read_json, reject_unknown, run, str_list
from ._router import Router
from ._tasks import enrich_task
from .guards import Policy
from .models import _model_ref

MAX_IDS = 10_000


def add_routes(router: Router) -> None:
    ctx = router.ctx

    async def enrich_model(request: web.Request) -> web.Response:
        ref = _model_ref(request)
        reject_unknown(await read_json(request), ())
        library = await ctx.library()
        return json_response(
            (await run(library.origins.enrich, ref)).to_dict(library_root=str(library.config.root))
        )

    async def enrich_many(request: web.Request) -> web.Response:
        body = await read_json(request)
        reject_unknown(body, ("ids", "all"))
        every = body.get("all", False)
        if not isinstance(every, bool):
            raise InvalidInput("all must be true or false")
        ids = (
            str_list(body["ids"], "ids", max_items=MAX_IDS, max_len=200)
            if body.get("ids") is not None
            else None
        )
        if (ids is None) == (not every):
            raise InvalidInput('send either "ids": [model ids] or "all": true')
        library = await ctx.library()
        job = await ctx.submit(
            "enrich", enrich_task(library, ids), queue="download", params={"count": len(ids or [])}
        )
        return json_response({"job": job.to_dict()}, status=202)

    router.add("POST", "/models/{id}/enrich", Policy.CHANGE, enrich_model)
    router.add("POST", "/enrich", Policy.CHANGE, enrich_many)
