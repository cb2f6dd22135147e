"""The workflow nodes: library loaders and Library Model Path (ComfyUI V1 mappings)."""

from __future__ import annotations

from ._catalog import bind_library
from .loaders import LibraryCheckpointLoader, LibraryLoraLoader, LibraryLoraLoaderModelOnly, LibraryVaeLoader
from .model_path import LibraryModelPath

NODE_CLASS_MAPPINGS = {
    "LibraryCheckpointLoader": LibraryCheckpointLoader,
    "LibraryLoraLoader": LibraryLoraLoader,
    "LibraryLoraLoaderModelOnly": LibraryLoraLoaderModelOnly,
    "LibraryVAELoader": LibraryVaeLoader,
    "LibraryModelPath": LibraryModelPath,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "LibraryCheckpointLoader": "Library Checkpoint Loader",
    "LibraryLoraLoader": "Library LoRA Loader",
    "LibraryLoraLoaderModelOnly": "Library LoRA Loader (model only)",
    "LibraryVAELoader": "Library VAE Loader",
    "LibraryModelPath": "Library Model Path",
}


def v3_host() -> bool:
    """True inside a ComfyUI that has the V3 node API (``comfy_api.latest``), unless
    ``MODEL_LIBRARY_NODES=v1`` asks for the V1 declarations. Only looks: imports nothing."""
    import importlib.util
    import os

    if os.environ.get("MODEL_LIBRARY_NODES", "").lower() == "v1":
        return False
    try:
        return importlib.util.find_spec("comfy_api.latest") is not None
    except (ImportError, ValueError):
        return False


__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "bind_library", "v3_host"]
