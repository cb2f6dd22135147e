"""Model type, base model and precision from tensor names, shapes and header metadata.

Order matters and goes from the most telling layout to the least: embeddings, LoRA/LyCORIS, ControlNets,
diffusion models (with or without bundled VAE/text encoders), then single parts. Tensors decide first;
metadata (``modelspec.architecture``, ``ss_base_model_version``, ``ss_network_module``) fills in only what the
tensors leave open. What neither tells stays ``"unknown"``: a wrong base is worse than none.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Protocol

from .detect_arch import detect_architecture
from .detect_common import UNKNOWN, Detection, Keys, TensorInfo
from .detect_diffusers import detect_diffusers_folder
from .detect_lora import lora_base, lora_kind
from .detect_parts import PART_PROBES

__all__ = ["UNKNOWN", "Detection", "TensorInfo", "detect", "detect_diffusers_folder", "detect_many"]

_UNET_PREFIX = "model.diffusion_model."
_BUNDLED = ("first_stage_model.", "vae.", "cond_stage_model.", "conditioner.", "text_encoders.")

# (pattern over lower-cased metadata text, base); first match wins, so specific before general
_METADATA_BASES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), b)
    for p, b in (
        (r"xl-v1-refiner|sdxl_refiner|sdxl-refiner", "sdxl_refiner"),
        (r"kolors", "kolors"),
        (r"stable-diffusion-xl|sdxl|^sd_?xl", "sdxl"),
        (r"stable-diffusion-v3-5|stable-diffusion-3\.5|sd3\.5|sd35|sd3-5", "sd35"),
        (r"stable-diffusion-v3|stable-diffusion-3|^sd3|lora_sd3", "sd3"),
        (r"stable-diffusion-v2|^sd_v2|^sd_2|^sd2", "sd2"),
        (r"stable-diffusion-v1|^sd_v1|^sd_1|^sd1", "sd15"),
        (r"flux-2|flux\.2|flux2", "flux2"),
        (r"chroma", "chroma"),
        (r"flux-1|flux\.1|flux1|lora_flux", "flux1"),
        (r"auraflow|aura-flow", "auraflow"),
        (r"pixart", "pixart"),
        (r"hunyuan[-_ ]?video|hyvid", "hunyuan_video"),
        (r"hunyuan[-_ ]?dit", "hunyuan_dit"),
        (r"ltx", "ltxv"),
        (r"mochi", "mochi"),
        (r"^wan|[-_/]wan[-_0-9]|lora_wan", "wan"),
        (r"cosmos", "cosmos"),
        (r"lumina", "lumina2"),
        (r"hidream", "hidream"),
        (r"qwen[-_]?image", "qwen_image"),
        (r"stable[-_ ]?cascade", "stable_cascade"),
    )
)
_METADATA_KEYS = (
    "modelspec.architecture",
    "ss_base_model_version",
    "ss_network_module",
    "general.architecture",
)
_GGUF_ARCH = {
    "sd1": "sd15",
    "sdxl": "sdxl",
    "sd3": "sd3",
    "flux": "flux1",
    "aura": "auraflow",
    "hyvid": "hunyuan_video",
}

_VARIANTS = {
    "F16": "fp16",
    "BF16": "bf16",
    "F32": "fp32",
    "F64": "fp64",
    "F8_E4M3": "fp8_e4m3fn",
    "F8_E5M2": "fp8_e5m2",
    "F8_E4M3FNUZ": "fp8_e4m3fnuz",
    "F8_E5M2FNUZ": "fp8_e5m2fnuz",
    "F8_E8M0": "fp8_e8m0",
    "F6_E2M3": "fp6_e2m3",
    "F6_E3M2": "fp6_e3m2",
    "F4": "fp4",
}
_INTEGER = {"BOOL", "U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64"}


class _HasTensors(Protocol):
    @property
    def tensors(self) -> Mapping[str, TensorInfo]: ...

    @property
    def metadata(self) -> Mapping[str, str]: ...


def detect(tensors: Mapping[str, TensorInfo], metadata: Mapping[str, str], filename: str = "") -> Detection:
    """Type, base model, precision and reason for one model's tensors (a file or a sharded set)."""
    found = _classify(tensors, metadata, filename)
    return dataclasses.replace(found, variant=precision_variant(tensors))


