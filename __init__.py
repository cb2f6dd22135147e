"""ComfyUI entry point of comfyui-model-library.

ComfyUI imports this at start-up and prints how long it took: keep it instant. Nothing heavy happens
here; the library itself is built on first use by the composition root (``_host.py``).
"""

WEB_DIRECTORY = "./web/js"
NODE_CLASS_MAPPINGS: dict = {}
NODE_DISPLAY_NAME_MAPPINGS: dict = {}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
