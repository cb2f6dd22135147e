"""Previews on a real library: found beside the user's files and in the file itself, picked by the user,
confined to ComfyUI's output folder, served as re-encoded WebP only, kept in the model's record."""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path

import pytest
from PIL import Image

from comfyui_model_library.core.catalog.sidecar import SIDECAR_NAME
from comfyui_model_library.core.errors import InvalidImage, InvalidInput, NotFound, UnsafePath
from comfyui_model_library.core.library import Library
from tests.synth import write_safetensors


def image_bytes(
    color: tuple[int, int, int] = (10, 200, 30), size: tuple[int, int] = (300, 200), fmt: str = "PNG"
) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, fmt)
    return out.getvalue()


def lora(folder: Path, name: str, seed: int, metadata: dict[str, str] | None = None) -> Path:
    return write_safetensors(
        folder / f"{name}.safetensors",
        {"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": ("F16", (4, 8 + seed))},
        {"seed": str(seed), **(metadata or {})},
    )


def imported(library: Library, path: Path) -> str:
    items = library.imports.import_paths([path], lookup=False)
    assert items[0].status == "imported", items[0]
    assert library.previews.wait_idle()
    return items[0].model.id  # type: ignore[union-attr]


def decoded(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    assert img.format == "WEBP"
    return img


def test_an_image_beside_the_imported_file_becomes_its_preview(library: Library, incoming: Path) -> None:
    path = lora(incoming, "detail", 1)
    (incoming / "detail.preview.png").write_bytes(image_bytes((255, 0, 0)))
    (incoming / "detail.png").write_bytes(image_bytes((0, 0, 255)))  # the more specific name wins
    model_id = imported(library, path)
    model = library.catalog.get_model(model_id)
    assert model.preview is not None and model.preview.source == "sidecar"
    full = library.previews.image(model_id)
    assert decoded(full.path.read_bytes()).getpixel((5, 5))[0] > 200  # red: the .preview.png
    thumb = decoded(library.previews.image(model_id, 256).path.read_bytes())
    assert max(thumb.size) == 256
    # Nothing was written into the user's folder; the preview lives in the model's own folder.
    assert sorted(p.name for p in incoming.iterdir()) == [
        "detail.png",
        "detail.preview.png",
        "detail.safetensors",
    ]
    assert full.path.parent.parent == library.catalog.model_dir(model)
    sidecar = json.loads((library.catalog.model_dir(model) / SIDECAR_NAME).read_text())
    assert sidecar["extras"]["preview"]["source"] == "sidecar"


def test_the_embedded_modelspec_thumbnail_is_used(library: Library, incoming: Path) -> None:
    uri = "data:image/jpeg;base64," + base64.b64encode(image_bytes(fmt="JPEG")).decode()
    model_id = imported(library, lora(incoming, "embedded", 2, {"modelspec.thumbnail": uri}))
    preview = library.catalog.get_model(model_id).preview
    assert preview is not None and preview.source == "embedded"


@pytest.mark.parametrize(
    "hostile",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        b"<html><script>alert(1)</script></html>",
        b"GIF89a" + b"\0" * 64,
        b"\x89PNG\r\n\x1a\n" + b"\0" * 40,  # a PNG signature and nothing usable behind it
    ],
)
def test_a_hostile_file_beside_the_model_is_no_preview(
    library: Library, incoming: Path, hostile: bytes
) -> None:
    path = lora(incoming, "hostile", 3)
    (incoming / "hostile.png").write_bytes(hostile)
    model_id = imported(library, path)
    assert library.catalog.get_model(model_id).preview is None
    with pytest.raises(NotFound):
        library.previews.image(model_id)


def test_a_symlinked_image_beside_the_file_is_not_followed(
    library: Library, incoming: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "elsewhere.png"
    secret.write_bytes(image_bytes())
    path = lora(incoming, "linked", 4)
    os.symlink(secret, incoming / "linked.png")
    model_id = imported(library, path)
    assert library.catalog.get_model(model_id).preview is None


def test_the_users_pick_wins_and_clearing_it_brings_the_automatic_one_back(
    library: Library, incoming: Path
) -> None:
    path = lora(incoming, "pick", 5)
    (incoming / "pick.png").write_bytes(image_bytes((0, 255, 0)))
    model_id = imported(library, path)
    first = library.catalog.get_model(model_id).preview
    picked = library.previews.set_image(model_id, image_bytes((0, 0, 255), fmt="WEBP"))
    assert picked.preview is not None and picked.preview.source == "user" and picked.preview.tag != first.tag  # type: ignore[union-attr]
    # An automatic source never replaces the user's pick.
    assert library.previews.discover_one(picked) is None
    assert library.catalog.get_model(model_id).preview == picked.preview
    cleared = library.previews.clear(model_id)
    assert cleared.preview is not None and cleared.preview.source == "sidecar"
    (incoming / "pick.png").unlink()
    assert library.previews.clear(model_id).preview is None
    with pytest.raises(InvalidImage):
        library.previews.set_image(model_id, b"<svg/>")
    assert library.catalog.get_model(model_id).preview is None  # a refused image changes nothing


def test_use_an_output_as_preview_is_confined_to_the_output_folder(
    library: Library, incoming: Path, tmp_path: Path
) -> None:
    output = tmp_path / "ComfyUI" / "output"
    (output / "sub").mkdir(parents=True)
    (output / "sub" / "ComfyUI_00001_.png").write_bytes(image_bytes())
    outside = tmp_path / "outside.png"
    outside.write_bytes(image_bytes())
    os.symlink(outside, output / "escape.png")
    model_id = imported(library, lora(incoming, "out", 6))
    set_ = library.previews.set_from_output(model_id, "sub/ComfyUI_00001_.png", output)
    assert set_.preview is not None and set_.preview.source == "output"
    for bad, error in (
        ("../outside.png", (UnsafePath, InvalidInput)),
        ("/etc/passwd", (UnsafePath, InvalidInput)),
        ("escape.png", (UnsafePath,)),
        ("sub", (InvalidImage,)),
        ("missing.png", (InvalidInput,)),
    ):
        with pytest.raises(error):
            library.previews.set_from_output(model_id, bad, output)
    with pytest.raises(InvalidInput):
        library.previews.set_from_output(model_id, "sub/ComfyUI_00001_.png", None)


def test_a_model_catalogued_in_place_keeps_its_preview_in_the_library(
    library: Library, tmp_path: Path
) -> None:
    folder = tmp_path / "ComfyUI" / "models" / "loras"
    folder.mkdir(parents=True)
    lora(folder, "inplace", 7)
    (folder / "inplace.jpg").write_bytes(image_bytes(fmt="JPEG"))
    before = sorted(p.name for p in folder.iterdir())
    library.sources.add(folder, read_only=True)
    library.sources.hash_pending()
    assert library.previews.wait_idle()
    model = next(m for m in library.repo.iter_all() if m.name == "inplace")
    assert model.location == "source" and model.preview is not None and model.preview.source == "sidecar"
    found = library.previews.image(model.id, 512)
    assert library.config.root in found.path.parents
    assert sorted(p.name for p in folder.iterdir()) == before
