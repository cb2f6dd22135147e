"""Which diffusion architecture a UNet/DiT state dict is, from key names and a few shapes.

Probes follow ComfyUI's ``comfy/model_detection.py`` order: more specific layouts first (Hunyuan Video
before Flux, because both have ``double_blocks``; LTXV after the PixArt-diffusers check). Each probe
returns (base_model, subtype, reason) or None. Shapes read are only those that tell bases apart.
"""

from __future__ import annotations

from collections.abc import Callable

from .detect_common import Keys

Arch = tuple[str, str | None, str]


def _mmdit(k: Keys) -> Arch | None:
    if not k.has("joint_blocks.0.context_block.attn.qkv.weight"):
        return None
    hidden = k.dim("x_embedder.proj.weight", 0)
    depth = hidden // 64 if hidden else k.count_blocks("joint_blocks.")
    if k.contains(".x_block.attn2."):
        return "sd35", "medium", "MMDiT-X (joint_blocks with x_block.attn2): SD 3.5 Medium"
    if depth == 38:
        return "sd35", "large", "MMDiT depth 38: SD 3.5 Large"
    if depth == 24:
        return "sd3", "medium", "MMDiT depth 24 without x_block.attn2: SD3 Medium"
    return "unknown", None, f"MMDiT (SD3 family) of unrecognised depth {depth}"


def _cascade(k: Keys) -> Arch | None:
    if not k.has("clf.1.weight"):
        return None
    if k.has("clip_txt_mapper.weight"):
        return "stable_cascade", "stage_c", "clf + clip_txt_mapper: Stable Cascade stage C"
    if k.has("clip_mapper.weight"):
        return "stable_cascade", "stage_b", "clf + clip_mapper: Stable Cascade stage B"
    return "stable_cascade", None, "clf.1.weight: Stable Cascade"


def _flux_like(k: Keys) -> Arch | None:
    has_norm = k.has_any(
        "double_blocks.0.img_attn.norm.key_norm.scale", "double_blocks.0.img_attn.norm.key_norm.weight"
    )
    if not has_norm or not (k.has("img_in.weight") or k.starts("distilled_guidance_layer.")):
        return None
    if k.has("double_stream_modulation_img.lin.weight"):
        return "flux2", None, "double_blocks + double_stream_modulation_img: Flux.2"
    if k.starts("distilled_guidance_layer."):
        return "chroma", None, "Flux layout with distilled_guidance_layer: Chroma"
    in_features = k.dim("img_in.weight", 1)
    if in_features == 384:
        return "flux1", "fill", "Flux img_in takes 384 features: Flux.1 Fill"
    if in_features == 128:
        return "flux1", "depth_canny", "Flux img_in takes 128 features: Flux.1 Depth/Canny"
    if k.has("guidance_in.in_layer.weight"):
        return "flux1", "dev", "Flux double/single blocks with guidance_in: Flux.1 dev"
    return "flux1", "schnell", "Flux double/single blocks without guidance_in: Flux.1 schnell-like"


def _unet(k: Keys) -> Arch | None:
    """SD1/SD2/SDXL/refiner/Kolors UNets, LDM or Diffusers naming."""
    if k.starts("input_blocks."):
        stem = k.shape("input_blocks.0.0.weight")
        attn = k.first("attn2.to_k.weight", "input_blocks.") or k.first("attn2.to_k.weight", "middle_block.")
    elif k.has("conv_in.weight") and k.starts("down_blocks."):
        stem = k.shape("conv_in.weight")
        attn = k.first("attn2.to_k.weight", "down_blocks.") or k.first("attn2.to_k.weight", "mid_block.")
    else:
        return None
    context = k.dim(attn, 1) if attn else None
    channels = stem[0] if stem else None
    in_ch = stem[1] if stem and len(stem) > 1 else None
    subtype = {9: "inpaint", 8: "instruct_pix2pix"}.get(in_ch or 4)
    label_in = k.dim("label_emb.0.0.weight", 1) or k.dim("add_embedding.linear_1.weight", 1)
    if context is None:
        return "unknown", subtype, "UNet without cross-attention keys: base cannot be told"
    if context == 768 and channels in (None, 320):
        return "sd15", subtype, "UNet cross-attention context 768: SD 1.x"
    if context == 1024 and channels in (None, 320):
        return "sd2", subtype, "UNet cross-attention context 1024: SD 2.x"
    if context == 2048 and channels in (None, 320):
        if k.has("encoder_hid_proj.weight") or label_in == 5632:
            return "kolors", subtype, "SDXL-shaped UNet with encoder_hid_proj (ChatGLM context): Kolors"
        return "sdxl", subtype, "UNet cross-attention context 2048, 320 channels: SDXL"
    if context == 1280 and channels in (None, 384):
        return "sdxl_refiner", subtype, "UNet context 1280, 384 channels: SDXL refiner"
    return "unknown", subtype, f"UNet of unrecognised shape (context {context}, channels {channels})"