def detect_many(infos: Sequence[_HasTensors], names: Sequence[str] = ()) -> Detection:
    """One detection for a sharded set: the union of the shards' tensors, the first shard's metadata."""
    tensors: dict[str, TensorInfo] = {}
    metadata: dict[str, str] = {}
    for info in infos:
        tensors.update(info.tensors)
        for key, value in info.metadata.items():
            metadata.setdefault(key, value)
    return detect(tensors, metadata, names[0] if names else "")


def precision_variant(tensors: Mapping[str, TensorInfo]) -> str | None:
    """The dtype holding most of the weights ("fp16", "bf16", "fp8_e4m3fn", GGML "q4_k", ...)."""
    weight: dict[str, int] = {}
    for info in tensors.values():
        numel = 1
        for d in info.shape:
            numel *= d
        weight[info.dtype] = weight.get(info.dtype, 0) + numel
    floats = {d: w for d, w in weight.items() if d not in _INTEGER}
    pool = floats or weight
    if not pool:
        return None
    dtype = max(sorted(pool), key=lambda d: pool[d])
    if dtype in ("U8", "I8") and any(".quant_state.bitsandbytes__nf4" in n for n in tensors):
        return "nf4"
    return _VARIANTS.get(dtype, dtype.lower())


def base_from_metadata(metadata: Mapping[str, str]) -> tuple[str, str] | None:
    """(base, reason) from modelspec / kohya / GGUF metadata, or None."""
    if metadata.get("ss_v2", "").lower() == "true" and "ss_base_model_version" not in metadata:
        return "sd2", "metadata ss_v2 = True"
    for key in _METADATA_KEYS:
        text = metadata.get(key, "").strip().lower()[:200]
        if not text:
            continue
        if key == "general.architecture" and text in _GGUF_ARCH:
            return _GGUF_ARCH[text], f"GGUF general.architecture {text!r}"
        for pattern, base in _METADATA_BASES:
            if pattern.search(text):
                return base, f"metadata {key} = {text[:80]!r}"
    return None


def _with_base(found: Detection, metadata: Mapping[str, str]) -> Detection:
    if found.base_model != "unknown":
        return found
    hint = base_from_metadata(metadata)
    if hint is None:
        return found
    return dataclasses.replace(found, base_model=hint[0], reason=f"{found.reason}; base from {hint[1]}")


def _classify(tensors: Mapping[str, TensorInfo], metadata: Mapping[str, str], filename: str) -> Detection:
    if not tensors:
        return dataclasses.replace(UNKNOWN, reason="the file holds no tensors")
    names = list(tensors)
    kind = lora_kind(names)
    if kind is not None:
        sub = None if kind == "lora" else kind
        label = "LoRA" if kind == "lora" else f"LyCORIS {kind}"
        by_tensors = lora_base(tensors)
        if by_tensors is not None:
            return Detection("lora", by_tensors[0], f"{label}; {by_tensors[1]}", subtype=sub)
        return _with_base(
            Detection("lora", "unknown", f"{label}; base not told by its tensors", subtype=sub), metadata
        )
    for probe in PART_PROBES[:2]:  # embeddings and ControlNets look like small UNets/DiTs
        found = probe(tensors, filename)
        if found is not None:
            return _with_base(found, metadata)
    diffusion = _diffusion(tensors)
    if diffusion is not None:
        return _with_base(diffusion, metadata)
    for probe in PART_PROBES[2:]:
        found = probe(tensors, filename)
        if found is not None:
            return (
                found if found.type in ("vae", "text_encoder", "clip_vision") else _with_base(found, metadata)
            )
    hint = base_from_metadata(metadata)
    if hint is not None:
        return Detection("unknown", hint[0], f"unrecognised tensor layout; base from {hint[1]}")
    return UNKNOWN


def _diffusion(tensors: Mapping[str, TensorInfo]) -> Detection | None:
    wrapped = Keys(tensors, _UNET_PREFIX)
    if len(wrapped):
        arch = detect_architecture(wrapped)
        if arch is None:
            return None
        bundled = [p for p in _BUNDLED if any(n.startswith(p) for n in tensors)]
        if bundled:
            parts = ", ".join(p.rstrip(".") for p in bundled)
            return Detection("checkpoint", arch[0], f"{arch[2]}; bundled with {parts}", subtype=arch[1])
        return Detection(
            "diffusion_model", arch[0], f"{arch[2]} (model.diffusion_model. prefix)", subtype=arch[1]
        )
    arch = detect_architecture(Keys(tensors))
    if arch is None:
        return None
    return Detection("diffusion_model", arch[0], arch[2], subtype=arch[1])
