"""Library Checkpoint / LoRA / VAE Loader: ComfyUI's own loaders, reading the library's file.

ComfyUI's modules (``comfy.sd``, ``comfy.utils``, ``folder_paths``) are imported inside the execution
methods only, so the plugin imports in no time and also imports outside ComfyUI.
"""

from __future__ import annotations

from typing import Any

from . import _catalog

CATEGORY = "loaders/model library"
MODEL_REF_TOOLTIP = (
    "The model's content hash (blake3:...) or id, kept in the workflow so another machine finds the same "
    "file whatever it is called there. Filled by the panel; wins over the list when set."
)

TRIGGER_WORDS_TOOLTIP = (
    "The LoRA's trigger words joined with ', ' (edit them in the Model Library panel); empty when it has "
    "none."
)


def model_ref_input() -> tuple[str, dict[str, Any]]:
    return ("STRING", {"default": "", "tooltip": MODEL_REF_TOOLTIP})


def choice_input(model_type: str | None, tooltip: str) -> tuple[list[str], dict[str, Any]]:
    return (_catalog.choices(model_type), {"tooltip": tooltip})


class LibraryCheckpointLoader:
    """Loads a checkpoint from the library, like ComfyUI's Load Checkpoint."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {"checkpoint": choice_input("checkpoint", "A checkpoint in the model library.")},
            "optional": {"model_ref": model_ref_input()},
        }

    RETURN_TYPES = ("MODEL", "CLIP", "VAE")
    OUTPUT_TOOLTIPS = (
        "The model used for denoising latents.",
        "The CLIP model used for encoding text prompts.",
        "The VAE model used for encoding and decoding images to and from latent space.",
    )
    FUNCTION = "load_checkpoint"
    CATEGORY = CATEGORY
    DESCRIPTION = "Loads a checkpoint from the model library, found by its content hash."

    @classmethod
    def VALIDATE_INPUTS(cls, checkpoint: str, model_ref: str = "") -> bool | str:
        return _catalog.validate(checkpoint, model_ref)

    @classmethod
    def IS_CHANGED(cls, checkpoint: str = "", model_ref: str = "", **_: Any) -> str:
        return _catalog.fingerprint(checkpoint, model_ref)

    def load_checkpoint(self, checkpoint: str, model_ref: str = "") -> tuple[Any, ...]:
        import comfy.sd
        import folder_paths

        path = _catalog.loadable_path(checkpoint, model_ref)
        out = comfy.sd.load_checkpoint_guess_config(
            path,
            output_vae=True,
            output_clip=True,
            embedding_directory=folder_paths.get_folder_paths("embeddings"),
        )
        return tuple(out[:3])


class LibraryLoraLoader:
    """Applies a LoRA from the library, like ComfyUI's Load LoRA."""

    def __init__(self) -> None:
        self.loaded_lora: tuple[str, Any] | None = None

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        strength = {"default": 1.0, "min": -100.0, "max": 100.0, "step": 0.01}
        return {
            "required": {
                "model": ("MODEL", {"tooltip": "The diffusion model the LoRA will be applied to."}),
                "clip": ("CLIP", {"tooltip": "The CLIP model the LoRA will be applied to."}),
                "lora": choice_input("lora", "A LoRA in the model library."),
                "strength_model": ("FLOAT", {**strength, "tooltip": "How strongly to modify the model."}),
                "strength_clip": ("FLOAT", {**strength, "tooltip": "How strongly to modify CLIP."}),
            },
            "optional": {"model_ref": model_ref_input()},
        }

    # trigger_words comes last: links saved before it existed keep their output indices.
    RETURN_TYPES: tuple[str, ...] = ("MODEL", "CLIP", "STRING")
    RETURN_NAMES: tuple[str, ...] = ("MODEL", "CLIP", "trigger_words")
    OUTPUT_TOOLTIPS: tuple[str, ...] = (
        "The modified diffusion model.",
        "The modified CLIP model.",
        TRIGGER_WORDS_TOOLTIP,
    )
    FUNCTION: str = "load_lora"
    CATEGORY = CATEGORY
    DESCRIPTION: str = "Applies a LoRA from the model library, found by its content hash."

    @classmethod
    def VALIDATE_INPUTS(cls, lora: str, model_ref: str = "") -> bool | str:
        return _catalog.validate(lora, model_ref)

    @classmethod
    def IS_CHANGED(cls, lora: str = "", model_ref: str = "", **_: Any) -> str:
        return _catalog.fingerprint(lora, model_ref)

    def load_lora(
        self,
        model: Any,
        clip: Any,
        lora: str,
        strength_model: float,
        strength_clip: float,
        model_ref: str = "",
    ) -> tuple[Any, Any, str]:
        if strength_model == 0 and strength_clip == 0:  # the file is not read
            return (model, clip, _catalog.trigger_words(_catalog.resolve(lora, model_ref)))
        found = _catalog.locate(lora, model_ref)
        words = _catalog.trigger_words(found.model)
        import comfy.sd
        import comfy.utils

        if self.loaded_lora is not None and self.loaded_lora[0] == found.path:
            weights = self.loaded_lora[1]
        else:
            weights = comfy.utils.load_torch_file(found.path, safe_load=True)
            self.loaded_lora = (found.path, weights)
        model_lora, clip_lora = comfy.sd.load_lora_for_models(
            model, clip, weights, strength_model, strength_clip
        )
        return (model_lora, clip_lora, words)


