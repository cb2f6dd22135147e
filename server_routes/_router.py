"""Adds guarded, error-mapped handlers to a route table under one or more prefixes."""

from __future__ import annotations

import asyncio
import functools

from aiohttp import web

from ._context import RouteContext
from ._http import Handler, error_response
from .guards import Policy, RequestFacts, check

PREFIX = "/model-library/v1"
API_PREFIX = "/api" + PREFIX


class Router:
    def __init__(self, routes: web.RouteTableDef, ctx: RouteContext, prefixes: tuple[str, ...]) -> None:
        self.routes = routes
        self.ctx = ctx
        self.prefixes = prefixes

    def add(self, method: str, path: str, policy: Policy, handler: Handler) -> None:
        wrapped = self.wrap(handler, policy)
        for prefix in self.prefixes:
            self.routes.route(method, prefix + path)(wrapped)

    def wrap(self, handler: Handler, policy: Policy) -> Handler:
        settings = self.ctx.settings

        @functools.wraps(handler)
        async def guarded_handler(request: web.Request) -> web.StreamResponse:
            try:
                check(RequestFacts.of(request), policy, settings)
                return await handler(request)
            except (web.HTTPException, asyncio.CancelledError):
                raise
            except Exception as exc:
                return error_response(exc)

        return guarded_handler
