"""ComfyUI entry point of comfyui-model-library.

ComfyUI imports this at start-up and prints how long it took: keep it instant. Nothing heavy happens
here: the library itself is built on first use by the composition root (``_host.py``). Loaded by ComfyUI
from ``custom_nodes/`` (under a path-derived module name) it registers its routes; imported as the
pip-installed ``comfyui_model_library`` it never touches ComfyUI.
"""

WEB_DIRECTORY = "./web/js"
PIP_PACKAGE_NAME = "comfyui_model_library"

if __package__:
    from . import _host
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, bind_library, v3_host

    bind_library(_host.get_library)
    if __name__ != PIP_PACKAGE_NAME:
        _host.attach()
        if v3_host():
            # ComfyUI takes V1 mappings over ``comfy_entrypoint`` when a module has both: a host with the
            # V3 API gets the nodes declared with it (nodes/v3.py), the same ids, inputs and outputs.
            del NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
            from .nodes.v3 import comfy_entrypoint  # noqa: F401
else:
    # Imported as a bare module (a tool that loads the folder's __init__.py outside any package, such
    # as pytest's importlib mode): relative imports are impossible, so there is nothing to offer.
    NODE_CLASS_MAPPINGS: dict = {}  # type: ignore[no-redef]
    NODE_DISPLAY_NAME_MAPPINGS: dict = {}  # type: ignore[no-redef]

__all__ = [
    name
    for name in ("NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "comfy_entrypoint")
    if name in globals()
]
__all__ += ["WEB_DIRECTORY"]
