"""A workflow as ComfyUI saves it: UI-format JSON, API-format JSON, or a PNG/WebP image carrying either.

``read_workflow_bytes`` tells the container by its first bytes (PNG signature, RIFF/WEBP, else JSON text),
takes the image's ``workflow`` text (UI format) before its ``prompt`` (API format), as the frontend does,
and checks the shape: a UI workflow is an object with a ``nodes`` list; an API workflow is an object of
``{node_id: {"class_type": str, "inputs": {...}}}``. Everything from outside is bounded (file size, JSON
size, nesting) and anything else is an ``InvalidInput`` saying which file and what is wrong.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from .containers import MAX_TEXT_BYTES, is_png, is_webp, read_png_text, read_webp_text


class WorkflowFormat(str, Enum):
    UI = "ui"  # what the frontend saves: nodes, links, groups, definitions.subgraphs
    API = "api"  # what the frontend queues: {node_id: {class_type, inputs}}


class Container(str, Enum):
    JSON = "json"
    PNG = "png"
    WEBP = "webp"
    OBJECT = "object"  # already parsed (an HTTP body)


@dataclass(frozen=True)
class Workflow:
    """One parsed workflow. ``data`` is the JSON object as read (not copied, not to be changed)."""

    format: WorkflowFormat
    container: Container
    data: Mapping[str, Any]
    label: str


def _is_api_node(value: object) -> bool:
    return isinstance(value, dict) and isinstance(value.get("class_type"), str)


def workflow_from_json(
    obj: object, *, label: str = "workflow", container: Container = Container.OBJECT
) -> Workflow:
    """A parsed JSON value checked to be a UI- or API-format workflow."""
    if not isinstance(obj, dict):
        raise InvalidInput(f"{label}: a workflow is a JSON object, not {type(obj).__name__}")
    if "nodes" in obj:
        nodes = obj["nodes"]
        if not isinstance(nodes, list):
            raise InvalidInput(f"{label}: 'nodes' must be a list, not {type(nodes).__name__}")
        for index, node in enumerate(nodes):
            if not isinstance(node, dict):
                raise InvalidInput(f"{label}: nodes[{index}] must be an object, not {type(node).__name__}")
        return Workflow(WorkflowFormat.UI, container, obj, label)
    if obj and all(_is_api_node(v) for v in obj.values()):
        for key, node in obj.items():
            if not isinstance(node.get("inputs", {}), dict):
                raise InvalidInput(f"{label}: node {key!r}: 'inputs' must be an object")
        return Workflow(WorkflowFormat.API, container, obj, label)
    bad = next((k for k, v in obj.items() if not _is_api_node(v)), None)
    raise InvalidInput(
        f"{label}: not a ComfyUI workflow: no 'nodes' list (UI format), and entry {bad!r} is not a node "
        "with a 'class_type' (API format). Save the workflow from ComfyUI (Workflow > Save or Export (API))"
    )


def parse_json_text(raw: bytes | str, label: str) -> object:
    """JSON text (UTF-8, a byte-order mark allowed) within the size and nesting limits."""
    if len(raw) > MAX_TEXT_BYTES:
        raise InvalidInput(
            f"{label}: {len(raw) >> 20} MiB of JSON is over the {MAX_TEXT_BYTES >> 20} MiB limit"
        )
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"{label}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        return json.loads(raw)
    except RecursionError:
        raise InvalidInput(f"{label}: the JSON is nested too deeply to be a workflow") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{label}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None


def _from_image_texts(texts: Mapping[str, str], label: str, container: Container) -> Workflow:
    if not texts:
        raise InvalidInput(
            f"{label}: the image carries no ComfyUI workflow (no 'workflow' or 'prompt' text); "
            "it was saved without metadata"
        )
    errors: list[str] = []
    for key in ("workflow", "prompt"):
        if key in texts:
            try:
                return workflow_from_json(
                    parse_json_text(texts[key], f"{label} [{key}]"), label=label, container=container
                )
            except InvalidInput as exc:
                errors.append(exc.message)
    raise InvalidInput("; ".join(errors))


def read_workflow_bytes(data: bytes, *, label: str = "workflow") -> Workflow:
    """A workflow from the bytes of a JSON file or of a PNG/WebP image carrying one."""
    if is_png(data):
        return _from_image_texts(read_png_text(io.BytesIO(data), label), label, Container.PNG)
    if is_webp(data):
        return _from_image_texts(read_webp_text(io.BytesIO(data), label), label, Container.WEBP)
    return workflow_from_json(parse_json_text(data, label), label=label, container=Container.JSON)


def read_workflow_file(path: str | os.PathLike[str]) -> Workflow:
    """A workflow from a file: images are walked chunk by chunk (pixels skipped), JSON read whole."""
    label = os.fspath(path)
    try:
        with Path(path).open("rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            head = stream.read(12)
            stream.seek(0)
            if is_png(head):
                return _from_image_texts(read_png_text(stream, label), label, Container.PNG)
            if is_webp(head):
                return _from_image_texts(read_webp_text(stream, label), label, Container.WEBP)
            if size > MAX_TEXT_BYTES:
                raise InvalidInput(
                    f"{label}: {size >> 20} MiB is over the {MAX_TEXT_BYTES >> 20} MiB limit "
                    "for a JSON workflow"
                )
            raw = stream.read(MAX_TEXT_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(f"{label}: cannot read the workflow file ({exc.strerror or exc})") from None
    return workflow_from_json(parse_json_text(raw, label), label=label, container=Container.JSON)
