"""Preview images: real PNG/JPEG/WebP made here decode and re-encode; everything else, every damaged file,
every oversized or bomb image is refused with InvalidImage, without allocating its pixels."""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import subprocess
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from comfyui_model_library.core.errors import InvalidImage
from comfyui_model_library.core.previews import images
from comfyui_model_library.core.previews.images import (
    MAX_IMAGE_BYTES,
    PREVIEW_SIZES,
    PreviewSet,
    decode_image,
    image_from_data_uri,
    make_preview_set,
    sniff_image,
    thumbnail_webp,
)

PROJECT = Path(__file__).resolve().parents[3]
RED, BLUE = (255, 0, 0), (0, 0, 255)


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def size_of(webp: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(webp)) as image:
        assert image.format == "WEBP"
        return image.size


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def crafted_png(width: int, height: int, *, bit_depth: int, colour: int, rows: int) -> bytes:
    """A PNG whose IHDR says ``width`` x ``height``, with ``rows`` rows of zeros compressed (CRCs right)."""
    bits_per_pixel = bit_depth * {0: 1, 2: 3}[colour]
    row = b"\x00" + bytes((width * bits_per_pixel + 7) // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(rows)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# ------------------------------------------------------------------------------------------- sniffing


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", "png"),
        (b"\xff\xd8\xff\xe0", "jpeg"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", None),
        (b"GIF89a", None),
        (b"<!DOCTYPE html><html>", None),
        (b"BM\x00\x00", None),
        (b"II*\x00", None),
        (b"\x00\x00\x00\x1cftypavif", None),
        (b"", None),
    ],
)
def test_sniff_reads_magic_bytes_only(data: bytes, kind: str | None) -> None:
    assert sniff_image(data) == kind


# ---------------------------------------------------------------------------------- images we decode


@pytest.mark.parametrize(
    ("mode", "fmt", "expected_mode"),
    [
        ("RGB", "PNG", "RGB"),
        ("RGB", "JPEG", "RGB"),
        ("RGB", "WEBP", "RGB"),
        ("RGBA", "PNG", "RGBA"),
        ("RGBA", "WEBP", "RGBA"),
        ("L", "PNG", "RGB"),
        ("L", "JPEG", "RGB"),
        ("LA", "PNG", "RGBA"),
        ("1", "PNG", "RGB"),
        ("CMYK", "JPEG", "RGB"),
    ],
)
def test_formats_and_modes_decode_to_rgb_or_rgba(mode: str, fmt: str, expected_mode: str) -> None:
    data = encode(Image.new(mode, (64, 48)), fmt)
    image = decode_image(data)
    assert (image.mode, image.size) == (expected_mode, (64, 48))
    preview = make_preview_set(data)
    assert size_of(preview.full) == (64, 48)


def test_a_palette_with_transparency_becomes_rgba_and_keeps_it() -> None:
    palette = Image.new("P", (4, 2))
    palette.putpalette([0, 0, 0, *RED])
    palette.putpixel((1, 0), 1)
    image = decode_image(encode(palette, "PNG", transparency=0))
    assert image.mode == "RGBA"
    assert image.getpixel((0, 0))[3] == 0
    assert image.getpixel((1, 0)) == (*RED, 255)


@pytest.mark.parametrize(("value", "grey"), [(65535, 255), (32768, 128), (0, 0)])
def test_a_16_bit_png_is_scaled_to_8_bits_not_clipped(value: int, grey: int) -> None:
    data = encode(Image.new("I;16", (8, 8), value), "PNG")
    with Image.open(io.BytesIO(data)) as check:
        assert check.mode.startswith("I")  # really 16 bits on disk
    image = decode_image(data)
    assert image.mode == "RGB"
    assert image.getpixel((3, 3)) == (grey, grey, grey)


def test_an_exif_rotated_jpeg_comes_out_upright_without_its_exif() -> None:
    landscape = Image.new("RGB", (800, 400), BLUE)
    landscape.paste(RED, (0, 0, 400, 400))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: display rotated 90° clockwise
    exif[0x010E] = "secret description"
    data = encode(landscape, "JPEG", exif=exif.tobytes(), quality=95)
    image = decode_image(data)
    assert image.size == (400, 800)
    red, _green, blue = image.getpixel((200, 100))  # the left half turned to the top
    assert red > 200 and blue < 60
    preview = make_preview_set(data)
    assert (preview.width, preview.height) == (400, 800)
    assert size_of(preview.thumbs[256]) == (128, 256)
    assert size_of(preview.thumbs[512]) == (256, 512)
    for webp in (preview.full, *preview.thumbs.values()):
        with Image.open(io.BytesIO(webp)) as out:
            assert "exif" not in out.info and "icc_profile" not in out.info
            assert b"secret" not in webp


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_an_animation_gives_its_first_frame(fmt: str) -> None:
    frames = [Image.new("RGB", (16, 16), RED), Image.new("RGB", (16, 16), BLUE)]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], lossless=True)
    with Image.open(io.BytesIO(data)) as check:
        assert getattr(check, "n_frames", 1) == 2
    assert decode_image(data).getpixel((8, 8)) == RED


