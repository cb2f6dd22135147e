"""``/jobs``: list, show, cancel."""

from __future__ import annotations

from aiohttp import web

from ..core.errors import InvalidInput
from ..core.taxonomy import JobState
from ._http import json_response, query_int, query_str, run
from ._router import Router
from .guards import Policy


def add_routes(router: Router) -> None:
    ctx = router.ctx

    async def list_jobs(request: web.Request) -> web.Response:
        limit = query_int(request, "limit", 100, low=1, high=500)
        state = query_str(request, "state", max_len=16)
        if state is not None and not JobState.has(state):
            raise InvalidInput(f"state must be one of {', '.join(JobState.values())}, got {state!r}")
        runner = await ctx.runner()
        jobs = runner.list_jobs(limit=limit, states=None if state is None else (state,))
        return json_response({"items": [job.to_dict() for job in jobs]})

    async def get_job(request: web.Request) -> web.Response:
        runner = await ctx.runner()
        return json_response((await run(runner.get, request.match_info["id"])).to_dict())

    async def cancel_job(request: web.Request) -> web.Response:
        runner = await ctx.runner()
        return json_response((await run(runner.cancel, request.match_info["id"])).to_dict())

    router.add("GET", "/jobs", Policy.READ, list_jobs)
    router.add("GET", "/jobs/{id}", Policy.READ, get_job)
    router.add("DELETE", "/jobs/{id}", Policy.CHANGE, cancel_job)
