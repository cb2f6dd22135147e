"""Model preview images: untrusted PNG/JPEG/WebP bytes decoded under caps and re-encoded as WebP.

Pillow is imported on first use, never at import time (ComfyUI prints every plugin's import time).
"""

from .images import (
    MAX_IMAGE_BYTES,
    MAX_PIXELS,
    MAX_SIDE,
    PREVIEW_FULL_SIZE,
    PREVIEW_SIZES,
    PreviewSet,
    decode_image,
    image_from_data_uri,
    make_preview_set,
    sniff_image,
    thumbnail_webp,
)

__all__ = [
    "MAX_IMAGE_BYTES",
    "MAX_PIXELS",
    "MAX_SIDE",
    "PREVIEW_FULL_SIZE",
    "PREVIEW_SIZES",
    "PreviewSet",
    "decode_image",
    "image_from_data_uri",
    "make_preview_set",
    "sniff_image",
    "thumbnail_webp",
]
