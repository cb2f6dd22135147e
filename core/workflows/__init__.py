"""Workflows as ComfyUI saves them: read them (JSON, API JSON, PNG/WebP) and list every model they reference.

Pure: no ComfyUI, no catalog. Resolution against the library and fetching come later, on top of this.

    workflow = read_workflow_file("portrait.png")
    for ref in extract_references(workflow).references:
        print(ref.node_id, ref.category, ref.name, ref.url, ref.hash)
"""

from __future__ import annotations

from .document import (
    Container,
    Workflow,
    WorkflowFormat,
    read_workflow_bytes,
    read_workflow_file,
    workflow_from_json,
)
from .extract import extract_references
from .loaders import CORE_LOADERS, LoaderInput, LoaderMap, loaders_from_object_info, merged
from .references import ContentHash, Extraction, RefSource, WorkflowReference

__all__ = [
    "CORE_LOADERS",
    "Container",
    "ContentHash",
    "Extraction",
    "LoaderInput",
    "LoaderMap",
    "RefSource",
    "Workflow",
    "WorkflowFormat",
    "WorkflowReference",
    "extract_references",
    "loaders_from_object_info",
    "merged",
    "read_workflow_bytes",
    "read_workflow_file",
    "workflow_from_json",
]