# ------------------------------------------------------------------------------------------ thumbnails


def test_thumbnails_keep_the_aspect_ratio_and_re_decode_as_webp() -> None:
    preview = make_preview_set(encode(Image.new("RGB", (2000, 1000), RED), "JPEG"))
    assert isinstance(preview, PreviewSet)
    assert (preview.width, preview.height) == size_of(preview.full) == (1024, 512)
    assert set(preview.thumbs) == set(PREVIEW_SIZES) == {256, 512}
    assert size_of(preview.thumbs[256]) == (256, 128)
    assert size_of(preview.thumbs[512]) == (512, 256)
    assert len(preview.digest) == 16 and int(preview.digest, 16) >= 0
    with pytest.raises(TypeError):
        preview.thumbs[1024] = b""  # type: ignore[index]


def test_thumbnails_never_upscale() -> None:
    image = decode_image(encode(Image.new("RGB", (100, 50), RED), "PNG"))
    for size in (256, 512, 1024):
        assert size_of(thumbnail_webp(image, size)) == (100, 50)
    assert size_of(thumbnail_webp(image, 20)) == (20, 10)
    preview = make_preview_set(encode(Image.new("RGB", (100, 50), RED), "PNG"))
    assert (preview.width, preview.height) == (100, 50)
    assert all(size_of(webp) == (100, 50) for webp in preview.thumbs.values())


def test_the_original_bytes_are_never_kept() -> None:
    data = encode(Image.new("RGB", (300, 200), BLUE), "PNG", pnginfo=None)
    preview = make_preview_set(data)
    assert data not in (preview.full, *preview.thumbs.values())
    assert sniff_image(preview.full) == "webp"


def test_the_same_image_gives_the_same_digest() -> None:
    data = encode(Image.new("RGB", (300, 200), BLUE), "PNG")
    assert make_preview_set(data) == make_preview_set(data)


# ---------------------------------------------------------------------------------------- refusals


def png_bytes() -> bytes:
    return encode(Image.new("RGB", (64, 64), RED), "PNG")


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'><script/></svg>", "SVG"),
        (b"<!DOCTYPE html><html><script>alert(1)</script></html>", "HTML"),
        (encode(Image.new("RGB", (8, 8)), "GIF"), "GIF"),
        (encode(Image.new("RGB", (8, 8)), "BMP"), "BMP"),
        (encode(Image.new("RGB", (8, 8)), "TIFF"), "TIFF"),
        (b"", "empty"),
        (os.urandom(4096), "not an image"),
        (png_bytes()[: len(png_bytes()) // 2], "damaged"),
        (png_bytes()[:40], "damaged"),
        (encode(Image.new("RGB", (64, 64), RED), "JPEG")[:300], "damaged"),
        (b"\x89PNG\r\n\x1a\n" + os.urandom(200), "damaged"),
    ],
    ids=[
        "svg",
        "html",
        "gif",
        "bmp",
        "tiff",
        "empty",
        "random",
        "truncated",
        "header-only",
        "jpeg-cut",
        "junk",
    ],
)
def test_anything_else_is_refused_with_invalid_image(data: bytes, words: str) -> None:
    with pytest.raises(InvalidImage, match=words) as refused:
        decode_image(data)
    assert refused.value.http_status == 415
    assert "PNG, JPEG or WebP" in refused.value.message  # says what to do
    with pytest.raises(InvalidImage):
        make_preview_set(data)


def test_oversized_input_is_refused_before_decoding() -> None:
    with pytest.raises(InvalidImage, match="bytes"):
        decode_image(b"\x89PNG\r\n\x1a\n" + bytes(MAX_IMAGE_BYTES))


