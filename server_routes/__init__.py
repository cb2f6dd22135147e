"""The HTTP API of CONTRACT.md, as aiohttp routes any host can mount.

``register(routes, get_library, settings=...)`` adds every route to a ``web.RouteTableDef`` (ComfyUI's
``PromptServer.instance.routes``, or a bare app's table in ``serve`` and the tests). Nothing is built
until the first request. Every handler validates its input, runs the work in a thread or as a job, and
answers JSON; every route passes the guards of :mod:`.guards` first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ._context import EVENT_CHANGED, EVENT_JOB, Listing, Publish, RouteContext, RunnerOptions
from ._router import API_PREFIX, PREFIX, Router
from .guards import GuardSettings

if TYPE_CHECKING:
    from ..core.library import Library

__all__ = [
    "API_PREFIX",
    "EVENT_CHANGED",
    "EVENT_JOB",
    "PREFIX",
    "GuardSettings",
    "RouteContext",
    "RunnerOptions",
    "register",
]


def register(
    routes: web.RouteTableDef,
    get_library: Callable[[], Library],
    *,
    settings: GuardSettings,
    publish: Publish | None = None,
    also_api_prefix: bool = False,
    runner_options: RunnerOptions | None = None,
    listing: Listing | None = None,
    loaders: Callable[[], Any] | None = None,
    output_dir: Callable[[], Path | None] | None = None,
) -> RouteContext:
    """Add every route under ``/model-library/v1`` (and ``/api/model-library/v1`` when asked: ComfyUI
    adds that copy itself). Returns the context, whose ``shutdown()`` stops the job runner."""
    from . import (
        enrich,
        health,
        hub,
        imports,
        jobs,
        mapping,
        models,
        previews,
        sources,
        status,
        uploads,
        workflows,
    )

    ctx = RouteContext(
        get_library,
        settings=settings,
        publish=publish,
        runner_options=runner_options,
        listing=listing,
        loaders=loaders,
        output_dir=output_dir,
    )
    router = Router(routes, ctx, (PREFIX, API_PREFIX) if also_api_prefix else (PREFIX,))
    for module in (
        models,
        previews,
        enrich,
        imports,
        uploads,
        jobs,
        hub,
        mapping,
        health,
        sources,
        status,
        workflows,
    ):
        module.add_routes(router)
    return ctx
