"""The pure core of comfyui-model-library: no ComfyUI, no aiohttp."""

__version__ = "0.1.0"
