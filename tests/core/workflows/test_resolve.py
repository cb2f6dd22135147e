"""Resolution of a workflow's references against a REAL library, a ComfyUI folder and the host policy.

Data: ComfyUI's own templates (``comfyui-workflow-templates-json``) and synthetic model files with real
tensor layouts (tests/synth.py), imported through the library's importer.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import Model
from comfyui_model_library.core.workflows import read_workflow_file, workflow_from_json
from comfyui_model_library.core.workflows.resolve import RefAction, RefStatus, Resolution, WorkflowCheck
from comfyui_model_library.core.workflows.resolve_download import parse_hub_url
from tests import synth

from .test_templates import TEMPLATES, WORKFLOWS

FLUX = TEMPLATES / "flux_dev_checkpoint_example.json"


@pytest.fixture
def lib(tmp_path: Path) -> Iterator[Library]:
    library = Library.open(load_config(tmp_path / "library", import_roots=(tmp_path / "incoming",)))
    try:
        yield library
    finally:
        library.close()


def add(lib: Library, tmp_path: Path, file_name: str, family: str) -> Model:
    folder = tmp_path / "incoming"
    folder.mkdir(exist_ok=True)
    path = synth.write_family(folder / file_name, family)
    (item,) = lib.imports.import_paths([path], lookup=False)
    assert item.model is not None, item
    return item.model


def flux() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FLUX.read_text())
    return data


def by_name(check: WorkflowCheck, name: str) -> Resolution:
    (found,) = [r for r in check.items if r.reference.name == name]
    return found


def loader(data: dict[str, Any], node_type: str) -> dict[str, Any]:
    nodes = list(data["nodes"])
    for definition in (data.get("definitions") or {}).get("subgraphs") or []:
        nodes += definition["nodes"]
    (node,) = [n for n in nodes if n["type"] == node_type]
    return node


def test_the_template_against_an_empty_library_is_all_downloadable_from_the_hub(lib: Library) -> None:
    check = lib.workflows.check(read_workflow_file(FLUX))
    assert [r.status for r in check.items] == [RefStatus.DOWNLOADABLE] * len(check.items)
    assert len(check.items) >= 3 and not check.available
    unet = by_name(check, "flux1-dev.safetensors")
    assert unet.action is RefAction.DOWNLOAD and unet.download is not None
    assert unet.download.to_dict() == {
        "url": "https://huggingface.co/Comfy-Org/flux1-dev/resolve/main/flux1-dev.safetensors",
        "repo_id": "Comfy-Org/flux1-dev",
        "revision": "main",
        "filename": "flux1-dev.safetensors",
    }


def test_a_model_held_under_another_name_resolves_by_its_sha256(lib: Library, tmp_path: Path) -> None:
    model = add(lib, tmp_path, "my_renamed_unet.safetensors", "flux1_dev_diffusion")
    data = flux()
    entry = loader(data, "UNETLoader")["properties"]["models"][0]
    entry.update(hash=model.hashes.sha256.upper(), hash_type="SHA256")
    check = lib.workflows.check(workflow_from_json(data))
    unet = by_name(check, "flux1-dev.safetensors")
    assert (unet.status, unet.action, unet.match) == (RefStatus.IN_LIBRARY, RefAction.LINK, "hash")
    assert unet.model is not None and unet.model.id == model.id and unet.download is None
    # A hash the library does not hold: the url still offers the download (never the renamed model).
    entry.update(hash="0" * 64)
    unet = by_name(lib.workflows.check(workflow_from_json(data)), "flux1-dev.safetensors")
    assert unet.status is RefStatus.DOWNLOADABLE and unet.model is None


def test_exact_file_name_then_a_confirmed_name_match(lib: Library, tmp_path: Path) -> None:
    vae = add(lib, tmp_path, "ae.safetensors", "vae_flux")
    fp8 = add(lib, tmp_path, "flux1-dev-fp8.safetensors", "flux1_dev_fp8_diffusion")
    check = lib.workflows.check(read_workflow_file(FLUX))
    ae = by_name(check, "ae.safetensors")
    assert (ae.status, ae.match, ae.model and ae.model.id) == (RefStatus.IN_LIBRARY, "file_name", vae.id)
    # flux1-dev-fp8 is flux1-dev in another precision, a diffusion model of the workflow's base (flux1).
    unet = by_name(check, "flux1-dev.safetensors")
    assert (unet.status, unet.match, unet.model and unet.model.id) == (RefStatus.IN_LIBRARY, "name", fp8.id)


def test_a_name_match_of_another_type_is_not_taken(lib: Library, tmp_path: Path) -> None:
    add(lib, tmp_path, "flux1-dev.safetensors", "flux_lora_kohya")  # a LoRA under the checkpoint's name
    unet = by_name(lib.workflows.check(read_workflow_file(FLUX)), "flux1-dev.safetensors")
    assert unet.status is RefStatus.DOWNLOADABLE and unet.model is None


def test_present_when_comfyui_lists_the_name_legacy_folders_included(lib: Library, tmp_path: Path) -> None:
    comfy = synth.comfyui_install(tmp_path / "ComfyUI", "vae", "clip", "diffusion_models")
    (comfy / "main.py").write_text("")
    synth.write_family(comfy / "models" / "vae" / "ae.safetensors", "vae_flux")
    check = lib.workflows.check(read_workflow_file(FLUX), comfyui_dir=comfy)
    names = {r.reference.name: r.status for r in check.items}
    encoders = [r for r in check.items if r.reference.category == "text_encoders"]
    assert names["ae.safetensors"] is RefStatus.PRESENT and encoders
    assert all(r.status is RefStatus.DOWNLOADABLE for r in encoders)
    for r in encoders:  # ComfyUI lists models/clip under text_encoders
        synth.write_family(comfy / "models" / "clip" / r.reference.name, "clip_l")
    synth.write_family(comfy / "models" / "diffusion_models" / "flux1-dev.safetensors", "flux1_dev_diffusion")
    check = lib.workflows.check(read_workflow_file(FLUX), comfyui_dir=comfy)
    assert [r.status for r in check.items] == [RefStatus.PRESENT] * len(check.items) and check.available


def test_missing_with_candidates_and_why(lib: Library, tmp_path: Path) -> None:
    fp8 = add(lib, tmp_path, "flux1-dev-fp8.safetensors", "flux1_dev_fp8_diffusion")
    data = flux()
    node = loader(data, "UNETLoader")
    node["properties"].pop("models")
    node["widgets_values"][0] = "flux1-dev-v2-experimental.safetensors"
    data.pop("models", None)
    unet = by_name(lib.workflows.check(workflow_from_json(data)), "flux1-dev-v2-experimental.safetensors")
    assert (unet.status, unet.action) == (RefStatus.MISSING, RefAction.PICK)
    assert unet.reason == "the workflow gives no url or hash for it"
    assert [c.model.id for c in unet.candidates] == [fp8.id] and 0.5 <= unet.candidates[0].score < 1


def test_urls_follow_the_host_policy_and_hf_endpoint(tmp_path: Path) -> None:
    config = load_config(tmp_path / "library", hf_endpoint="http://127.0.0.1:8765")
    data = flux()
    entry = loader(data, "VAELoader")["properties"]["models"][0]
    entry["url"] = "https://civitai.com/api/download/models/12345"
    with Library.open(config) as library:
        check = library.workflows.check(workflow_from_json(data))
    ae = by_name(check, "ae.safetensors")
    assert ae.status is RefStatus.MISSING and ae.reason and "only Hugging Face file addresses" in ae.reason
    unet = by_name(check, "flux1-dev.safetensors")
    assert unet.download is not None
    assert unet.download.url == "http://127.0.0.1:8765/Comfy-Org/flux1-dev/resolve/main/flux1-dev.safetensors"
    assert (
        unet.download.workflow_url
        == "https://huggingface.co/Comfy-Org/flux1-dev/resolve/main/flux1-dev.safetensors"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://huggingface.co/a/b/resolve/main/x/y.safetensors?download=true",
            ("a/b", "main", "x/y.safetensors"),
        ),
        ("https://hf.co/a/b/blob/v1.0/y.safetensors", ("a/b", "v1.0", "y.safetensors")),
        ("https://huggingface.co/a/b/resolve/refs%2Fpr%2F3/y.gguf", ("a/b", "refs/pr/3", "y.gguf")),
        ("https://huggingface.co/a/b/resolve/main/../../etc/passwd", None),
        ("https://huggingface.co.evil.tld/a/b/resolve/main/y.safetensors", None),
        ("https://huggingface.co/a/b/tree/main/y.safetensors", None),
        ("https://huggingface.co:8443/a/b/resolve/main/y.safetensors", None),
    ],
)
def test_hub_urls(url: str, expected: tuple[str, str, str] | None) -> None:
    hub = parse_hub_url(url)
    assert (hub and (hub.repo_id, hub.revision, hub.filename)) == expected


def test_every_template_checks_against_an_empty_library(lib: Library) -> None:
    """All ~660 templates: every reference gets a status; a Hub url is downloadable, no url is missing."""
    total = 0
    for path in WORKFLOWS:
        check = lib.workflows.check(read_workflow_file(path))
        for r in check.items:
            total += 1
            assert r.status in (RefStatus.DOWNLOADABLE, RefStatus.MISSING), (path.name, r)
            if r.reference.url and parse_hub_url(r.reference.url):
                assert r.status is RefStatus.DOWNLOADABLE, (path.name, r.reference)
            if r.status is RefStatus.MISSING:
                assert r.reason, (path.name, r.reference)
            json.dumps(r.to_dict())
    assert total >= 1000


def test_our_nodes_resolve_by_model_ref_and_need_no_link(lib: Library, tmp_path: Path) -> None:
    model = add(lib, tmp_path, "dreamy.safetensors", "sdxl_lora_kohya")
    api = {
        "1": {
            "class_type": "LibraryLoraLoader",
            "inputs": {"lora": f"whatever [{model.id[:8]}]", "model_ref": f"blake3:{model.hashes.blake3}"},
        }
    }
    check = lib.workflows.check(workflow_from_json(copy.deepcopy(api)))
    (item,) = check.items
    assert (item.status, item.action, item.match) == (RefStatus.IN_LIBRARY, RefAction.NONE, "hash")
    assert check.available


def test_a_hash_the_library_lacks_is_not_matched_by_name(lib: Library, tmp_path: Path) -> None:
    """Same file name, other bytes: not the model the workflow names; offered as a candidate only."""
    vae = add(lib, tmp_path, "ae.safetensors", "vae_flux")
    data = flux()
    entry = loader(data, "VAELoader")["properties"]["models"][0]
    entry.update(hash="ab" * 32, hash_type="SHA256")
    entry.pop("url")
    data.pop("models", None)
    ae = by_name(lib.workflows.check(workflow_from_json(data)), "ae.safetensors")
    assert (ae.status, ae.model) == (RefStatus.MISSING, None)
    assert ae.reason == "no model with this hash in the library, and the workflow gives no url"
    assert [(c.model.id, c.score) for c in ae.candidates] == [(vae.id, 1.0)]
