"""Decode untrusted preview images under hard caps, and re-encode them as WebP.

Preview images come from outside: a user's upload, a file next to a model, a Hub card, a safetensors
``modelspec.thumbnail`` data URI. None of them is served or stored as given. Each is

1. sniffed by magic bytes (PNG, JPEG or WebP only: an SVG, HTML or GIF renamed ``.png`` is refused,
   so no script or XML entity ever reaches a browser or a parser);
2. capped in bytes (:data:`MAX_IMAGE_BYTES`) before Pillow sees it;
3. opened by Pillow restricted to those three formats, and its size read from the header *before* a pixel
   is decoded: more than :data:`MAX_PIXELS` pixels or a side over :data:`MAX_SIDE` is refused, so a
   20,000 x 20,000 PNG or a decompression bomb (a few KB that inflate to gigabytes) never allocates.
   Pillow's global ``Image.MAX_IMAGE_PIXELS`` is left alone (ComfyUI shares the process); its bomb
   warning is turned into an error locally with ``warnings.catch_warnings``;
4. decoded (first frame of an animation), turned upright by its EXIF orientation, converted to RGB or
   RGBA, and re-encoded as WebP without metadata (no EXIF, ICC or text chunks).

Every refusal is an :class:`~core.errors.InvalidImage` (HTTP 415) whose message says what to do.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import struct
import warnings
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from ..errors import InvalidImage

if TYPE_CHECKING:
    from PIL import Image

MAX_IMAGE_BYTES = 32 * 1024 * 1024
"""Largest encoded image accepted (32 MiB), checked before decoding."""
MAX_PIXELS = 40_000_000
"""Largest decoded image accepted, in pixels (width * height), checked from the header."""
MAX_SIDE = 16_384
"""Longest side accepted, in pixels (WebP itself cannot encode more)."""
PREVIEW_FULL_SIZE = 1024
"""The largest side of :attr:`PreviewSet.full`."""
PREVIEW_SIZES = (256, 512)
"""The sides of the square boxes :attr:`PreviewSet.thumbs` fit in."""

_PILLOW_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
_DATA_URI_TYPES = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/webp": "webp"}
_WHITESPACE = re.compile(rb"[ \t\r\n]+")
_WHAT_TO_DO = "use a PNG, JPEG or WebP image"

# What Pillow's decoders raise on damaged or hostile data. Listed rather than ``except Exception`` so a bug
# of ours still surfaces as itself; the hypothesis test feeds random bytes to check nothing else escapes.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # includes PIL.UnidentifiedImageError and "image file is truncated"
    SyntaxError,  # PNG chunk and CRC errors
    ValueError,
    EOFError,
    TypeError,
    IndexError,
    KeyError,
    ZeroDivisionError,
    struct.error,
    zlib.error,
    MemoryError,
)


@dataclass(frozen=True)
class PreviewSet:
    """A preview re-encoded from an image: WebP only, never the original bytes or metadata.

    ``width`` and ``height`` are those of ``full`` (upright, at most :data:`PREVIEW_FULL_SIZE` a side);
    ``thumbs`` maps each of :data:`PREVIEW_SIZES` to a WebP fitting in that square; ``digest`` is the
    first 16 hex digits of the sha256 of ``full`` (a stable name for the stored file).
    """

    full: bytes
    thumbs: Mapping[int, bytes] = field(hash=False)
    width: int
    height: int
    digest: str


def sniff_image(data: bytes) -> str | None:
    """``"png"``, ``"jpeg"`` or ``"webp"`` from the magic bytes alone; ``None`` for anything else.

    >>> sniff_image(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(8))
    'png'
    >>> sniff_image(b"<svg xmlns='http://www.w3.org/2000/svg'/>") is None
    True
    """
    head = bytes(data[:12])
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(head) == 12 and head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    return None


def _describe(data: bytes) -> str:
    """What the refused bytes look like, as words for the message (never the bytes themselves)."""
    head = bytes(data[:512]).lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if not data:
        return "empty data"
    if head.startswith((b"<svg", b"<?xml")) or b"<svg" in head:
        return "an SVG image"
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "an HTML page"
    kinds = {
        b"gif87a": "a GIF image",
        b"gif89a": "a GIF image",
        b"bm": "a BMP image",
        b"ii*\x00": "a TIFF image",
        b"mm\x00*": "a TIFF image",
        b"\x00\x00\x01\x00": "an ICO image",
        b"%pdf": "a PDF document",
    }
    for magic, kind in kinds.items():
        if head.startswith(magic):
            return kind
    if head[4:12] in (b"ftypavif", b"ftypavis", b"ftypheic", b"ftypmif1"):
        return "an AVIF/HEIF image"
    return "data that is not an image we read"


def _refuse(message: str, todo: str = _WHAT_TO_DO) -> InvalidImage:
    return InvalidImage(f"{message}; {todo}")


def _smaller(max_pixels: int, max_side: int) -> str:
    return f"use a smaller image (at most {max_pixels:,} pixels and {max_side:,} a side)"


def decode_image(data: bytes, *, max_pixels: int = MAX_PIXELS, max_side: int = MAX_SIDE) -> Image.Image:
    """Decode a PNG, JPEG or WebP into an upright RGB or RGBA image (first frame), within the caps.

    Raises :class:`InvalidImage` for anything else, for damaged data, for more than
    :data:`MAX_IMAGE_BYTES` bytes, and for a header announcing more than ``max_pixels`` pixels or a side
    longer than ``max_side`` (checked before any pixel is decoded).
    """
    if len(data) > MAX_IMAGE_BYTES:
        raise _refuse(
            f"the image is {len(data):,} bytes, more than the {MAX_IMAGE_BYTES:,} accepted",
            f"use a PNG, JPEG or WebP image under {MAX_IMAGE_BYTES // 2**20} MiB",
        )
    kind = sniff_image(data)
    if kind is None:
        raise _refuse(f"refused {_describe(data)}: only PNG, JPEG and WebP are decoded")

    from PIL import Image, ImageOps

    smaller = _smaller(max_pixels, max_side)
    resave = "open it in an image editor and save it again as PNG, JPEG or WebP"

    with warnings.catch_warnings():
        # The bomb warning (over Image.MAX_IMAGE_PIXELS) becomes an error here only, not process-wide.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=[_PILLOW_FORMATS[kind]])
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _refuse(f"the {kind.upper()} image is too large to decode safely ({exc})", smaller) from exc
        except _DECODE_ERRORS as exc:
            raise _refuse(f"the {kind.upper()} image is damaged or unreadable ({exc})", resave) from exc
        with image:
            width, height = image.size
            if width <= 0 or height <= 0 or width > max_side or height > max_side:
                raise _refuse(
                    f"the image is {width}x{height} pixels; each side must be 1 to {max_side:,}", smaller
                )
            if width * height > max_pixels:
                raise _refuse(
                    f"the image is {width}x{height} = {width * height:,} pixels, "
                    f"more than the {max_pixels:,} accepted",
                    smaller,
                )
            try:
                image.seek(0)  # animations: the first frame only
                image.load()
                upright = ImageOps.exif_transpose(image)
                return _to_rgb_or_rgba(upright)
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                raise _refuse(
                    f"the {kind.upper()} image is too large to decode safely ({exc})", smaller
                ) from exc
            except _DECODE_ERRORS as exc:
                raise _refuse(f"the {kind.upper()} image is damaged or unreadable ({exc})", resave) from exc


def _to_rgb_or_rgba(image: Image.Image) -> Image.Image:
    """RGBA if the image has any transparency (an alpha band, or a palette/colour key), else RGB."""
    if image.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N"):
        # 16-bit greyscale: scale 0..65535 down to 0..255 (a plain convert would clip it to white).
        transparent = "transparency" in image.info
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
        return image.convert("RGBA" if transparent else "RGB")
    has_alpha = image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info
    target = "RGBA" if has_alpha else "RGB"
    if image.mode == "P" and has_alpha:
        image = image.convert("RGBA")  # through RGBA, so the palette's transparency is kept
    converted = image if image.mode == target else image.convert(target)
    converted.info = {}
    return converted


def _fitted(image: Image.Image, size: int) -> Image.Image:
    """A copy fitting in ``size`` x ``size``, aspect kept, never upscaled, resampled with Lanczos."""
    from PIL import Image

    if size < 1:
        raise ValueError(f"thumbnail size must be at least 1 pixel, got {size}")
    copy = image.copy()
    copy.thumbnail((size, size), Image.Resampling.LANCZOS)
    return copy


def _encode_webp(image: Image.Image, quality: int) -> bytes:
    if not 0 <= quality <= 100:
        raise ValueError(f"WebP quality must be 0 to 100, got {quality}")
    if image.mode not in ("RGB", "RGBA"):
        image = _to_rgb_or_rgba(image)
    image.info = {}  # pixels only: no EXIF, ICC profile or text carried over
    out = io.BytesIO()
    image.save(out, format="WEBP", quality=quality, method=4)
    return out.getvalue()


def thumbnail_webp(image: Image.Image, size: int, *, quality: int = 82) -> bytes:
    """``image`` fitted in ``size`` x ``size`` (aspect kept, never upscaled, Lanczos), as WebP bytes."""
    return _encode_webp(_fitted(image, size), quality)


def make_preview_set(data: bytes) -> PreviewSet:
    """Decode ``data`` (see :func:`decode_image`) and re-encode it as a full preview plus thumbnails."""
    with decode_image(data) as image:
        full_image = _fitted(image, PREVIEW_FULL_SIZE)
    with full_image:
        full = _encode_webp(full_image, quality=82)
        thumbs = {size: thumbnail_webp(full_image, size) for size in PREVIEW_SIZES}
        width, height = full_image.size
    return PreviewSet(
        full=full,
        thumbs=MappingProxyType(thumbs),
        width=width,
        height=height,
        digest=hashlib.sha256(full).hexdigest()[:16],
    )


def image_from_data_uri(uri: str) -> bytes:
    """The image bytes of a ``data:image/png|jpeg|webp;base64,...`` URI (a ``modelspec.thumbnail``).

    Refuses other media types (``image/svg+xml`` above all), non-base64 URIs, broken base64, payloads
    over :data:`MAX_IMAGE_BYTES` (checked on the text length before decoding), and bytes whose magic is
    not PNG, JPEG or WebP. The declared type and the magic may differ (writers mislabel): the magic wins
    when the bytes are decoded.
    """
    if not isinstance(uri, str) or not uri[:5].lower() == "data:":
        raise _refuse("the thumbnail is not a data: URI")
    header, comma, payload = uri[5:].partition(",")
    if not comma:
        raise _refuse("the thumbnail data URI has no ',' before its data")
    params = [part.strip().lower() for part in header.split(";")]
    media_type, flags = params[0], params[1:]
    if media_type not in _DATA_URI_TYPES:
        shown = media_type[:60] or "no media type"
        raise _refuse(f"the thumbnail data URI is {shown!r}, not PNG, JPEG or WebP")
    if "base64" not in flags:
        raise _refuse("the thumbnail data URI is not base64-encoded")
    if len(payload) > (MAX_IMAGE_BYTES + 2) // 3 * 4 + 4096:  # room for line breaks some writers add
        raise _refuse(f"the thumbnail data URI holds more than {MAX_IMAGE_BYTES:,} bytes")
    try:
        text = _WHITESPACE.sub(b"", payload.encode("ascii"))
        data = base64.b64decode(text, validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise _refuse(f"the thumbnail data URI's base64 is broken ({exc})") from exc
    if len(data) > MAX_IMAGE_BYTES:
        raise _refuse(f"the thumbnail data URI holds {len(data):,} bytes, more than {MAX_IMAGE_BYTES:,}")
    if sniff_image(data) is None:
        raise _refuse(f"the thumbnail data URI holds {_describe(data)}")
    return data
