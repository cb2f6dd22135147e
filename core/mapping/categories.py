"""The ComfyUI model categories we know, and the name of our own section in ``extra_model_paths.yaml``.

At the bottom of ``mapping/``: reading an install (:mod:`.comfyui`), our yaml block (:mod:`.extra_paths`)
and the rules (:mod:`.config`) all use them.
"""

from __future__ import annotations

import re

# ComfyUI's folder_paths categories that hold model files (not ``configs``/``custom_nodes``): 0.3.64's,
# then those newer versions added (named by the models entries of ComfyUI's own workflow templates).
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
    "latent_upscale_models",
    "background_removal",
    "detection",
    "frame_interpolation",
    "geometry_estimation",
    "optical_flow",
)
# A category a workflow names that we do not know (a custom node's ``ipadapter``, a newer ComfyUI's): it may
# name a folder of our view section, as ComfyUI adds any category its extra_model_paths.yaml names.
OTHER_CATEGORY = re.compile(r"^[a-z][a-z0-9_]{1,47}$")


# folder_paths names that hold no model files, and the keys of a section that are not categories.
NOT_MODEL_CATEGORIES = frozenset(
    {"configs", "custom_nodes", "base_path", "is_default", "input", "output", "temp", "user"}
)


# Words a YAML 1.1 reader (ComfyUI's PyYAML) takes for true, false or null: as a key of our section one
# would stop ComfyUI from starting ('bool' object has no attribute 'split').
YAML11_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


def is_category_name(name: str) -> bool:
    if name in MODEL_CATEGORIES:
        return True
    return name not in NOT_MODEL_CATEGORIES and name not in YAML11_WORDS and bool(OTHER_CATEGORY.match(name))


OUR_SECTION = "comfyui_model_library"  # earlier versions' name; now the prefix of each library's own


def library_section(library_id: str) -> str:
    """The section one library writes (``comfyui_model_library_1a2b3c4d``): two libraries mapping one
    install each keep their own."""
    return f"{OUR_SECTION}_{library_id.replace('-', '')[:8].lower()}"
