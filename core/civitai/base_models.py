"""Civitai's base-model names ("SDXL 1.0", "Pony", "Flux.1 D", "SD 1.5") in our vocabulary (taxonomy).

Names are compared lowercased without spaces, dots, dashes or underscores, by prefix, in order: the
more specific prefix first ("sd35" before "sd3"). Fine-tune families keep their architecture's base
(Pony, Illustrious and NoobAI are SDXL; Pony V7 is AuraFlow). Anything else is ``unknown``.
"""

from __future__ import annotations

import re

from ..taxonomy import BaseModelType as B

_RULES: tuple[tuple[str, B], ...] = (
    ("sd1", B.SD15),
    ("sd2", B.SD2),
    ("sdxl", B.SDXL),
    ("sd35", B.SD35),
    ("sd3", B.SD3),
    ("ponyv7", B.AURAFLOW),
    ("pony", B.SDXL),
    ("illustrious", B.SDXL),
    ("noobai", B.SDXL),
    ("flux1", B.FLUX1),
    ("flux2", B.FLUX2),
    ("auraflow", B.AURAFLOW),
    ("pixart", B.PIXART),
    ("hunyuan1", B.HUNYUAN_DIT),
    ("hunyuandit", B.HUNYUAN_DIT),
    ("hunyuanvideo", B.HUNYUAN_VIDEO),
    ("ltxv", B.LTXV),
    ("mochi", B.MOCHI),
    ("wanvideo", B.WAN),
    ("cosmos", B.COSMOS),
    ("lumina", B.LUMINA2),
    ("hidream", B.HIDREAM),
    ("chroma", B.CHROMA),
    ("qwen", B.QWEN_IMAGE),
    ("stablecascade", B.STABLE_CASCADE),
    ("kolors", B.KOLORS),
    ("zimage", B.Z_IMAGE),
    ("svd", B.SVD),
)


def base_model_of(civitai_base: str) -> str:
    """Our base-model value for a Civitai ``baseModel`` string; ``"unknown"`` when we cannot tell."""
    if not isinstance(civitai_base, str):
        return B.UNKNOWN.value
    key = re.sub(r"[\s._-]+", "", civitai_base[:64].lower())
    for prefix, base in _RULES:
        if key.startswith(prefix):
            return base.value
    return B.UNKNOWN.value
