"""The workflow text an image carries: PNG text chunks and WebP EXIF, read by a small bounded chunk reader.

ComfyUI writes them so (0.3.64):

* PNG (``SaveImage``): Pillow's ``PngInfo.add_text`` chunks, one ``prompt`` (API format) and one per
  ``extra_pnginfo`` key, in practice ``workflow`` (UI format). ``json.dumps`` escapes every non-ASCII
  character, so these are ``tEXt`` chunks; other tools write ``iTXt`` (UTF-8, optionally compressed) or
  ``zTXt`` (compressed Latin-1). All three are read; the frontend also reads a private ``comf`` chunk
  laid out like ``tEXt``.
* WebP (``SaveAnimatedWEBP``): an ``EXIF`` chunk whose first IFD holds ASCII entries ``"prompt:<json>"``
  (tag 0x0110) and ``"workflow:<json>"`` (0x010F, then 0x010E, ... for further keys). The frontend splits
  every ASCII entry at its first ``:`` and skips an ``Exif\\0\\0`` prefix; so does this reader.

Only the chunks that can hold text are read; pixel data is skipped with ``seek``. Every length is checked
against the bytes present and against a limit, compressed text is inflated with a cap (a zTXt "bomb" stops
at the cap), and anything malformed is an ``InvalidInput`` that names the file and what is wrong.
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import BinaryIO

from ..errors import InvalidInput

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WANTED_KEYS = ("workflow", "prompt")
MAX_TEXT_BYTES = 32 << 20  # one workflow's JSON, inflated
MAX_CHUNK_BYTES = 64 << 20  # one text or EXIF chunk as stored
MAX_CHUNKS = 200_000  # chunks walked in one image (a real one has a few dozen)
MAX_IFD_ENTRIES = 4096
_TEXT_CHUNKS = {b"tEXt", b"zTXt", b"iTXt", b"comf"}


def is_png(head: bytes) -> bool:
    return head.startswith(PNG_SIGNATURE)


def is_webp(head: bytes) -> bool:
    return len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP"


def _read_exact(stream: BinaryIO, size: int, label: str, what: str) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise InvalidInput(f"{label}: the image is truncated inside {what}; save it again from ComfyUI")
    return data


def inflate(data: bytes, label: str, what: str, limit: int | None = None) -> bytes:
    """zlib data inflated to at most ``limit`` bytes (MAX_TEXT_BYTES); more is refused, not allocated."""
    limit = MAX_TEXT_BYTES if limit is None else limit
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise InvalidInput(f"{label}: the compressed {what} text is damaged ({exc})") from None
    if len(out) > limit:
        raise InvalidInput(
            f"{label}: the compressed {what} text inflates past {limit >> 20} MiB; "
            "it is not a workflow (a decompression bomb?)"
        )
    return out


def _decode(raw: bytes, latin1_fallback: bool) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1") if latin1_fallback else None


def _png_text(kind: bytes, body: bytes, label: str) -> tuple[str, str] | None:
    """(keyword, text) of one text chunk, or None when it holds no key we read."""
    keyword, sep, rest = body.partition(b"\0")
    if not sep:
        raise InvalidInput(f"{label}: a PNG {kind.decode()} chunk has no keyword terminator")
    key = keyword.decode("latin-1")
    if key not in WANTED_KEYS:
        return None
    if kind in (b"tEXt", b"comf"):
        text = _decode(rest, latin1_fallback=True)
    elif kind == b"zTXt":
        if not rest or rest[0] != 0:
            raise InvalidInput(f"{label}: the PNG zTXt chunk {key!r} uses an unknown compression method")
        text = inflate(rest[1:], label, key).decode("latin-1")
    else:  # iTXt: flag, method, language\0, translated keyword\0, text
        if len(rest) < 2:
            raise InvalidInput(f"{label}: the PNG iTXt chunk {key!r} is too short")
        flag, method = rest[0], rest[1]
        parts = rest[2:].split(b"\0", 2)
        if len(parts) != 3:
            raise InvalidInput(f"{label}: the PNG iTXt chunk {key!r} lacks its language or keyword field")
        raw = parts[2]
        if flag:
            if method != 0:
                raise InvalidInput(f"{label}: the PNG iTXt chunk {key!r} uses an unknown compression method")
            raw = inflate(raw, label, key)
        text = _decode(raw, latin1_fallback=False)
    if text is None:
        raise InvalidInput(f"{label}: the PNG text chunk {key!r} is not valid UTF-8")
    return key, text


def read_png_text(stream: BinaryIO, label: str) -> dict[str, str]:
    """The ``workflow`` / ``prompt`` texts of a PNG (the first chunk of each key wins)."""
    if not is_png(stream.read(len(PNG_SIGNATURE))):
        raise InvalidInput(f"{label}: not a PNG file (its signature is missing)")
    found: dict[str, str] = {}
    for _ in range(MAX_CHUNKS):
        head = stream.read(8)
        if len(head) < 8:
            break  # truncated after the last whole chunk: keep what was read (the frontend does too)
        length, kind = struct.unpack(">I4s", head)
        if length > 0x7FFFFFFF:
            raise InvalidInput(f"{label}: a PNG chunk claims {length} bytes; the file is damaged")
        if kind == b"IEND":
            break
        if kind in _TEXT_CHUNKS:
            if length > MAX_CHUNK_BYTES:
                raise InvalidInput(
                    f"{label}: a PNG text chunk of {length >> 20} MiB is over the "
                    f"{MAX_CHUNK_BYTES >> 20} MiB limit for a workflow"
                )
            body = _read_exact(stream, length, label, f"a {kind.decode()} chunk")
            stream.seek(4, io.SEEK_CUR)  # CRC: not checked, as neither ComfyUI nor its frontend does
            pair = _png_text(kind, body, label)
            if pair is not None and pair[0] not in found:
                found[pair[0]] = pair[1]
        else:
            stream.seek(length + 4, io.SEEK_CUR)
    else:
        raise InvalidInput(f"{label}: more than {MAX_CHUNKS} PNG chunks; not an image ComfyUI saved")
    return found


def _exif_strings(exif: bytes, label: str) -> dict[str, str]:
    """``key:value`` ASCII entries of the first IFD of TIFF-structured EXIF data."""
    if exif.startswith(b"Exif\0\0"):
        exif = exif[6:]
    if len(exif) < 8 or exif[:2] not in (b"II", b"MM"):
        raise InvalidInput(f"{label}: the WebP EXIF chunk has no TIFF header")
    order = "<" if exif[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(order + "I", exif, 4)
    if ifd + 2 > len(exif):
        raise InvalidInput(f"{label}: the WebP EXIF directory lies outside its chunk")
    (count,) = struct.unpack_from(order + "H", exif, ifd)
    if count > MAX_IFD_ENTRIES or ifd + 2 + 12 * count > len(exif):
        raise InvalidInput(f"{label}: the WebP EXIF directory claims {count} entries that are not there")
    found: dict[str, str] = {}
    for i in range(count):
        _tag, kind, size, value_at = struct.unpack_from(order + "HHII", exif, ifd + 2 + 12 * i)
        if kind not in (2, 7):  # ASCII, UNDEFINED
            continue
        if size <= 4:
            raw = exif[ifd + 2 + 12 * i + 8 : ifd + 2 + 12 * i + 8 + size]
        elif value_at + size > len(exif):
            raise InvalidInput(f"{label}: a WebP EXIF entry points past the end of its chunk")
        else:
            raw = exif[value_at : value_at + size]
        text = _decode(raw.rstrip(b"\0"), latin1_fallback=False)
        if text is None or ":" not in text:
            continue
        key, _, value = text.partition(":")
        if key in WANTED_KEYS and key not in found:
            found[key] = value
    return found


def read_webp_text(stream: BinaryIO, label: str) -> dict[str, str]:
    """The ``workflow`` / ``prompt`` texts of a WebP's EXIF chunk."""
    head = stream.read(12)
    if not is_webp(head):
        raise InvalidInput(f"{label}: not a WebP file (RIFF/WEBP header missing)")
    for _ in range(MAX_CHUNKS):
        chunk = stream.read(8)
        if len(chunk) < 8:
            return {}
        kind, size = struct.unpack("<4sI", chunk)
        if kind == b"EXIF":
            if size > MAX_CHUNK_BYTES:
                raise InvalidInput(
                    f"{label}: a WebP EXIF chunk of {size >> 20} MiB is over the "
                    f"{MAX_CHUNK_BYTES >> 20} MiB limit for a workflow"
                )
            return _exif_strings(_read_exact(stream, size, label, "the EXIF chunk"), label)
        stream.seek(size + (size & 1), io.SEEK_CUR)
    raise InvalidInput(f"{label}: more than {MAX_CHUNKS} WebP chunks; not an image ComfyUI saved")
