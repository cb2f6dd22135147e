"""``/workflows``: the models a workflow needs, checked against the library and the host's ComfyUI.

The ComfyUI install is never taken from a request: the routes use the one the host configured. A
workflow's JSON may be large (subgraphs, notes): its body is read with the workflow reader's own cap and
parsed off the event loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..core.errors import InvalidInput
from ..core.workflows import read_workflow_bytes, workflow_from_json
from ..core.workflows.containers import MAX_TEXT_BYTES
from ..core.workflows.document import parse_json_text
from ._http import json_response, read_capped, reject_unknown, run
from ._router import Router
from .guards import Policy

if TYPE_CHECKING:
    from ..core.types import CancelCheck, StageProgress

WORKFLOW_BODY_LIMIT = MAX_TEXT_BYTES + 64 * 1024
READ_LIMIT = 64 << 20  # an image ComfyUI saved with its workflow: the picture and the JSON


async def read_workflow_body(
    request: web.Request, allowed: tuple[str, ...] = ("workflow",)
) -> dict[str, Any]:
    """``{"workflow": <UI or API JSON>, ...}`` read with the workflow cap and parsed in a thread."""
    raw = await read_capped(request, WORKFLOW_BODY_LIMIT, "a workflow", 256 * 1024)
    body = await run(parse_json_text, raw, "request body")
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
        result = await run(
            lambda: library.workflows.check(workflow, listing=ctx.listing, loaders=host_loaders(ctx))
        )
        return json_response(result.to_dict())

    async def fetch(request: web.Request) -> web.Response:
        body = await read_workflow_body(request, ("workflow", "choices"))
        workflow = workflow_from_json(body["workflow"], label="workflow")
        choices = parse_choices(body.get("choices"))
        library = await ctx.library()
        await run(library.mapping.targets)  # an install that is not mapped: refused now, not in the job

        def task(progress: StageProgress, cancelled: CancelCheck) -> dict[str, Any]:
            # Inside ComfyUI "present" is its own lists and its nodes' loader map, as for the check.
            result = library.workflows.fetch(
                workflow,
                listing=ctx.listing,
                loaders=host_loaders(ctx),
                choices=choices,
                progress=progress,
                cancelled=cancelled,
            )
            return result.to_dict()

        job = await ctx.submit("workflow_fetch", task, queue="download", params={"choices": len(choices)})
        return json_response({"job": job.to_dict()}, status=202)

    async def stamp(request: web.Request) -> web.Response:
        body = await read_workflow_body(request)
        workflow = workflow_from_json(body["workflow"], label="workflow")
        library = await ctx.library()
        result = await run(library.workflows.stamp, workflow)
        stamped = [
            {
                "node_id": s.node_id,
                "category": s.category,
                "name": s.name,
                "sha256": s.sha256,
                "added": s.added,
            }
            for s in result.stamped
        ]
        return json_response({"workflow": result.data, "stamped": stamped})

    async def read(request: web.Request) -> web.Response:
        """The workflow in a dropped file (JSON, or a PNG/WebP ComfyUI saved), read by the server."""
        raw = await read_capped(request, READ_LIMIT, "a workflow file", 256 * 1024)
        workflow = await run(read_workflow_bytes, raw, label="the dropped file")
        return json_response({"workflow": workflow.data, "format": workflow.format.value})

    router.add("POST", "/workflows/check", Policy.CHANGE, check)
    router.add("POST", "/workflows/read", Policy.UPLOAD, read)
    router.add("POST", "/workflows/stamp", Policy.CHANGE, stamp)
    router.add("POST", "/workflows/fetch", Policy.DESTRUCTIVE, fetch)


def host_loaders(ctx: Any) -> Any:
    """The running ComfyUI's loader map (its nodes' inputs that name files), or None outside it."""
    return ctx.loaders() if ctx.loaders is not None else None


MAX_CHOICES = 500


def parse_choices(value: Any) -> dict[tuple[str | None, str], str]:
    """``[{"node_id", "name", "model_id"}]`` -> {(node id, name): model id}: the models the user picked."""
    if value is None:
        return {}
    if not isinstance(value, list) or len(value) > MAX_CHOICES:
        raise InvalidInput(
            f"'choices' must be a list of at most {MAX_CHOICES} {{node_id, name, model_id}} objects"
        )
    out: dict[tuple[str | None, str], str] = {}
    for item in value:
        if not isinstance(item, dict) or set(item) - {"node_id", "name", "model_id"}:
            raise InvalidInput('each choice is {"node_id", "name", "model_id"}')
        node_id, name, model_id = item.get("node_id"), item.get("name"), item.get("model_id")
        if node_id is not None and not isinstance(node_id, (str, int)):
            raise InvalidInput("a choice's 'node_id' is the node's id (a string or a number) or null")
        if not isinstance(name, str) or not name or len(name) > 1024:
            raise InvalidInput("a choice's 'name' is the model name the workflow gives (a string)")
        if not isinstance(model_id, str) or not model_id or len(model_id) > 128:
            raise InvalidInput("a choice's 'model_id' is the id of the library model picked for it")
        out[(None if node_id is None else str(node_id), name)] = model_id
    return out
