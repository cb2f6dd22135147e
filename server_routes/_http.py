"""HTTP plumbing shared by every route: errors as JSON, capped JSON bodies, work off the event loop.

One place turns exceptions into answers: a :class:`ModelLibraryError` becomes ``{"error": {"code",
"message"}}`` with its ``http_status``; anything else is logged with its traceback and answered 500
``internal_error`` with a generic message (internals never reach the client).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

from ..core.errors import InvalidInput, ModelLibraryError

log = logging.getLogger("model_library.http")

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

JSON_BODY_LIMIT = 64 * 1024
MAX_QUERY_TEXT = 1024


class BodyTooLarge(InvalidInput):
    code = "body_too_large"
    http_status = 413


class UnsupportedMediaType(InvalidInput):
    code = "unsupported_media_type"
    http_status = 415


async def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking work (disk, hashing, SQLite) in a thread so the event loop stays free."""
    return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))


def to_json(value: Any) -> Any:
    """Values with ``to_dict`` (models, jobs, reports) and containers of them, as plain JSON data."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return value


def json_response(data: Any, *, status: int = 200) -> web.Response:
    return web.json_response(
        to_json(data),
        status=status,
        dumps=functools.partial(json.dumps, default=str),
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


def dumps(data: Any) -> str:
    return json.dumps(to_json(data), default=str)


def json_text_response(text: str, *, status: int = 200) -> web.Response:
    """A response from JSON already serialized (in a worker thread, for large pages)."""
    return web.Response(
        text=text,
        status=status,
        content_type="application/json",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


def error_response(exc: BaseException) -> web.Response:
    if isinstance(exc, ModelLibraryError):
        body: dict[str, Any] = exc.to_dict()
        details = getattr(exc, "details", None)
        if isinstance(details, dict):
            body.update(details)
        return json_response(body, status=exc.http_status)
    log.error("unexpected error while answering a request", exc_info=exc)
    return json_response(
        {"error": {"code": "internal_error", "message": "Internal error; the server log has the details."}},
        status=500,
    )


def guarded(handler: Handler) -> Handler:
    """Answer errors raised by ``handler`` in the one JSON shape."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return error_response(exc)

    return wrapper


async def read_capped(request: web.Request, limit: int, what: str, chunk: int = 16 * 1024) -> bytes:
    """The request's body, at most ``limit`` bytes (Content-Length is checked, then never trusted)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BodyTooLarge(f"request body of {declared} bytes is over the {limit}-byte limit for {what}")
    body = bytearray()
    async for part in request.content.iter_chunked(chunk):
        body += part
        if len(body) > limit:
            raise BodyTooLarge(f"request body is over the {limit}-byte limit for {what}")
    return bytes(body)


async def read_json(request: web.Request, *, limit: int = JSON_BODY_LIMIT) -> dict[str, Any]:
    """The request's JSON object, read with a cap. An empty body reads as ``{}`` (routes like
    ``POST /scan`` take no arguments)."""
    body = await read_capped(request, limit, "JSON")
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"request body is not valid JSON ({exc})") from exc
    except RecursionError:
        # Python's parser recurses per nesting level: a deep [[[[... must be a 400, not a traceback.
        raise InvalidInput("request body is nested too deeply to be read; send a flat JSON object") from None
    if not isinstance(data, dict):
        raise InvalidInput('request body must be a JSON object, e.g. {"paths": [...]}')
    return data


def reject_unknown(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise InvalidInput(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")


def opt_str(body: dict[str, Any], key: str, *, max_len: int = 1024, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise InvalidInput(f"'{key}' is required")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"'{key}' must be a string")
    if len(value) > max_len:
        raise InvalidInput(f"'{key}' is longer than {max_len} characters")
    if "\x00" in value:
        raise InvalidInput(f"'{key}' contains a NUL character")
    return value


def str_list(value: Any, key: str, *, max_items: int, max_len: int) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"'{key}' must be a list of strings")
    if len(value) > max_items:
        raise InvalidInput(f"'{key}' has {len(value)} items; at most {max_items} are allowed per request")
    for item in value:
        if len(item) > max_len or "\x00" in item:
            raise InvalidInput(f"an item of '{key}' is longer than {max_len} characters or contains NUL")
    return list(value)


def query_int(request: web.Request, name: str, default: int, *, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw, 10)
    except ValueError:
        raise InvalidInput(f"query parameter '{name}' must be an integer, got {raw[:40]!r}") from None
    if not low <= value <= high:
        raise InvalidInput(f"query parameter '{name}' must be between {low} and {high}, got {value}")
    return value


def query_str(request: web.Request, name: str, *, max_len: int = MAX_QUERY_TEXT) -> str | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > max_len:
        raise InvalidInput(f"query parameter '{name}' is longer than {max_len} characters")
    if "\x00" in raw:
        raise InvalidInput(f"query parameter '{name}' contains a NUL character")
    return raw
