"""Reading workflows: JSON, API JSON, PNG (tEXt/iTXt/zTXt), WebP (EXIF), and hostile inputs of each."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

from comfyui_model_library.core.errors import InvalidInput
from comfyui_model_library.core.workflows import (
    Container,
    WorkflowFormat,
    containers,
    extract_references,
    read_workflow_bytes,
    read_workflow_file,
    workflow_from_json,
)
from tests.core.workflows import images

DATA = Path(__file__).parent / "data"
UI = {
    "nodes": [{"id": 4, "type": "CheckpointLoaderSimple", "widgets_values": ["ui.safetensors"]}],
    "links": [],
}
API = {"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "api.safetensors"}}}


def names(data: bytes) -> list[str]:
    return [r.name for r in extract_references(read_workflow_bytes(data, label="t")).references]


# -- what ComfyUI (its Pillow) really wrote ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("file", "container"),
    [("comfyui_saveimage.png", Container.PNG), ("comfyui_saveanimatedwebp.webp", Container.WEBP)],
)
def test_images_saved_by_the_host_s_pillow_read_their_workflow(file: str, container: Container) -> None:
    workflow = read_workflow_file(DATA / file)
    assert (workflow.format, workflow.container) == (WorkflowFormat.UI, container)
    refs = extract_references(workflow).references
    assert [(r.category, r.name) for r in refs] == [
        ("checkpoints", "sd_xl_base_1.0.safetensors"),
        ("loras", "détail-ü.safetensors"),
    ]
    assert str(refs[0].hash) == "sha256:31e35c80fc4829d14f90153f4c74cd59c90b779f6afe05a74cd6120b893f7e5b"
    assert read_workflow_bytes((DATA / file).read_bytes()).data == workflow.data


# -- JSON ----------------------------------------------------------------------------------------------------
def test_ui_and_api_json_are_told_apart() -> None:
    assert read_workflow_bytes(json.dumps(UI).encode()).format is WorkflowFormat.UI
    api = read_workflow_bytes(b"\xef\xbb\xbf" + json.dumps(API).encode())  # a byte-order mark is fine
    assert (api.format, api.container) == (WorkflowFormat.API, Container.JSON)
    assert workflow_from_json(UI).container is Container.OBJECT


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1, 2]", "JSON object, not list"),
        (b'"text"', "JSON object, not str"),
        (b"{}", "not a ComfyUI workflow"),
        (b'{"nodes": {"a": 1}}', "'nodes' must be a list"),
        (b'{"nodes": [1]}', r"nodes\[0\] must be an object"),
        (b'{"4": {"class_type": "X", "inputs": []}}', "'inputs' must be an object"),
        (b'{"4": {"class_type": "X"}, "5": 7}', "entry '5' is not a node"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_bad_json_is_invalid_input_naming_what_is_wrong(payload: bytes, says: str) -> None:
    with pytest.raises(InvalidInput, match=says) as caught:
        read_workflow_bytes(payload, label="shared.json")
    assert "shared.json" in caught.value.message


def test_json_over_the_size_limit_is_refused_before_parsing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("comfyui_model_library.core.workflows.document.MAX_TEXT_BYTES", 1000)
    big = json.dumps({**UI, "extra": "x" * 2000}).encode()
    with pytest.raises(InvalidInput, match="over the 0 MiB limit"):
        read_workflow_bytes(big)
    (tmp_path / "big.json").write_bytes(big)
    with pytest.raises(InvalidInput, match="limit for a JSON workflow"):
        read_workflow_file(tmp_path / "big.json")


def test_an_unreadable_file_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read the workflow file"):
        read_workflow_file(tmp_path / "absent.json")


# -- PNG -----------------------------------------------------------------------------------------------------
def test_png_text_chunks_of_each_kind() -> None:
    assert names(images.png(images.text("workflow", json.dumps(UI)))) == ["ui.safetensors"]
    assert names(images.png(images.ztext("workflow", json.dumps(UI).encode()))) == ["ui.safetensors"]
    ui_utf8 = json.dumps(UI, ensure_ascii=False).replace("ui.safetensors", "ü.safetensors")
    assert names(images.png(images.itext("workflow", ui_utf8))) == ["ü.safetensors"]
    assert names(images.png(images.itext("workflow", ui_utf8, compressed=True))) == ["ü.safetensors"]


def test_png_workflow_wins_over_prompt_and_prompt_is_the_fallback() -> None:
    both = images.png(images.text("prompt", json.dumps(API)), images.text("workflow", json.dumps(UI)))
    assert names(both) == ["ui.safetensors"]
    assert names(images.png(images.text("prompt", json.dumps(API)))) == ["api.safetensors"]
    broken_ui = images.png(images.text("workflow", "{oops"), images.text("prompt", json.dumps(API)))
    assert names(broken_ui) == ["api.safetensors"]


def test_png_without_a_workflow_or_with_only_broken_ones() -> None:
    with pytest.raises(InvalidInput, match="carries no ComfyUI workflow"):
        read_workflow_bytes(images.png(images.text("parameters", "a1111 text")))
    with pytest.raises(InvalidInput, match=r"\[workflow\]: not valid JSON.*\[prompt\]: not valid JSON"):
        read_workflow_bytes(images.png(images.text("workflow", "{"), images.text("prompt", "[")))


def test_png_decompression_bomb_stops_at_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(containers, "MAX_TEXT_BYTES", 1 << 20)
    bomb = images.png(images.ztext("workflow", b" " * (64 << 20)))  # 64 MiB of spaces, ~64 KiB stored
    assert len(bomb) < 200_000
    with pytest.raises(InvalidInput, match="inflates past 1 MiB"):
        read_workflow_bytes(bomb)
    with pytest.raises(InvalidInput, match="inflates past 1 MiB"):
        read_workflow_bytes(images.png(images.itext("workflow", " " * (8 << 20), compressed=True)))


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (images.PNG_SIGNATURE + b"\xff\xff\xff\xfftEXt", "claims 4294967295 bytes"),
        (
            images.PNG_SIGNATURE + images.chunk(b"tEXt", b"workflow{}")[:-4][:12],
            "truncated inside a tEXt chunk",
        ),
        (images.png(images.chunk(b"tEXt", b"no terminator")), "no keyword terminator"),
        (images.png(images.chunk(b"zTXt", b"workflow\0\x07xx")), "unknown compression method"),
        (images.png(images.chunk(b"zTXt", b"workflow\0\0not zlib")), "compressed workflow text is damaged"),
        (images.png(images.chunk(b"iTXt", b"workflow\0\0")), "iTXt chunk 'workflow' is too short"),
        (images.png(images.chunk(b"iTXt", b"workflow\0\0\0en")), "lacks its language"),
        (images.png(images.chunk(b"iTXt", b"workflow\0\0\0\0\0\xff\xfe")), "not valid UTF-8"),
    ],
)
def test_hostile_png_is_invalid_input(data: bytes, says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        read_workflow_bytes(data)


def test_png_with_endless_chunks_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(containers, "MAX_CHUNKS", 50)
    many = images.png(*[images.chunk(b"tIME", b"1234567") for _ in range(60)])
    with pytest.raises(InvalidInput, match="more than 50 PNG chunks"):
        read_workflow_bytes(many)


def test_png_text_chunk_over_the_limit_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(containers, "MAX_CHUNK_BYTES", 100)
    with pytest.raises(InvalidInput, match="over the 0 MiB limit"):
        read_workflow_bytes(images.png(images.text("workflow", json.dumps(UI) * 10)))


def test_png_truncated_after_the_workflow_still_reads() -> None:
    assert names(images.png(images.text("workflow", json.dumps(UI)), end=False)[:-10]) == ["ui.safetensors"]


def test_a_file_is_walked_without_reading_the_pixels(tmp_path: Path) -> None:
    pixels = images.chunk(b"IDAT", b"\0" * (4 << 20))
    path = tmp_path / "big.png"
    path.write_bytes(images.png(pixels, images.text("workflow", json.dumps(UI))))
    assert [r.name for r in extract_references(read_workflow_file(path)).references] == ["ui.safetensors"]


# -- WebP ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("prefix", [False, True])
def test_webp_exif_entries_as_comfyui_writes_them(big_endian: bool, prefix: bool) -> None:
    entries = [(0x0110, "prompt:" + json.dumps(API)), (0x010F, "workflow:" + json.dumps(UI)), (0x0131, "x")]
    data = images.webp(images.riff_chunk(b"EXIF", images.exif(entries, big_endian=big_endian, prefix=prefix)))
    assert names(data) == ["ui.safetensors"]
    only_prompt = images.webp(
        images.riff_chunk(b"EXIF", images.exif([(0x0110, "prompt:" + json.dumps(API))]))
    )
    assert names(only_prompt) == ["api.safetensors"]


@pytest.mark.parametrize(
    ("exif", "says"),
    [
        (b"XX" + b"\0" * 10, "no TIFF header"),
        (b"II*\0" + b"\xff\xff\x00\x00", "directory lies outside"),
        (b"II*\0\x08\0\0\0" + b"\xff\x7f", "claims 32767 entries"),
        (b"II*\0\x08\0\0\0\x01\0" + b"\x0f\x01\x02\0\x00\x01\0\0\xf0\xff\0\0", "points past the end"),
    ],
)
def test_hostile_webp_exif_is_invalid_input(exif: bytes, says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        read_workflow_bytes(images.webp(images.riff_chunk(b"EXIF", exif)))


def test_webp_without_exif_or_over_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidInput, match="carries no ComfyUI workflow"):
        read_workflow_bytes(images.webp())
    monkeypatch.setattr(containers, "MAX_CHUNK_BYTES", 10)
    exif = images.exif([(0x010F, "workflow:" + json.dumps(UI))])
    with pytest.raises(InvalidInput, match="EXIF chunk of 0 MiB is over"):
        read_workflow_bytes(images.webp(images.riff_chunk(b"EXIF", exif)))
    truncated = images.webp(images.riff_chunk(b"EXIF", b"\0" * 8))[:-4]
    monkeypatch.setattr(containers, "MAX_CHUNK_BYTES", 1 << 20)
    with pytest.raises(InvalidInput, match="truncated inside the EXIF chunk"):
        read_workflow_bytes(truncated)


def test_inflate_is_bounded_whatever_the_ratio() -> None:
    with pytest.raises(InvalidInput, match="inflates past"):
        containers.inflate(zlib.compress(b"\0" * 5000), "t", "workflow", limit=4096)
    assert containers.inflate(zlib.compress(b"\0" * 4096), "t", "workflow", limit=4096) == b"\0" * 4096
