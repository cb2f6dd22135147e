"""ComfyUI entry point of comfyui-model-library.

ComfyUI imports this at start-up and prints how long it took: keep it instant. Nothing heavy happens
here: the library itself is built on first use by the composition root (``_host.py``). Loaded by ComfyUI
from ``custom_nodes/`` (under a path-derived module name) it registers its routes; imported as the
pip-installed ``comfyui_model_library`` it never touches ComfyUI.
"""

from . import _host
from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, bind_library

WEB_DIRECTORY = "./web/js"
PIP_PACKAGE_NAME = "comfyui_model_library"

bind_library(_host.get_library)
if __name__ != PIP_PACKAGE_NAME:
    _host.attach()

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
