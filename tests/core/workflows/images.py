"""PNG and WebP files built byte by byte (zlib + struct), the layouts ComfyUI's Pillow writes."""

from __future__ import annotations

import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# 1x1 RGB: IHDR + one IDAT row (filter byte + 3 bytes)
_IHDR = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
_IDAT = zlib.compress(b"\x00\xff\x00\x00")


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def text(key: str, value: str) -> bytes:
    return chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))


def ztext(key: str, value: bytes) -> bytes:
    return chunk(b"zTXt", key.encode("latin-1") + b"\0\0" + zlib.compress(value))


def itext(key: str, value: str, *, compressed: bool = False) -> bytes:
    raw = value.encode("utf-8")
    if compressed:
        raw = zlib.compress(raw)
    flags = bytes([1 if compressed else 0, 0])
    return chunk(b"iTXt", key.encode("latin-1") + b"\0" + flags + b"en\0" + b"\0" + raw)


def png(*chunks: bytes, end: bool = True) -> bytes:
    body = chunk(b"IHDR", _IHDR) + b"".join(chunks) + chunk(b"IDAT", _IDAT)
    return PNG_SIGNATURE + body + (chunk(b"IEND", b"") if end else b"")


def exif(entries: list[tuple[int, str]], *, big_endian: bool = False, prefix: bool = False) -> bytes:
    """TIFF-structured EXIF: one IFD of ASCII entries, values after the IFD (as Pillow lays them out)."""
    order = ">" if big_endian else "<"
    head = (b"MM" if big_endian else b"II") + struct.pack(order + "HI", 42, 8)
    ifd_size = 2 + 12 * len(entries) + 4
    values = b""
    ifd = struct.pack(order + "H", len(entries))
    for tag, value in entries:
        raw = value.encode("utf-8") + b"\0"
        ifd += struct.pack(order + "HHII", tag, 2, len(raw), 8 + ifd_size + len(values))
        values += raw + (b"\0" if len(raw) % 2 else b"")
    ifd += struct.pack(order + "I", 0)
    data = head + ifd + values
    return (b"Exif\0\0" if prefix else b"") + data


def riff_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")


def webp(*chunks: bytes) -> bytes:
    vp8x = riff_chunk(b"VP8X", bytes([0x08, 0, 0, 0]) + b"\0\0\0" + b"\0\0\0")
    vp8l = riff_chunk(b"VP8L", b"\x2f\x00\x00\x00\x00")  # not decodable: never decoded, only skipped
    body = b"WEBP" + vp8x + vp8l + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body