class LibraryLoraLoaderModelOnly(LibraryLoraLoader):
    """Applies a LoRA from the library to the diffusion model alone, like ComfyUI's LoraLoaderModelOnly
    (the LoRAs of Flux, Wan, Qwen-Image and other models whose text encoder a LoRA leaves alone)."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        """The full loader's inputs without the CLIP ones (the same tooltips, limits and order)."""
        full = LibraryLoraLoader.INPUT_TYPES()
        required = {k: v for k, v in full["required"].items() if k not in ("clip", "strength_clip")}
        return {"required": required, "optional": full["optional"]}

    RETURN_TYPES = ("MODEL", "STRING")
    RETURN_NAMES = ("MODEL", "trigger_words")
    OUTPUT_TOOLTIPS = ("The modified diffusion model.", TRIGGER_WORDS_TOOLTIP)
    FUNCTION = "load_lora_model_only"
    DESCRIPTION = (
        "Applies a LoRA from the model library to the diffusion model only, found by its content hash."
    )

    def load_lora_model_only(
        self, model: Any, lora: str, strength_model: float, model_ref: str = ""
    ) -> tuple[Any, str]:
        model_lora, _clip, words = self.load_lora(model, None, lora, strength_model, 0, model_ref)
        return (model_lora, words)


class LibraryVaeLoader:
    """Loads a VAE from the library, like ComfyUI's Load VAE."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {"vae": choice_input("vae", "A VAE in the model library.")},
            "optional": {"model_ref": model_ref_input()},
        }

    RETURN_TYPES = ("VAE",)
    FUNCTION = "load_vae"
    CATEGORY = CATEGORY
    DESCRIPTION = "Loads a VAE from the model library, found by its content hash."

    @classmethod
    def VALIDATE_INPUTS(cls, vae: str, model_ref: str = "") -> bool | str:
        return _catalog.validate(vae, model_ref)

    @classmethod
    def IS_CHANGED(cls, vae: str = "", model_ref: str = "", **_: Any) -> str:
        return _catalog.fingerprint(vae, model_ref)

    def load_vae(self, vae: str, model_ref: str = "") -> tuple[Any]:
        import comfy.sd
        import comfy.utils

        path = _catalog.loadable_path(vae, model_ref)
        loaded = comfy.sd.VAE(sd=comfy.utils.load_torch_file(path))
        loaded.throw_exception_if_invalid()
        return (loaded,)
