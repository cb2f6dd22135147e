"""Fetching a workflow's models end to end: a REAL library, a mapped ComfyUI folder, the real Hub client
against a loopback Hub that serves synthetic files at the paths ComfyUI's own templates name.

What a user sees: after ``fetch`` every loader's name is listed by the install (its folders, as ComfyUI
reads them), the library holds each file once, a hash that does not match is refused and leaves nothing
behind, and nothing of the user's is replaced.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.errors import InvalidInput
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.mapping.comfyui import read_install
from comfyui_model_library.core.workflows import workflow_from_json
from comfyui_model_library.core.workflows.fetch import Outcome, WorkflowFetch
from comfyui_model_library.core.workflows.resolve import RefStatus
from comfyui_model_library.core.workflows.resolve_listing import InstallListing
from tests import synth
from tests.hub_server import HubFile, HubRepo, HubServer
from tests.invariants import check_library_invariants

from .test_templates import TEMPLATES

# A real family per category (tensor names a detector recognises); other categories get any tensors.
FAMILY = {
    "checkpoints": "sd15_checkpoint",
    "diffusion_models": "flux1_dev_diffusion",
    "text_encoders": "t5xxl",
    "vae": "vae_flux",
    "loras": "flux_lora_peft",
    "clip_vision": "clip_vision_vit_l",
    "controlnet": "controlnet_flux_xlabs",
    "style_models": "style_model_flux_redux",
}
SAMPLE = [
    "flux_dev_checkpoint_example.json",  # one checkpoint, top-level models entry
    "image_qwen_image.json",  # diffusion model, text encoder, vae, lora, in a subgraph
    "video_wan2_2_14B_t2v.json",  # two diffusion models, loras, a text encoder, a vae
    "image_flux2_text_to_image.json",
]


def synthetic(category: str, name: str) -> bytes:
    """Small safetensors of the category's family, made unique by the name (one model per file)."""
    family = synth.FAMILIES[FAMILY.get(category, "vae_flux")]
    return synth.safetensors_bytes(family["tensors"], {"workflow_test_name": name})


