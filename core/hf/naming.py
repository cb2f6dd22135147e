"""Model file names: tokens, precision/quantisation suffixes, search queries and name similarity.

Names like ``flux1-dev-fp8_e4m3fn.safetensors``, ``v1-5-pruned-emaonly.ckpt`` or
``Qwen2.5-7B-Instruct-Q4_K_M.gguf`` carry the model's name plus variant markers. The markers are split
off so the bare name can be searched on the Hub, and reported as the candidate's variant.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from difflib import SequenceMatcher

WEIGHT_EXTENSIONS = (
    ".safetensors",
    ".sft",
    ".gguf",
    ".ckpt",
    ".pt",
    ".pth",
    ".bin",
    ".onnx",
    ".pkl",
)

# Longest first, so ``fp8_e4m3fn`` wins over ``fp8``.
_PRECISIONS = (
    "fp8_e4m3fnuz",
    "fp8_e4m3fn",
    "fp8_e5m2fnuz",
    "fp8_e5m2",
    "fp8e4m3fn",
    "fp8e5m2",
    "e4m3fn",
    "e5m2",
    "fp32",
    "fp16",
    "bf16",
    "fp8",
    "fp4",
    "nf4",
    "int8",
    "int4",
    "f32",
    "f16",
)
_PRECISION_ALIASES = {
    "e4m3fn": "fp8_e4m3fn",
    "e5m2": "fp8_e5m2",
    "fp8e4m3fn": "fp8_e4m3fn",
    "fp8e5m2": "fp8_e5m2",
    "f16": "fp16",
    "f32": "fp32",
}
_GGUF_QUANT = re.compile(r"(?:^|[-_.])((?:i?q[1-8](?:_[a-z0-9]+)*)|(?:tq[12]_0))(?=$|[-_.])", re.IGNORECASE)
_SUFFIX_WORDS = frozenset(
    {
        "pruned",
        "emaonly",
        "ema",
        "noema",
        "nonema",
        "ema-only",
        "full",
        "half",
        "fp16-no-ema",
        "safetensors",
        "scaled",
        "mixed",
        "svdq",
        "gguf",
        "quant",
        "quantized",
    }
)
_SPLIT = re.compile(r"[-_.\s]+")


@dataclass(frozen=True)
class NameParts:
    """A file name taken apart. ``base`` is the name with variant markers removed (original spelling)."""

    stem: str
    extension: str
    base: str
    precision: str | None
    quantization: str | None
    markers: tuple[str, ...]

    @property
    def variant(self) -> str | None:
        parts = [p for p in (self.quantization or self.precision, *self.markers) if p]
        return "-".join(parts) if parts else None


def split_extension(filename: str) -> tuple[str, str]:
    name = filename.rsplit("/", 1)[-1]
    lower = name.lower()
    for ext in WEIGHT_EXTENSIONS:
        if lower.endswith(ext):
            return name[: -len(ext)], ext
    stem, dot, ext = name.rpartition(".")
    return (stem, "." + ext.lower()) if dot and stem else (name, "")


def parse_name(filename: str) -> NameParts:
    stem, ext = split_extension(filename)
    lower = stem.lower()
    precision: str | None = None
    quant: str | None = None
    markers: list[str] = []

    q = _GGUF_QUANT.search(lower)
    if q:
        quant = q.group(1)
        lower = lower[: q.start(1)] + lower[q.end(1) :]
    for p in _PRECISIONS:
        m = re.search(rf"(?:^|[-_.]){re.escape(p)}(?=$|[-_.])", lower)
        if m:
            precision = _PRECISION_ALIASES.get(p, p)
            lower = lower[: m.start()] + lower[m.end() :]
            break
    tokens = [t for t in _SPLIT.split(lower) if t]
    kept: list[str] = []
    for token in tokens:
        if token in _SUFFIX_WORDS:
            markers.append(token)
        else:
            kept.append(token)
    base = _rebuild(stem, kept)
    return NameParts(stem, ext, base, precision, quant, tuple(markers))


def _rebuild(original: str, kept: list[str]) -> str:
    """The kept tokens in their original spelling and separators, trailing separators trimmed."""
    if not kept:
        return original
    pieces = re.split(r"([-_.\s]+)", original)
    out: list[str] = []
    want = list(kept)
    for piece in pieces:
        if not want:
            break
        if piece.lower() == want[0]:
            out.append(piece)
            want.pop(0)
        elif out and _SPLIT.fullmatch(piece):
            out.append(piece)
    text = "".join(out).strip("-_. ")
    return text or original


def tokens(text: str) -> list[str]:
    """Lowercase word tokens, with version-ish pieces kept whole (``1.5``, ``v2``)."""
    return [t for t in re.split(r"[^a-z0-9.]+", text.lower().replace("_", " ")) if t and t != "."]


def precision_of(filename: str) -> str | None:
    parts = parse_name(filename)
    return parts.quantization or parts.precision


def similarity(a: str, b: str) -> float:
    """0..1 similarity of two file names, ignoring extension, case, separators and variant markers."""
    na = _normal(parse_name(a).base)
    nb = _normal(parse_name(b).base)
    if not na or not nb:
        return 0.0
    if na == nb:
        return 1.0
    return SequenceMatcher(None, na, nb).ratio()


def _normal(text: str) -> str:
    return re.sub(r"[-_.\s]+", "", text.lower())


_METADATA_KEYS = (
    "modelspec.title",
    "ss_output_name",
    "ss_sd_model_name",
    "name",
    "modelspec.architecture",
)


def search_queries(filename: str, metadata: Mapping[str, str] | None = None, *, limit: int = 5) -> list[str]:
    """Hub search strings, best first: metadata titles, the bare file name, then shorter forms."""
    queries: list[str] = []

    def add(value: str | None) -> None:
        if not value:
            return
        value = value.strip()
        if 3 <= len(value) <= 96 and value.lower() not in {q.lower() for q in queries}:
            queries.append(value)

    meta = metadata or {}
    for key in _METADATA_KEYS[:3]:
        raw = meta.get(key)
        if raw:
            add(parse_name(raw).base if "." in raw else raw)
    parts = parse_name(filename)
    add(parts.base)
    # "sd_xl_base_1.0" -> "sd xl base": the Hub's search matches repo ids, which use other separators.
    words = [t for t in tokens(parts.base) if not re.fullmatch(r"v?\d+(\.\d+)*", t)]
    if words:
        add("-".join(words))
        # "flux1-dev" is published as "FLUX.1-dev": also try the words without glued version digits.
        unversioned = [re.sub(r"(?<=[a-z])\d+(\.\d+)?$", "", w) for w in words]
        add("-".join(w for w in unversioned if w))
        if len(words) > 2:
            add("-".join(words[:2]))
    return queries[:limit]


def is_weight_file(path: str) -> bool:
    return path.lower().endswith(WEIGHT_EXTENSIONS)
