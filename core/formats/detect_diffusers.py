"""Diffusers folders: type and base model from ``model_index.json`` and the components' ``config.json``.

A pipeline class names the family (``StableDiffusionXLPipeline`` -> sdxl); where one class serves two bases
(SD1 and SD2 share ``StableDiffusionPipeline``; SD3 and SD3.5 share ``StableDiffusion3Pipeline``), the
component config decides (cross-attention width, layer count). A folder with only ``config.json`` is one
component (a ControlNet, a VAE, a transformer).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InvalidModelFile
from .detect_common import Detection

CONFIG_CAP = 1 << 20

# (pipeline/class name prefix, base); first match wins
_PIPELINES: tuple[tuple[str, str], ...] = (
    ("StableDiffusionXL", "sdxl"),
    ("StableDiffusion3", "sd3"),
    ("StableDiffusion", "sd15"),
    ("SD3", "sd3"),
    ("Flux2", "flux2"),
    ("Flux", "flux1"),
    ("Chroma", "chroma"),
    ("AuraFlow", "auraflow"),
    ("PixArt", "pixart"),
    ("HunyuanDiT", "hunyuan_dit"),
    ("HunyuanVideo", "hunyuan_video"),
    ("LTX", "ltxv"),
    ("Mochi", "mochi"),
    ("Wan", "wan"),
    ("Cosmos", "cosmos"),
    ("Lumina2", "lumina2"),
    ("HiDream", "hidream"),
    ("QwenImage", "qwen_image"),
    ("StableCascade", "stable_cascade"),
    ("Kolors", "kolors"),
)
_CONTEXT_BASES = {768: "sd15", 1024: "sd2", 2048: "sdxl", 1280: "sdxl_refiner"}
_COMPONENT_TYPES: tuple[tuple[str, str], ...] = (
    ("ControlNet", "controlnet"),
    ("FluxControlNet", "controlnet"),
    ("Autoencoder", "vae"),
    ("UNet2DCondition", "diffusion_model"),
    ("Transformer", "diffusion_model"),
    ("CLIPVision", "clip_vision"),
    ("CLIPText", "text_encoder"),
    ("T5Encoder", "text_encoder"),
    ("UMT5Encoder", "text_encoder"),
)


def read_json_capped(path: Path, cap: int = CONFIG_CAP) -> Any:
    """A small JSON file, refused when larger than ``cap``, unreadable or not JSON."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(cap + 1)
    except OSError as exc:
        raise InvalidModelFile(f"cannot read {path}: {exc.strerror}; check the folder's permissions") from exc
    if len(raw) > cap:
        raise InvalidModelFile(f"{path} is larger than {cap} bytes, too large for a model config")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidModelFile(f"{path} is not valid JSON; the model folder is damaged") from exc


def _config(folder: Path, component: str) -> Mapping[str, Any]:
    path = folder / component / "config.json"
    if not path.is_file():
        return {}
    value = read_json_capped(path)
    return value if isinstance(value, dict) else {}


def _base_of(class_name: str) -> str:
    for prefix, base in _PIPELINES:
        if class_name.startswith(prefix) or class_name.startswith("Diffusion" + prefix):
            return base
    return "unknown"


def _refine(base: str, folder: Path, index: Mapping[str, Any]) -> tuple[str, str | None]:
    """Split bases that share a pipeline class, from component configs."""
    if base in ("sd15", "sdxl"):
        unet = _config(folder, "unet")
        context = unet.get("cross_attention_dim")
        if isinstance(context, int) and context in _CONTEXT_BASES:
            return _CONTEXT_BASES[context], None
        if base == "sdxl" and "text_encoder" not in index and "text_encoder_2" in index:
            return "sdxl_refiner", None
        return base, None
    if base == "sd3":
        transformer = _config(folder, "transformer")
        if transformer.get("dual_attention_layers"):
            return "sd35", "medium"
        if transformer.get("num_layers") == 38:
            return "sd35", "large"
        return "sd3", None
    if base == "flux1":
        guidance = _config(folder, "transformer").get("guidance_embeds")
        return base, {True: "dev", False: "schnell"}.get(guidance) if isinstance(guidance, bool) else None
    return base, None


def detect_diffusers_folder(path: Path) -> Detection:
    """Detection for a Diffusers pipeline folder (``model_index.json``) or one component (``config.json``)."""
    folder = Path(path)
    index_path = folder / "model_index.json"
    if index_path.is_file():
        index = read_json_capped(index_path)
        if not isinstance(index, dict) or not isinstance(index.get("_class_name"), str):
            raise InvalidModelFile(f"{index_path} has no _class_name; not a Diffusers pipeline folder")
        pipeline = index["_class_name"][:200]
        base, subtype = _refine(_base_of(pipeline), folder, index)
        components = {k for k, v in index.items() if not k.startswith("_") and isinstance(v, list)}
        has_vae = "vae" in components or "vqgan" in components
        has_text = any(c.startswith("text_encoder") for c in components)
        model_type = "checkpoint" if has_vae and has_text else "diffusion_model"
        return Detection(model_type, base, f"Diffusers pipeline {pipeline}", subtype=subtype)
    config_path = folder / "config.json"
    if config_path.is_file():
        config = read_json_capped(config_path)
        cls = config.get("_class_name") if isinstance(config, dict) else None
        if cls is None and isinstance(config, dict) and isinstance(config.get("architectures"), list):
            cls = next(iter(config["architectures"]), None)
        if not isinstance(cls, str):
            raise InvalidModelFile(f"{config_path} names no model class; not a Diffusers model folder")
        model_type = next((t for p, t in _COMPONENT_TYPES if p in cls), "unknown")
        base = _base_of(cls) if model_type not in ("text_encoder", "clip_vision", "vae") else "unknown"
        context = config.get("cross_attention_dim") if isinstance(config, dict) else None
        shaped = model_type in ("controlnet", "diffusion_model") and base in ("unknown", "sd15")
        if shaped and isinstance(context, int) and context in _CONTEXT_BASES:
            base = _CONTEXT_BASES[context]
        return Detection(model_type, base, f"Diffusers component {cls[:200]}")
    raise InvalidModelFile(f"{folder} has neither model_index.json nor config.json; not a Diffusers folder")
