"""``/workflows``: the models a workflow needs, checked against the library and the host's ComfyUI.

The ComfyUI install is never taken from a request: the routes use the one the host configured. A
workflow's JSON may be large (subgraphs, notes): its body is read with the workflow reader's own cap and
parsed off the event loop.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..core.errors import InvalidInput
from ..core.workflows import workflow_from_json
from ..core.workflows.containers import MAX_TEXT_BYTES
from ..core.workflows.document import parse_json_text
from ._http import BodyTooLarge, json_response, reject_unknown, run
from ._router import Router
from .guards import Policy

WORKFLOW_BODY_LIMIT = MAX_TEXT_BYTES + 64 * 1024


async def read_workflow_body(
    request: web.Request, allowed: tuple[str, ...] = ("workflow",)
) -> dict[str, Any]:
    """``{"workflow": <UI or API JSON>, ...}`` read with the workflow cap and parsed in a thread."""
    declared = request.content_length
    if declared is not None and declared > WORKFLOW_BODY_LIMIT:
        raise BodyTooLarge(f"request body of {declared} bytes is over the {WORKFLOW_BODY_LIMIT}-byte limit")
    raw = bytearray()
    async for chunk in request.content.iter_chunked(256 * 1024):
        raw += chunk
        if len(raw) > WORKFLOW_BODY_LIMIT:
            raise BodyTooLarge(f"request body is over the {WORKFLOW_BODY_LIMIT}-byte limit")
    body = await run(parse_json_text, bytes(raw), "request body")
    if not isinstance(body, dict):
        raise InvalidInput('request body must be a JSON object: {"workflow": <the workflow JSON>}')
    reject_unknown(body, allowed)
    if "workflow" not in body:
        raise InvalidInput('request body needs "workflow": the workflow JSON as ComfyUI saves it')
    return body


def add_routes(router: Router) -> None:
    ctx = router.ctx

    async def check(request: web.Request) -> web.Response:
        body = await read_workflow_body(request)
        workflow = workflow_from_json(body["workflow"], label="workflow")
        library = await ctx.library()
        result = await run(library.workflows.check, workflow)
        return json_response(result.to_dict())

    router.add("POST", "/workflows/check", Policy.CHANGE, check)
