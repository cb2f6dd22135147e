"""Non-diffusion parts: VAEs, text encoders, CLIP vision, upscalers, embeddings, ControlNets and adapters.

Each probe takes the tensors and returns a ``Detection`` (without variant) or None. A part shared by several
bases (CLIP-L, T5-XXL, a 4-channel VAE) keeps ``base_model == "unknown"`` unless a name or metadata says.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from .detect_arch import detect_architecture
from .detect_common import Detection, Keys, TensorInfo

_VAE_NAME_HINTS: tuple[tuple[re.Pattern[str], str, int], ...] = (
    # (filename pattern, base, latent channels it applies to)
    (re.compile(r"sdxl|(^|[^a-z])xl([^a-z]|$)"), "sdxl", 4),
    (re.compile(r"sd[-_ .]?1[-_.]?5|sd15|v1[-_]5|vae-ft-(mse|ema)-840000|orangemix|kl-f8-anime"), "sd15", 4),
    (re.compile(r"sd[-_ .]?2|sd21"), "sd2", 4),
    (re.compile(r"flux|^ae\.(safetensors|sft)$"), "flux1", 16),
    (re.compile(r"sd[-_ .]?3[-_.]?5|sd35"), "sd35", 16),
    (re.compile(r"sd[-_ .]?3|sd3"), "sd3", 16),
)


def _vae(t: Mapping[str, TensorInfo], filename: str) -> Detection | None:
    k = Keys(t)
    if not k.has("decoder.conv_in.weight", "encoder.conv_in.weight") or k.starts("model.diffusion_model."):
        return None
    shape = k.shape("decoder.conv_in.weight") or ()
    if len(shape) != 4:
        return Detection("vae", "unknown", f"video VAE ({len(shape) - 2}-D convolutions): base not told")
    latent = shape[1]
    if latent == 32:
        return Detection("vae", "flux2", "VAE with 32 latent channels: Flux.2")
    name = filename.lower().rsplit("/", 1)[-1]
    for pattern, base, channels in _VAE_NAME_HINTS:
        if channels == latent and pattern.search(name):
            return Detection("vae", base, f"{latent}-channel VAE; base from the file name {name!r}")
    shared = {4: "SD1.x, SD2.x and SDXL", 16: "SD3 and Flux.1"}.get(latent, "several models")
    return Detection("vae", "unknown", f"{latent}-channel VAE: {shared} share this layout")


_CLIP_TEXT = {768: "clip_l", 1024: "clip_h", 1280: "clip_g"}
_CLIP_VISION = {1024: "vit_l", 1280: "vit_h", 1664: "vit_bigg", 1152: "siglip", 768: "vit_b"}
_TEXT_WRAPPERS = ("transformer.", "cond_stage_model.transformer.", "model.", "text_model_wrapper.")


def _text_encoder(t: Mapping[str, TensorInfo], filename: str) -> Detection | None:
    for prefix in ("", *_TEXT_WRAPPERS):
        k = Keys(t, prefix)
        if len(k) < len(t) // 2:
            continue
        if k.starts("text_model.encoder.layers.") and not k.starts("vision_model."):
            width = k.dim("text_model.final_layer_norm.weight", 0)
            sub = _CLIP_TEXT.get(width or 0)
            return Detection("text_encoder", "unknown", f"CLIP text encoder of width {width}", subtype=sub)
        if k.starts("encoder.block.") and k.has("encoder.final_layer_norm.weight"):
            width = k.dim("encoder.final_layer_norm.weight", 0)
            umt5 = k.has("encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight")
            sub = ("umt5" if umt5 else "t5") + {4096: "xxl", 2048: "xl", 1024: "large", 768: "base"}.get(
                width or 0, ""
            )
            return Detection(
                "text_encoder", "unknown", f"{'UMT5' if umt5 else 'T5'} encoder of width {width}", subtype=sub
            )
        if k.starts("transformer.resblocks.") and k.has("ln_final.weight") and not k.starts("visual."):
            width = k.dim("ln_final.weight", 0)
            sub = _CLIP_TEXT.get(width or 0)
            return Detection(
                "text_encoder", "unknown", f"OpenCLIP text encoder of width {width}", subtype=sub
            )
        if k.starts("layers.0.self_attn.", "model.layers.0.self_attn.") and k.has_any(
            "embed_tokens.weight", "model.embed_tokens.weight"
        ):
            return Detection(
                "text_encoder", "unknown", "decoder-only language model used as a text encoder", "llm"
            )
    return None


def _clip_vision(t: Mapping[str, TensorInfo], filename: str) -> Detection | None:
    k = Keys(t)
    if not k.starts("vision_model.encoder.layers."):
        return None
    width = k.dim("vision_model.post_layernorm.weight", 0) or k.dim(
        "vision_model.embeddings.class_embedding", 0
    )
    sub = "siglip" if k.starts("vision_model.head.") else _CLIP_VISION.get(width or 0)
    layers = k.count_blocks("vision_model.encoder.layers.")
    return Detection(
        "clip_vision", "unknown", f"CLIP vision encoder, width {width}, {layers} layers", subtype=sub
    )


def _upscaler(t: Mapping[str, TensorInfo], filename: str) -> Detection | None:
    k = Keys(t)
    if k.has("model.0.weight") and k.contains(".RDB1."):
        return Detection(
            "upscaler", "unknown", "ESRGAN (old RRDB layout: model.N.sub.M.RDB1)", subtype="esrgan"
        )
    rrdb = (k.starts("body.") and k.contains(".rdb1.")) or k.starts("RRDB_trunk.")
    if k.has("conv_first.weight") and rrdb:
        return Detection("upscaler", "unknown", "ESRGAN/RRDBNet (conv_first + body.N.rdb1)", subtype="esrgan")
    if k.has("conv_first.weight") and k.starts("layers.0.residual_group."):
        return Detection("upscaler", "unknown", "SwinIR/HAT-style transformer upscaler", subtype="swinir")
    return None


_EMBEDDING_KEYS = {"emb_params", "clip_l", "clip_g", "string_to_param.*", "string_to_token", "name", "step"}


def _embedding(t: Mapping[str, TensorInfo], filename: str) -> Detection | None:
    names = set(t)
    if not names or not names <= _EMBEDDING_KEYS | {n for n in names if n.startswith("string_to_param.")}:
        return None
    if {"clip_l", "clip_g"} <= names:
        return Detection("embedding", "sdxl", "textual inversion with clip_l + clip_g vectors: SDXL")
    vector = t.get("emb_params") or next((v for n, v in t.items() if n.startswith("string_to_param.")), None)
    if vector is None:
        return None
    width = vector.shape[-1] if vector.shape else None
    base = {768: "sd15", 1024: "sd2"}.get(width or 0, "unknown")
    return Detection("embedding", base, f"textual inversion vectors of width {width}")


def _controlnet(t: Mapping[str, TensorInfo], filename: str) -> Detection | None:
    k = Keys(t)
    for prefix in ("control_model.", ""):
        inner = Keys(t, prefix)
        if not inner.starts("input_hint_block.", "controlnet_cond_embedding.", "controlnet_down_blocks."):
            continue
        arch = detect_architecture(inner)
        if arch is not None:
            return Detection("controlnet", arch[0], f"ControlNet; {arch[2]}")
        return Detection("controlnet", "unknown", "ControlNet whose base cannot be told")
    if k.starts("controlnet_blocks.", "controlnet_x_embedder.", "controlnet_single_blocks."):
        if k.starts("double_blocks.", "transformer_blocks.", "single_transformer_blocks."):
            width = k.dim("img_in.weight", 0) or k.dim("x_embedder.weight", 0)
            if width == 3072:
                return Detection("controlnet", "flux1", "Flux ControlNet (controlnet_blocks, width 3072)")
        return Detection("controlnet", "unknown", "DiT ControlNet whose base cannot be told")
    if k.starts("lora_controlnet"):
        return Detection("controlnet", "unknown", "Control-LoRA")
    return None


def _adapters(t: Mapping[str, TensorInfo], filename: str) -> Detection | None:
    k = Keys(t)
    if k.has("redux_up.weight", "redux_down.weight"):
        return Detection("style_model", "flux1", "redux_up/redux_down: Flux.1 Redux style model")
    if k.has("style_embedding"):
        return Detection("style_model", "sd15", "T2I style adapter (style_embedding)")
    if k.starts("id_encoder.") and k.starts("lora_weights."):
        return Detection("photomaker", "sdxl", "PhotoMaker (id_encoder + lora_weights)")
    if k.starts("position_net."):
        return Detection("gligen", "sd15", "GLIGEN (position_net)")
    if k.starts("image_proj.") and k.starts("ip_adapter."):
        return Detection("unknown", "unknown", "IP-Adapter: the catalog has no model type for it yet")
    return None


PART_PROBES: tuple[Callable[[Mapping[str, TensorInfo], str], Detection | None], ...] = (
    _embedding,
    _controlnet,
    _vae,
    _text_encoder,
    _clip_vision,
    _upscaler,
    _adapters,
)