def template(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((TEMPLATES / name).read_text())
    return data


def models_entries(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every ``models`` entry of a UI workflow: top level, nodes, subgraph nodes."""
    found = list(data.get("models") or [])
    nodes = list(data.get("nodes") or [])
    for definition in (data.get("definitions") or {}).get("subgraphs") or []:
        nodes += definition.get("nodes") or []
    for node in nodes:
        found += (node.get("properties") or {}).get("models") or []
    return [e for e in found if isinstance(e, dict) and e.get("url")]


def hub_for(workflows: list[dict[str, Any]]) -> HubServer:
    """A loopback Hub holding a synthetic file at every Hub path the workflows' entries name."""
    repos: dict[str, dict[str, HubFile]] = {}
    for data in workflows:
        for entry in models_entries(data):
            parts = urlsplit(entry["url"]).path.split("/")
            repo, path = "/".join(parts[1:3]), unquote("/".join(parts[5:]))
            repos.setdefault(repo, {})[path] = HubFile(path, data=synthetic(entry["directory"], path))
    return HubServer([HubRepo(repo, files) for repo, files in repos.items()])


def without_hashes(data: dict[str, Any]) -> dict[str, Any]:
    """The template with its SHA256s taken out (a synthetic file cannot have the real model's hash)."""
    data = copy.deepcopy(data)
    for entry in models_entries(data):
        entry.pop("hash", None)
        entry.pop("hash_type", None)
    return data


def serving(names: list[str]) -> Iterator[HubServer]:
    """A started loopback Hub holding the models of these templates (for fixtures: ``yield from``)."""
    server = hub_for([template(name) for name in names])
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def hub() -> Iterator[HubServer]:
    yield from serving(SAMPLE)


@pytest.fixture
def comfy(tmp_path: Path) -> Path:
    return synth.comfyui_install(tmp_path / "ComfyUI", "checkpoints", "loras", "vae")


@pytest.fixture
def lib(tmp_path: Path, hub: HubServer, comfy: Path) -> Iterator[Library]:
    config = load_config(
        tmp_path / "library", hf_endpoint=hub.url, import_roots=(tmp_path / "incoming",), comfyui_root=comfy
    )
    library = Library.open(config)
    library.mapping.apply(comfy)
    try:
        yield library
    finally:
        library.close()


def listed(comfy: Path) -> InstallListing:
    """What the install lists per category, read as ComfyUI reads its folders and extra_model_paths.yaml."""
    return InstallListing(read_install(comfy))


def resolve_gets(hub: HubServer) -> list[str]:
    return [p for m, p, _ in hub.requests if m == "GET" and "/cdn/" in p]


def import_file(lib: Library, tmp_path: Path, name: str, data: bytes) -> Any:
    folder = tmp_path / "incoming"
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(data)
    (item,) = lib.imports.import_paths([folder / name], lookup=False)
    assert item.model is not None, item
    return item.model


@pytest.mark.parametrize("name", SAMPLE)
def test_a_template_is_fetched_end_to_end_and_every_loader_lists_its_model(
    name: str, lib: Library, hub: HubServer, comfy: Path
) -> None:
    workflow = workflow_from_json(without_hashes(template(name)))
    before = lib.workflows.check(workflow)
    assert before.items and all(r.status is RefStatus.DOWNLOADABLE for r in before.items), before.to_dict()

    result = lib.workflows.fetch(workflow)

    assert result.available, json.dumps(result.to_dict(), indent=1)[:3000]
    assert {i.outcome for i in result.items} == {Outcome.DOWNLOADED}
    listing = listed(comfy)
    for item in result.items:
        ref = item.resolution.reference
        assert ref.name in listing(ref.category), (ref.category, ref.name, sorted(listing(ref.category)))
    after = lib.workflows.check(workflow, listing=listing)
    assert {r.status for r in after.items} == {RefStatus.PRESENT}
    # One download per distinct file, each once in the library.
    distinct = {(i.resolution.download.url if i.resolution.download else "") for i in result.items}
    assert len(resolve_gets(hub)) == len(distinct)
    assert lib.catalog.list_models(_all()).total == len(distinct)
    check_library_invariants(lib.config.root)
    # Again: nothing to do, nothing downloaded.
    again = lib.workflows.fetch(workflow)
    assert again.available and len(resolve_gets(hub)) == len(distinct)


def _all() -> Any:
    from comfyui_model_library.core.models import ModelQuery

    return ModelQuery(limit=500)


def test_a_model_held_under_another_name_is_linked_by_hash_without_a_download(
    lib: Library, hub: HubServer, comfy: Path, tmp_path: Path
) -> None:
    data = synthetic("loras", "mine")
    model = import_file(lib, tmp_path, "my_favourite_detail.safetensors", data)
    workflow = workflow_from_json(
        {
            "nodes": [
                {
                    "id": 7,
                    "type": "LoraLoaderModelOnly",
                    "widgets_values": ["SDXL/detail_v2.safetensors", 1.0],
                    "properties": {
                        "models": [
                            {
                                "name": "SDXL/detail_v2.safetensors",
                                "directory": "loras",
                                "hash": hashlib.sha256(data).hexdigest().upper(),
                                "hash_type": "SHA256",
                                "url": "https://huggingface.co/nobody/nothing/resolve/main/detail_v2.safetensors",
                            }
                        ]
                    },
                }
            ],
            "links": [],
        }
    )
    result = lib.workflows.fetch(workflow)
    (item,) = result.items
    assert item.outcome is Outcome.LINKED and item.model is not None and item.model.id == model.id
    assert item.comfyui_name == "SDXL/detail_v2.safetensors"
    assert "SDXL/detail_v2.safetensors" in listed(comfy)("loras")
    assert not hub.requests  # no network at all
    view = (
        Path(lib.config.root) / "views" / read_install(comfy).id / "loras" / "SDXL" / "detail_v2.safetensors"
    )
    assert view.is_symlink() and view.read_bytes() == data
    # The model's detail tells the panel every name the install lists it under.
    names = lib.catalog.model_detail(model.id)["comfyui_names"]
    install = read_install(comfy).id
    assert {"install": install, "category": "loras", "name": "SDXL/detail_v2.safetensors"} in names
    assert {"install": install, "category": "loras", "name": "my_favourite_detail.safetensors"} in names
    # The library still holds it once, under its own name; health sees the link as ours.
    assert lib.catalog.list_models(_all()).total == 1
    assert lib.health.check().status == "healthy", lib.health.check().to_dict()
    # Removing the model takes the workflow's name away with it.
    lib.catalog.remove_model(model.id)
    assert not os.path.lexists(view)


def test_a_hub_file_with_other_bytes_than_the_workflows_hash_is_refused_before_download(
    lib: Library, hub: HubServer, comfy: Path
) -> None:
    data = without_hashes(template("flux_dev_checkpoint_example.json"))
    entries = models_entries(data)
    for entry in entries:
        entry.update(hash="ab" * 32, hash_type="SHA256")
    entry = entries[0]
    result = lib.workflows.fetch(workflow_from_json(data))
    assert result.items and not result.available
    for item in result.items:
        assert item.outcome is Outcome.REFUSED and item.error_code == "hash_mismatch", item.to_dict()
        assert "not downloaded" in (item.error or "")
    assert not resolve_gets(hub)  # the Hub's LFS sha256 said so: no byte was fetched
    assert lib.catalog.list_models(_all()).total == 0
    assert entry["name"] not in listed(comfy)(entry["directory"])


def test_bytes_that_arrive_other_than_the_workflows_hash_are_deleted_and_kept_out(
    lib: Library, hub: HubServer, comfy: Path, tmp_path: Path
) -> None:
    # A small file kept in git (no LFS oid to compare first): the check happens on the received bytes.
    small = synth.safetensors_bytes({"w": ("F16", (4,))}, {"n": "tiny"})
    hub.add(HubRepo("acme/tiny", {"tiny.safetensors": HubFile("tiny.safetensors", data=small, lfs=False)}))
    workflow = {
        "nodes": [{"id": 1, "type": "VAELoader", "widgets_values": ["tiny.safetensors"]}],
        "models": [
            {
                "name": "tiny.safetensors",
                "directory": "vae",
                "url": "https://huggingface.co/acme/tiny/resolve/main/tiny.safetensors",
                "hash": "cd" * 32,
                "hash_type": "SHA256",
            }
        ],
        "links": [],
    }
    result = lib.workflows.fetch(workflow_from_json(workflow))
    (item,) = result.items
    assert item.outcome is Outcome.REFUSED, item.to_dict()
    assert "deleted" in (item.error or "")
    assert lib.catalog.list_models(_all()).total == 0
    leftovers = [p for p in (lib.config.tmp_dir / "downloads").rglob("*") if p.is_file()]
    assert not [p for p in leftovers if p.name.endswith(".safetensors")], leftovers


def test_a_hash_without_a_url_is_found_on_the_hub_by_sha256(
    lib: Library, hub: HubServer, comfy: Path
) -> None:
    data = synthetic("vae", "found-by-hash")
    sha = hashlib.sha256(data).hexdigest()
    decoy = synthetic("vae", "same name, other bytes")
    hub.add(
        HubRepo(
            "someone/ultraflux-vae-old",
            {"ultraflux_vae.safetensors": HubFile("ultraflux_vae.safetensors", data=decoy)},
        )
    )
    hub.add(
        HubRepo(
            "someone/ultraflux-vae",
            {"vae/ultraflux_vae.safetensors": HubFile("vae/ultraflux_vae.safetensors", data=data)},
        )
    )
    workflow = {
        "nodes": [{"id": 3, "type": "VAELoader", "widgets_values": ["ultraflux_vae.safetensors"]}],
        "models": [
            {"name": "ultraflux_vae.safetensors", "directory": "vae", "hash": sha, "hash_type": "SHA256"}
        ],
        "links": [],
    }
    check = lib.workflows.check(workflow_from_json(workflow))
    assert check.items[0].status is RefStatus.MISSING and not hub.requests  # a check asks no network
    result = lib.workflows.fetch(workflow_from_json(workflow))
    (item,) = result.items
    assert item.outcome is Outcome.DOWNLOADED, item.to_dict()
    assert item.model is not None and item.model.hashes.sha256 == sha
    assert item.model.source.repo_id == "someone/ultraflux-vae"
    assert "ultraflux_vae.safetensors" in listed(comfy)("vae")
    # A hash nobody has: it stays missing, with no download.
    workflow["models"][0]["hash"] = "ef" * 32
    workflow["nodes"][0]["widgets_values"] = ["ultraflux_vae_v2.safetensors"]
    workflow["models"][0]["name"] = "ultraflux_vae_v2.safetensors"
    gets = len(resolve_gets(hub))
    (item,) = lib.workflows.fetch(workflow_from_json(workflow)).items
    assert item.outcome is Outcome.PICK and len(resolve_gets(hub)) == gets


def test_a_file_the_hub_lacks_stays_missing_with_its_candidates_and_a_pick_links_it(
    lib: Library, hub: HubServer, comfy: Path, tmp_path: Path
) -> None:
    mine = import_file(lib, tmp_path, "flux1-dev-fp8.safetensors", synthetic("diffusion_models", "mine"))
    workflow = {
        "nodes": [
            {"id": 9, "type": "UNETLoader", "widgets_values": ["flux1-krea-dev.safetensors", "default"]}
        ],
        "links": [],
    }
    result = lib.workflows.fetch(workflow_from_json(workflow))
    (item,) = result.items
    assert item.outcome is Outcome.PICK and not result.available
    assert [c.model.id for c in item.resolution.candidates] == [mine.id]
    choice = {("9", "flux1-krea-dev.safetensors"): mine.id}
    picked = lib.workflows.fetch(workflow_from_json(workflow), choices=choice)
    (item,) = picked.items
    assert item.outcome is Outcome.LINKED and picked.available
    assert "flux1-krea-dev.safetensors" in listed(comfy)("diffusion_models")
    bad = lib.workflows.fetch(
        workflow_from_json(workflow), choices={("9", "flux1-krea-dev.safetensors"): "nope"}
    )
    assert bad.items[0].outcome is Outcome.PRESENT  # listed now: a stale pick changes nothing


def test_a_template_file_the_hub_lacks_is_missing_with_the_librarys_candidates(
    lib: Library, hub: HubServer, comfy: Path, tmp_path: Path
) -> None:
    data = without_hashes(template("flux_dev_checkpoint_example.json"))
    unet = next(e for e in models_entries(data) if e["name"] == "flux1-dev.safetensors")
    repo = hub.repos[unet["url"].split("/")[3] + "/" + unet["url"].split("/")[4]]
    del repo.files["flux1-dev.safetensors"]  # taken down from the Hub since the template was made
    mine = import_file(
        lib, tmp_path, "flux1-dev-fp8-e4m3fn.safetensors", synthetic("diffusion_models", "fp8")
    )
    result = lib.workflows.fetch(workflow_from_json(data))
    items = {i.resolution.reference.name: i for i in result.items}
    lost = items["flux1-dev.safetensors"]
    assert lost.outcome is Outcome.PICK and lost.error_code == "not_found", lost.to_dict()
    assert lost.resolution.status is RefStatus.MISSING
    assert [c.model.id for c in lost.resolution.candidates][:1] == [mine.id]
    assert lost.to_dict()["candidates"][0]["id"] == mine.id
    others = [i for name, i in items.items() if name != "flux1-dev.safetensors"]
    assert others and all(i.outcome is Outcome.DOWNLOADED for i in others)
    assert not result.available


def test_names_that_lead_outside_and_files_of_the_user_are_left_alone(
    lib: Library, comfy: Path, tmp_path: Path
) -> None:
    data = synthetic("loras", "x")
    model = import_file(lib, tmp_path, "x.safetensors", data)
    sha = hashlib.sha256(data).hexdigest()
    names = ["../../../../escaped.safetensors", "/etc/evil.safetensors", "a/../../b.safetensors"]
    workflow: dict[str, Any] = {"nodes": [], "links": [], "models": []}
    for i, name in enumerate(names):
        workflow["nodes"].append({"id": i + 1, "type": "LoraLoaderModelOnly", "widgets_values": [name, 1.0]})
        workflow["models"].append({"name": name, "directory": "loras", "hash": sha, "hash_type": "SHA256"})
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    result = lib.workflows.fetch(workflow_from_json(workflow))
    assert result.items and all(i.outcome is Outcome.FAILED for i in result.items), result.to_dict()
    created = sorted(set(str(p) for p in tmp_path.rglob("*")) - set(before))
    assert not [p for p in created if "escaped" in p or "evil" in p or p.endswith("b.safetensors")]
    assert model.id  # still there

    # A user's own file at the name the workflow wants (direct mode writes into models/): never replaced.
    direct = synth.comfyui_install(tmp_path / "Direct", "loras")
    lib.mapping.set_config({**lib.mapping.get_config(), "mode": "direct"})
    lib.mapping.apply(direct)
    theirs = direct / "models" / "loras" / "wanted.safetensors"
    theirs.mkdir()  # a folder of the user's with that name (a file would be listed: ComfyUI would use it)
    (theirs / "notes.txt").write_text("the user's own")
    one = {
        "nodes": [{"id": 1, "type": "LoraLoaderModelOnly", "widgets_values": ["wanted.safetensors", 1.0]}],
        "models": [{"name": "wanted.safetensors", "directory": "loras", "hash": sha, "hash_type": "SHA256"}],
        "links": [],
    }
    result = lib.workflows.fetch(workflow_from_json(one), comfyui_dir=direct)
    (item,) = result.items
    assert item.outcome is Outcome.FAILED and "not ours" in (item.error or ""), item.to_dict()
    assert (theirs / "notes.txt").read_text() == "the user's own" and not theirs.is_symlink()


def test_an_install_that_is_not_mapped_is_refused_with_how_to_map_it(lib: Library, tmp_path: Path) -> None:
    other = synth.comfyui_install(tmp_path / "Other", "loras")
    workflow = workflow_from_json({"nodes": [], "links": []})
    with pytest.raises(InvalidInput, match="model-library map apply --comfyui"):
        lib.workflows.fetch(workflow, comfyui_dir=other)


def test_a_category_no_rule_names_joins_the_view_section_and_unmapping_takes_the_names_away(
    lib: Library, hub: HubServer, comfy: Path, tmp_path: Path
) -> None:
    data = synthetic("latent_upscale_models", "upscaler")
    import_file(lib, tmp_path, "ltx-upscaler.safetensors", data)
    workflow = {
        "nodes": [],
        "models": [
            {
                "name": "ltxv-spatial-upscaler-0.9.7.safetensors",
                "directory": "latent_upscale_models",
                "hash": hashlib.sha256(data).hexdigest(),
                "hash_type": "SHA256",
            }
        ],
        "links": [],
    }
    result: WorkflowFetch = lib.workflows.fetch(workflow_from_json(workflow))
    (item,) = result.items
    assert item.outcome is Outcome.LINKED, item.to_dict()
    yaml_text = (comfy / "extra_model_paths.yaml").read_text()
    assert "latent_upscale_models" in yaml_text
    assert "ltxv-spatial-upscaler-0.9.7.safetensors" in listed(comfy)("latent_upscale_models")
    assert lib.health.check().status == "healthy"
    # Re-applying the mapping keeps the category and the link; unmapping takes both away.
    lib.mapping.apply(comfy)
    assert "latent_upscale_models" in (comfy / "extra_model_paths.yaml").read_text()
    assert "ltxv-spatial-upscaler-0.9.7.safetensors" in listed(comfy)("latent_upscale_models")
    lib.mapping.unmap(comfy)
    views = Path(lib.config.root) / "views"
    assert not [p for p in views.rglob("*") if p.is_symlink()]
    yaml_file = comfy / "extra_model_paths.yaml"
    assert not yaml_file.exists() or "comfyui_model_library" not in yaml_file.read_text()


@pytest.mark.parametrize("category", ["on", "off", "yes", "no", "true", "null", "y"])
def test_a_category_yaml_reads_as_a_boolean_never_reaches_the_section(
    lib: Library, comfy: Path, tmp_path: Path, category: str
) -> None:
    """ComfyUI reads extra_model_paths.yaml with PyYAML (YAML 1.1): a key `on` is True, and ComfyUI would
    not start ('bool' object has no attribute 'split')."""
    data = synthetic("vae", f"yaml-{category}")
    import_file(lib, tmp_path, f"yaml_{category}.safetensors", data)
    workflow = {
        "nodes": [],
        "models": [
            {
                "name": "x.safetensors",
                "directory": category,
                "hash": hashlib.sha256(data).hexdigest(),
                "hash_type": "SHA256",
            }
        ],
        "links": [],
    }
    before = (comfy / "extra_model_paths.yaml").read_bytes()
    (item,) = lib.workflows.fetch(workflow_from_json(workflow)).items
    assert item.outcome is Outcome.FAILED and "not a model folder name" in (item.error or ""), item.to_dict()
    assert (comfy / "extra_model_paths.yaml").read_bytes() == before


def test_a_name_many_folders_deep_is_refused(lib: Library, comfy: Path, tmp_path: Path) -> None:
    data = synthetic("vae", "deep")
    import_file(lib, tmp_path, "deep.safetensors", data)
    deep = "/".join(["d"] * 200) + "/ae.safetensors"
    workflow = {
        "nodes": [],
        "models": [
            {
                "name": deep,
                "directory": "vae",
                "hash": hashlib.sha256(data).hexdigest(),
                "hash_type": "SHA256",
            }
        ],
        "links": [],
    }
    (item,) = lib.workflows.fetch(workflow_from_json(workflow)).items
    assert item.outcome is Outcome.FAILED and "folders deep" in (item.error or ""), item.to_dict()
    assert not [p for p in (Path(lib.config.root) / "views").rglob("d") if p.is_dir()]
