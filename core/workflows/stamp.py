"""Writing our SHA-256 into a workflow: ``properties.models`` entries on loader nodes.

``stamp(workflow, lookup)`` returns a copy of the workflow's JSON in which every top-level loader widget
whose file ``lookup`` knows carries a ``properties.models`` entry ``{name, directory, hash, hash_type:
"SHA256", url?}`` (ComfyUI's own spelling, so its missing-model dialog recognises it). An existing entry
naming the same file is completed (a hash it already has is kept; a url it already has is kept); nothing
else in the document changes, and key order is kept so re-serialising differs only in the entries added.
Pure: no I/O; ``lookup`` answers from the catalog. Nodes inside subgraph definitions are not stamped yet.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .document import Workflow, WorkflowFormat
from .extract import extract_references
from .loaders import CORE_LOADERS, LoaderMap
from .references import RefSource, WorkflowReference, base_name


@dataclass(frozen=True)
class StampInfo:
    """What the library knows about one file: its SHA-256 (lower-case hex) and, if known, its origin."""

    sha256: str
    url: str | None = None


@dataclass(frozen=True)
class Stamped:
    node_id: str
    category: str
    name: str
    sha256: str
    added: bool  # a new entry (False: an existing entry completed)


@dataclass(frozen=True)
class StampResult:
    data: dict[str, Any]
    stamped: tuple[Stamped, ...]


Lookup = Callable[[WorkflowReference], StampInfo | None]


def stamp(workflow: Workflow, lookup: Lookup, loaders: LoaderMap = CORE_LOADERS) -> StampResult:
    """The workflow with a hash entry on every top-level loader node ``lookup`` knows the file of."""
    data: dict[str, Any] = json.loads(json.dumps(workflow.data))  # JSON in, JSON out: a deep copy
    if workflow.format is not WorkflowFormat.UI:
        return StampResult(data, ())  # the API format has no properties to carry hashes
    nodes = {str(n.get("id")): n for n in data.get("nodes", []) if isinstance(n, dict)}
    done: list[Stamped] = []
    for ref in extract_references(workflow, loaders).references:
        if ref.node_id is None or RefSource.WIDGET not in ref.sources or ref.node_id not in nodes:
            continue
        info = lookup(ref)
        if info is None:
            continue
        added = _write(nodes[ref.node_id], ref, info)
        if added is not None:
            done.append(Stamped(ref.node_id, ref.category, ref.name, info.sha256.lower(), added))
    return StampResult(data, tuple(done))


def _write(node: dict[str, Any], ref: WorkflowReference, info: StampInfo) -> bool | None:
    """Adds or completes the node's entry for ``ref``; True added, False completed, None unchanged."""
    properties = node.setdefault("properties", {})
    if not isinstance(properties, dict):
        return None
    models = properties.setdefault("models", [])
    if not isinstance(models, list):
        return None
    wanted = base_name(ref.name)
    for entry in models:
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("name"), str)
            and base_name(entry["name"]) == wanted
        ):
            changed = False
            if not entry.get("hash"):
                entry["hash"], entry["hash_type"] = info.sha256.lower(), "SHA256"
                changed = True
            if info.url and not entry.get("url"):
                entry["url"] = info.url
                changed = True
            entry.setdefault("directory", ref.category)
            return False if changed else None
    entry = {"name": wanted, "directory": ref.category, "hash": info.sha256.lower(), "hash_type": "SHA256"}
    if info.url:
        entry["url"] = info.url
    models.append(entry)
    return True
