"""The ComfyUI model categories we know, and the name of our own section in ``extra_model_paths.yaml``.

At the bottom of ``mapping/``: reading an install (:mod:`.comfyui`), our yaml block (:mod:`.extra_paths`)
and the rules (:mod:`.config`) all use them.
"""

from __future__ import annotations

# ComfyUI 0.3.64's folder_paths categories that hold model files (not ``configs``/``custom_nodes``).
MODEL_CATEGORIES = (
    "checkpoints",
    "loras",
    "vae",
    "text_encoders",
    "clip",
    "diffusion_models",
    "unet",
    "clip_vision",
    "style_models",
    "embeddings",
    "diffusers",
    "vae_approx",
    "controlnet",
    "t2i_adapter",
    "gligen",
    "upscale_models",
    "hypernetworks",
    "photomaker",
    "classifiers",
    "model_patches",
    "audio_encoders",
)
OUR_SECTION = "comfyui_model_library"
