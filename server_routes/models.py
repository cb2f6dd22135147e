"""``/models``: list and search, detail, edit, remove."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..core.errors import InvalidInput
from ..core.models import SORT_KEYS, ModelQuery
from ._http import (
    dumps,
    json_response,
    json_text_response,
    opt_str,
    query_int,
    query_str,
    read_json,
    reject_unknown,
    run,
    str_list,
)
from ._router import Router
from .guards import Policy

MAX_LIMIT = 500
MAX_OFFSET = 10_000_000
EDIT_FIELDS = ("name", "type", "base_model", "tags", "notes", "trigger_words", "favorite", "default_strength")


def _model_ref(request: web.Request) -> str:
    ref = request.match_info["id"]
    if not ref or len(ref) > 200:
        raise InvalidInput("a model id is 1 to 200 characters (an id, or blake3:<hex> / sha256:<hex>)")
    return ref


def parse_query(request: web.Request) -> ModelQuery:
    sort = query_str(request, "sort", max_len=16) or "relevance"
    if sort not in SORT_KEYS:
        raise InvalidInput(f"sort must be one of {', '.join(SORT_KEYS)}, got {sort!r}")
    return ModelQuery(
        q=query_str(request, "q") or "",
        type=query_str(request, "type", max_len=64),
        base_model=query_str(request, "base_model", max_len=64),
        tag=query_str(request, "tag", max_len=200),
        location=query_str(request, "location", max_len=16),
        security=query_str(request, "security", max_len=16),
        file_format=query_str(request, "file_format", max_len=32),
        favorite=_query_bool(request, "favorite"),
        sort=sort,
        limit=query_int(request, "limit", 50, low=1, high=MAX_LIMIT),
        offset=query_int(request, "offset", 0, low=0, high=MAX_OFFSET),
    )


def _query_bool(request: web.Request, name: str) -> bool | None:
    value = query_str(request, name, max_len=8)
    if value is None or value == "":
        return None
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise InvalidInput(f"{name} must be true or false, not {value!r}")


def add_routes(router: Router) -> None:
    ctx = router.ctx

    async def list_models(request: web.Request) -> web.Response:
        query = parse_query(request)
        library = await ctx.library()

        def page_json() -> str:
            # Serialising 50 models is real CPU: done in the worker thread, not on the event loop.
            return dumps(library.catalog.list_models(query))

        return json_text_response(await run(page_json))

    async def get_model(request: web.Request) -> web.Response:
        ref = _model_ref(request)
        library = await ctx.library()
        return json_response(await run(library.catalog.model_detail, ref))

    async def edit_model(request: web.Request) -> web.Response:
        ref = _model_ref(request)
        body = await read_json(request)
        reject_unknown(body, EDIT_FIELDS)
        if not body:
            raise InvalidInput(f"nothing to change; send at least one of {', '.join(EDIT_FIELDS)}")
        changes: dict[str, Any] = {
            "name": opt_str(body, "name", max_len=255),
            "type": opt_str(body, "type", max_len=64),
            "base_model": opt_str(body, "base_model", max_len=64),
            "notes": opt_str(body, "notes", max_len=20_000),
        }
        if body.get("tags") is not None:
            changes["tags"] = str_list(body["tags"], "tags", max_items=100, max_len=100)
        if body.get("trigger_words") is not None:
            changes["trigger_words"] = str_list(
                body["trigger_words"], "trigger_words", max_items=64, max_len=200
            )
        if body.get("favorite") is not None:
            if not isinstance(body["favorite"], bool):
                raise InvalidInput("favorite must be true or false")
            changes["favorite"] = body["favorite"]
        if "default_strength" in body:  # a number, or null to clear it
            strength = body["default_strength"]
            changes["default_strength"] = "" if strength is None else strength
        library = await ctx.library()
        model = await run(
            library.catalog.edit_model, ref, **{k: v for k, v in changes.items() if v is not None}
        )
        return json_response(model.to_dict())

    async def remove_model(request: web.Request) -> web.Response:
        ref = _model_ref(request)
        library = await ctx.library()
        return json_response(await run(library.catalog.remove_model, ref))

    async def facets(request: web.Request) -> web.Response:
        query = parse_query(request)
        library = await ctx.library()
        return json_response((await run(library.catalog.facets, query)).to_dict())

    async def mark_used(request: web.Request) -> web.Response:
        ref = _model_ref(request)
        library = await ctx.library()
        await run(library.catalog.mark_used, ref)
        return web.Response(status=204)

    router.add("GET", "/models", Policy.READ, list_models)
    router.add("GET", "/models/facets", Policy.READ, facets)
    router.add("POST", "/models/{id}/used", Policy.CHANGE, mark_used)
    router.add("GET", "/models/{id}", Policy.READ, get_model)
    router.add("PATCH", "/models/{id}", Policy.CHANGE, edit_model)
    router.add("DELETE", "/models/{id}", Policy.DESTRUCTIVE, remove_model)