def _key_probe(base: str, subtype: str | None, reason: str, *keys: str) -> Callable[[Keys], Arch | None]:
    def probe(k: Keys) -> Arch | None:
        return (base, subtype, reason) if k.has(*keys) else None

    return probe


def _hunyuan_video(k: Keys) -> Arch | None:
    if k.has("txt_in.individual_token_refiner.blocks.0.norm1.weight"):
        return "hunyuan_video", None, "txt_in.individual_token_refiner: Hunyuan Video"
    return None


def _ltxv(k: Keys) -> Arch | None:
    if not k.has("adaln_single.emb.timestep_embedder.linear_1.bias"):
        return None
    if k.has("pos_embed.proj.bias"):
        return "pixart", None, "adaln_single + pos_embed.proj (Diffusers layout): PixArt"
    return "ltxv", None, "adaln_single without pos_embed: Lightricks LTX-Video"


def _cosmos(k: Keys) -> Arch | None:
    if k.has("blocks.block0.blocks.0.block.attn.to_q.0.weight"):
        return "cosmos", "predict1", "blocks.block0...: Cosmos (predict1)"
    if k.has("blocks.0.mlp.layer1.weight") and k.has("x_embedder.proj.1.weight"):
        return "cosmos", "predict2", "blocks.N.mlp.layer1 + x_embedder.proj.1: Cosmos predict2"
    return None


def _lumina(k: Keys) -> Arch | None:
    if not k.has("cap_embedder.1.weight", "noise_refiner.0.attention.k_norm.weight"):
        return None
    dim = k.dim("x_embedder.weight", 0) or k.dim("cap_embedder.1.weight", 0)
    if dim == 2304:
        return "lumina2", None, "cap_embedder + noise_refiner, width 2304: Lumina Image 2"
    return "unknown", None, f"Lumina-2 layout of width {dim} (e.g. Z-Image): no base id for it yet"


def _wan(k: Keys) -> Arch | None:
    if not k.has("head.modulation"):
        return None
    if k.has("vace_patch_embedding.weight"):
        sub = "vace"
    elif k.has("img_emb.proj.0.bias"):
        sub = "i2v"
    else:
        sub = "t2v"
    return "wan", sub, f"head.modulation + blocks: Wan ({sub})"


def _qwen_image(k: Keys) -> Arch | None:
    if k.has("txt_norm.weight", "img_in.weight") and k.starts("transformer_blocks."):
        return "qwen_image", None, "txt_norm + img_in + transformer_blocks: Qwen-Image"
    return None


PROBES: tuple[Callable[[Keys], Arch | None], ...] = (
    _mmdit,
    _cascade,
    _key_probe("auraflow", None, "double_layers.*.attn.w1q: AuraFlow", "double_layers.0.attn.w1q.weight"),
    _key_probe("hunyuan_dit", None, "mlp_t5: Hunyuan-DiT", "mlp_t5.0.weight"),
    _hunyuan_video,
    _flux_like,
    _key_probe("mochi", None, "t5_yproj: Genmo Mochi", "t5_yproj.weight"),
    _ltxv,
    _key_probe("pixart", None, "t_block.1: PixArt", "t_block.1.weight"),
    _cosmos,
    _lumina,
    _wan,
    _key_probe("hidream", None, "caption_projection.0.linear: HiDream", "caption_projection.0.linear.weight"),
    _qwen_image,
    _unet,
)


def detect_architecture(keys: Keys) -> Arch | None:
    """The first probe that recognises ``keys`` (a diffusion model's own names, prefix stripped)."""
    for probe in PROBES:
        found = probe(keys)
        if found is not None:
            return found
    return None