def test_a_20000_square_png_is_refused_from_its_header_without_allocating() -> None:
    data = crafted_png(20_000, 20_000, bit_depth=8, colour=2, rows=4)
    assert len(data) < 10_000
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(InvalidImage, match=r"too large|20000x20000") as refused:
            decode_image(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "smaller image" in refused.value.message
    assert peak < 50 * 2**20
    assert time.monotonic() - started < 2


BOMB_IN_A_SUBPROCESS = r"""
import json, resource, sys
from comfyui_model_library.core.errors import InvalidImage
from comfyui_model_library.core.previews.images import decode_image
data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for limits in ({}, {"max_pixels": 10**12, "max_side": 10**6}):
    try:
        decode_image(data, **limits)
    except InvalidImage as exc:
        refused = exc.message
    else:
        refused = None
    assert refused, limits
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"grew_kib": after - before}))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="resource is POSIX-only")
def test_a_decompression_bomb_is_refused_without_memory_growth(tmp_path: Path) -> None:
    bomb = crafted_png(15_000, 15_000, bit_depth=1, colour=0, rows=15_000)  # 225 Mpx, all there
    assert len(bomb) < 100_000
    (tmp_path / "bomb.png").write_bytes(bomb)
    done = subprocess.run(
        [sys.executable, "-c", BOMB_IN_A_SUBPROCESS, str(tmp_path / "bomb.png")],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["grew_kib"] < 50 * 1024


def test_pillow_s_global_limit_is_neither_needed_nor_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = crafted_png(8_000, 8_000, bit_depth=1, colour=0, rows=8_000)  # 64 Mpx: under Pillow's own limit
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(InvalidImage, match="pixels"):
        decode_image(bomb)
    assert Image.MAX_IMAGE_PIXELS == before
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # a host or another plugin switched it off
    with pytest.raises(InvalidImage, match="pixels"):
        decode_image(crafted_png(15_000, 15_000, bit_depth=1, colour=0, rows=10))
    assert Image.MAX_IMAGE_PIXELS is None


def test_pillow_s_bomb_warning_is_an_error_here_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 64x64 = 4096: warned at 1000, error at 2000
    with pytest.raises(InvalidImage, match="too large"):
        decode_image(png_bytes(), max_pixels=10**9)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)  # warning only: still refused
    with pytest.raises(InvalidImage, match="too large"):
        decode_image(png_bytes(), max_pixels=10**9)


def test_the_side_cap_is_checked() -> None:
    with pytest.raises(InvalidImage, match="each side"):
        decode_image(encode(Image.new("L", (300, 2)), "PNG"), max_side=256)


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF\x10\x00\x00\x00WEBPVP8 "]),
    body=st.binary(max_size=2048),
)
def test_random_bytes_raise_nothing_but_invalid_image(prefix: bytes, body: bytes) -> None:
    try:
        decode_image(prefix + body)
    except InvalidImage:
        pass


@settings(max_examples=150, deadline=None)
@given(cut=st.integers(min_value=0, max_value=4000), flip=st.integers(min_value=0, max_value=4000))
def test_damaged_real_images_raise_nothing_but_invalid_image(cut: int, flip: int) -> None:
    for data in (SAMPLES["png"], SAMPLES["jpeg"], SAMPLES["webp"]):
        damaged = bytearray(data[: max(cut, 1)])
        damaged[flip % len(damaged)] ^= 0xFF
        try:
            decode_image(bytes(damaged))
        except InvalidImage:
            pass


_noise = Image.frombytes("RGB", (40, 30), bytes(range(256)) * 14 + bytes(16))
SAMPLES = {"png": encode(_noise, "PNG"), "jpeg": encode(_noise, "JPEG"), "webp": encode(_noise, "WEBP")}


# ------------------------------------------------------------------------------------------ data URIs


@pytest.mark.parametrize("kind", ["png", "jpeg", "webp"])
def test_a_modelspec_thumbnail_data_uri_round_trips(kind: str) -> None:
    data = SAMPLES[kind]
    uri = f"data:image/{kind};base64,{base64.b64encode(data).decode()}"
    assert image_from_data_uri(uri) == data
    assert make_preview_set(image_from_data_uri(uri)).width == 40


def test_a_data_uri_with_line_breaks_and_parameters_is_read() -> None:
    text = base64.encodebytes(SAMPLES["png"]).decode()  # wrapped at 76 characters
    assert image_from_data_uri(f"DATA:Image/PNG;charset=binary;base64,{text}") == SAMPLES["png"]


SVG = b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>"


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        (f"data:image/svg+xml;base64,{base64.b64encode(SVG).decode()}", "svg"),
        (f"data:image/png;base64,{base64.b64encode(SVG).decode()}", "SVG"),
        (f"data:text/html;base64,{base64.b64encode(b'<html>').decode()}", "text/html"),
        (f"data:;base64,{base64.b64encode(SAMPLES['png']).decode()}", "no media type"),
        ("data:image/png;base64,iVBORw0KGgo!!!", "base64"),
        ("data:image/png;base64,iVBORw0KGgoé", "base64"),
        ("data:image/png;base64,iVBORw0KGg", "base64"),
        ("data:image/png,%89PNG", "not base64"),
        ("data:image/png;base64", "','"),
        ("https://example.com/thumb.png", "data: URI"),
        ("data:image/png;base64," + "A" * (MAX_IMAGE_BYTES // 3 * 4 + 10_000), "more than"),
    ],
    ids=[
        "svg",
        "svg-labelled-png",
        "html",
        "no-type",
        "bad-chars",
        "non-ascii",
        "bad-padding",
        "not-base64",
        "no-comma",
        "not-data",
        "oversized",
    ],
)
def test_bad_data_uris_are_refused(uri: str, words: str) -> None:
    with pytest.raises(InvalidImage, match=words):
        image_from_data_uri(uri)


# -------------------------------------------------------------------------------------- import cost


def test_importing_the_module_does_not_import_pillow() -> None:
    code = "import sys, core.previews.images, core.previews; assert 'PIL' not in sys.modules, 'PIL imported'"
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=PROJECT)
    assert done.returncode == 0, done.stderr
    here = Path(images.__file__).resolve()
    assert here.is_relative_to(PROJECT), f"the tests ran {here}, not this checkout's code"
