"""The workflow nodes: library loaders and Library Model Path (ComfyUI V1 mappings)."""

from __future__ import annotations

from ._catalog import bind_library
from .loaders import LibraryCheckpointLoader, LibraryLoraLoader, LibraryVaeLoader
from .model_path import LibraryModelPath

NODE_CLASS_MAPPINGS = {
    "LibraryCheckpointLoader": LibraryCheckpointLoader,
    "LibraryLoraLoader": LibraryLoraLoader,
    "LibraryVAELoader": LibraryVaeLoader,
    "LibraryModelPath": LibraryModelPath,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "LibraryCheckpointLoader": "Library Checkpoint Loader",
    "LibraryLoraLoader": "Library LoRA Loader",
    "LibraryVAELoader": "Library VAE Loader",
    "LibraryModelPath": "Library Model Path",
}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "bind_library"]
