"""LoRA and LyCORIS files: recognising them and telling their base model.

Kohya (``lora_unet_..._to_k.lora_down.weight``), Diffusers/PEFT (``transformer....to_k.lora_A.weight``)
and ComfyUI (``diffusion_model.double_blocks.0.img_attn.qkv.lora_A.weight``) namings are flattened to one
form (dots become underscores, wrapper prefixes dropped), then matched against the module names and the
input width of the layers that tell bases apart (cross-attention ``to_k``: 768 SD1, 1024 SD2, 2048 SDXL).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .detect_common import TensorInfo

# name part that starts a LoRA weight -> LyCORIS algorithm (None: plain LoRA)
_MARKERS: tuple[tuple[str, str | None], ...] = (
    (".lora_down.", None),
    (".lora_up.", None),
    (".lora_A.", None),
    (".lora_B.", None),
    (".lora.down.", None),
    (".lora.up.", None),
    (".lora_linear_layer.", None),
    (".hada_w1_a", "loha"),
    (".hada_w1_b", "loha"),
    (".hada_w2_a", "loha"),
    (".hada_w2_b", "loha"),
    (".lokr_w1", "lokr"),
    (".lokr_w2", "lokr"),
    (".oft_blocks", "oft"),
    (".oft_diag", "oft"),
)
# weights whose second dimension is the layer's input width
_DOWN_SUFFIXES = (
    ".lora_down.weight",
    ".lora_A.weight",
    ".lora.down.weight",
    ".lora_linear_layer.down.weight",
    ".hada_w1_b",
    ".hada_w2_b",
)
_WRAPPERS = re.compile(
    r"^(?:base_model_model_|lycoris_|model_diffusion_model_|diffusion_model_|transformer_(?!blocks_)|unet_|lora_unet_)"
)
_TE_PREFIX = re.compile(r"^(lora_te[0-9]?|text_encoder(?:_[0-9])?|te[0-9]?)_")

_FLUX_ONLY = re.compile(r"(img|txt)_mlp_[02]$|(img|txt)_mod_lin$|modulation_lin$")
_HUNYUAN_ONLY = re.compile(r"(img|txt)_mlp_fc[12]$|mod_linear$|modulation_linear$|individual_token_refiner")
_QWEN = re.compile(r"(img|txt)_mlp_net|img_mod_1$|txt_mod_1$")
_WAN = re.compile(r"^blocks_[0-9]+_(cross_attn_|self_attn_|ffn_)")

_CONTEXT_BASES = {768: "sd15", 1024: "sd2", 2048: "sdxl", 1280: "sdxl_refiner"}


def lora_kind(names: list[str]) -> str | None:
    """``"lora"``, ``"loha"``, ``"lokr"`` or ``"oft"`` when the names are a LoRA/LyCORIS file, else None."""
    algo: str | None = None
    found = False
    for name in names:
        for marker, kind in _MARKERS:
            if marker in name:
                found = True
                if kind and algo is None:
                    algo = kind
                break
        else:
            if name.startswith(("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_")):
                found = True
    if not found:
        return None
    return algo or "lora"


def _module(name: str) -> str:
    for marker, _ in _MARKERS:
        i = name.find(marker)
        if i >= 0:
            return name[:i]
    return name.rsplit(".", 1)[0]


def lora_base(tensors: Mapping[str, TensorInfo]) -> tuple[str, str] | None:
    """(base, reason) from the tensors alone, or None when they do not tell."""
    unet: dict[str, int | None] = {}
    text_encoders: dict[str, dict[str, int | None]] = {}
    for name, info in tensors.items():
        width = info.shape[1] if name.endswith(_DOWN_SUFFIXES) and len(info.shape) >= 2 else None
        flat = _module(name).replace(".", "_")
        te = _TE_PREFIX.match(flat)
        if te:
            mods = text_encoders.setdefault(te.group(1), {})
            rest = flat[te.end() :]
            mods[rest] = mods.get(rest) or width
            continue
        while True:
            stripped = _WRAPPERS.sub("", flat, count=1)
            if stripped == flat:
                break
            flat = stripped
        unet[flat] = unet.get(flat) or width
    return _from_unet(unet) or _from_text_encoders(text_encoders)


def _widths(mods: Mapping[str, int | None], pattern: str) -> set[int]:
    rx = re.compile(pattern)
    return {w for m, w in mods.items() if w and rx.search(m)}


def _from_unet(mods: Mapping[str, int | None]) -> tuple[str, str] | None:
    if not mods:
        return None
    names = list(mods)
    if any(m.startswith(("double_blocks_", "single_blocks_")) for m in names):
        if any(_FLUX_ONLY.search(m) for m in names):
            return "flux1", "Flux double/single block LoRA (img_mlp.0 / mod.lin naming)"
        if any(_HUNYUAN_ONLY.search(m) for m in names):
            return "hunyuan_video", "Hunyuan Video block LoRA (img_mlp.fc1 / mod.linear naming)"
        return None  # Flux and Hunyuan Video share these names; metadata must tell
    if any(m.startswith("single_transformer_blocks_") for m in names):
        return "flux1", "Diffusers single_transformer_blocks LoRA: Flux.1"
    if any(_QWEN.search(m) for m in names):
        return "qwen_image", "img_mlp/txt_mlp modulated blocks: Qwen-Image LoRA"
    if any(_WAN.match(m) for m in names):
        return "wan", "blocks.N.cross_attn/self_attn/ffn LoRA: Wan"
    joint = _widths(mods, r"^joint_blocks_|^transformer_blocks_[0-9]+_attn_add_k_proj")
    if joint:
        width = max(joint)
        if width == 3072:
            return "flux1", "joint-attention LoRA of width 3072: Flux.1"
        if width == 2432:
            return "sd35", "MMDiT LoRA of width 2432: SD 3.5 Large"
        return None  # 1536 is SD3 Medium or SD3.5 Medium
    context = _widths(mods, r"attn2_to_k$")
    for width in sorted(context):
        if width in _CONTEXT_BASES:
            return _CONTEXT_BASES[width], f"cross-attention to_k LoRA input {width}: {_CONTEXT_BASES[width]}"
    return None


def _from_text_encoders(encoders: Mapping[str, Mapping[str, int | None]]) -> tuple[str, str] | None:
    names = set(encoders)
    if names & {"lora_te3", "text_encoder_3"}:
        return None  # SD3 family: the UNet part decides
    if names & {"lora_te2", "text_encoder_2"}:
        return "sdxl", "two text-encoder LoRAs (te1/te2): SDXL"
    for mods in encoders.values():
        widths = _widths(mods, r"self_attn_k_proj$")
        if 768 in widths:
            return "sd15", "text-encoder LoRA of width 768 alone: SD 1.x"
        if 1024 in widths:
            return "sd2", "text-encoder LoRA of width 1024 alone: SD 2.x"
    return None
