"""Library Model Path: any library model as the name ComfyUI knows it by, and its full path.

The name output has the wildcard type, so it plugs into any loader's file-name input (a ControlNet, an
upscaler, a custom node's loader) wherever the mapping made the model visible.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from . import _catalog
from .loaders import CATEGORY, choice_input, model_ref_input


class AnyType(str):
    """ComfyUI's wildcard: a type that equals every other type when the host compares them."""

    def __ne__(self, other: object) -> bool:
        return False


ANY = AnyType("*")


def host_visible_name(links: tuple[str, ...], fallback: str) -> str:
    """The model's name in ComfyUI's file lists: a link's path relative to the category folder holding it.

    Falls back to the file name when no link lies in a folder the running ComfyUI searches (the mapping
    has not been applied, or we run outside ComfyUI).
    """
    folder_paths = sys.modules.get("folder_paths")
    if folder_paths is not None:
        for link in links:
            link_abs = os.path.abspath(link)
            for folders, _exts in list(folder_paths.folder_names_and_paths.values()):
                for folder in list(folders):
                    rel = os.path.relpath(link_abs, os.path.abspath(folder))
                    if not rel.startswith(os.pardir) and not os.path.isabs(rel):
                        return rel.replace(os.sep, "/")
    return os.path.basename(fallback)


class LibraryModelPath:
    """Outputs a library model's host-visible name and its full path, for any node that takes either."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {"model": choice_input(None, "Any model in the model library.")},
            "optional": {"model_ref": model_ref_input()},
        }

    RETURN_TYPES = (ANY, "STRING")
    RETURN_NAMES = ("name", "full_path")
    OUTPUT_TOOLTIPS = (
        "The name ComfyUI's own loaders know the model by (its link in the mapped folders).",
        "The absolute path of the model's file (its folder, for a Diffusers folder).",
    )
    FUNCTION = "model_path"
    CATEGORY = CATEGORY
    DESCRIPTION = "Any library model's name as ComfyUI sees it, and its full path."

    @classmethod
    def VALIDATE_INPUTS(cls, model: str, model_ref: str = "") -> bool | str:
        return _catalog.validate(model, model_ref)

    @classmethod
    def IS_CHANGED(cls, model: str = "", model_ref: str = "", **_: Any) -> str:
        return _catalog.fingerprint(model, model_ref)

    def model_path(self, model: str, model_ref: str = "") -> tuple[str, str]:
        found = _catalog.locate(model, model_ref)
        return (host_visible_name(found.links, found.path), found.path)
