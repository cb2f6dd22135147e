"""Workflows that travel, inside a real ComfyUI: one of ComfyUI's own templates is checked and fetched
through ComfyUI's server (its library's Hub is a loopback one serving synthetic files at the template's
paths), and ComfyUI's own loaders then list every model, without a restart."""

from __future__ import annotations

import json
from typing import Any

from tests.core.workflows.test_fetch import template, without_hashes
from tests.host.conftest import GUARD_HEADERS, HOST_TEMPLATE, PLUGIN_FOLDER_MODEL, ComfyUI
from tests.host.test_comfyui import API, combo, import_through_api, model_named, wait_for


def run_fetch(comfyui: ComfyUI, workflow: dict[str, Any]) -> dict[str, Any]:
    with comfyui.client() as client:
        answer = client.post(f"{API}/workflows/fetch", json={"workflow": workflow}, headers=GUARD_HEADERS)
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["job"]["id"]

        def finished() -> dict[str, Any] | None:
            job = client.get(f"{API}/jobs/{job_id}").json()
            return job if job["state"] in ("done", "failed", "cancelled") else None

        job = wait_for(finished, f"workflow fetch job {job_id}", timeout=90)
    assert job["state"] == "done", job
    return dict(job["result"])


def check(comfyui: ComfyUI, workflow: dict[str, Any]) -> list[dict[str, Any]]:
    with comfyui.client() as client:
        answer = client.post(f"{API}/workflows/check", json={"workflow": workflow}, headers=GUARD_HEADERS)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def test_a_template_is_fetched_and_comfyuis_loaders_list_every_model(comfyui: ComfyUI, host_hub: Any) -> None:
    workflow = without_hashes(template(HOST_TEMPLATE))
    before = check(comfyui, workflow)
    assert before and {i["status"] for i in before} == {"downloadable"}, json.dumps(before)[:2000]

    result = run_fetch(comfyui, workflow)
    assert result["available"] is True, json.dumps(result)[:3000]
    assert {i["outcome"] for i in result["items"]} == {"downloaded"}

    # ComfyUI's own loaders list each name the template asks for (no restart, no yaml written).
    inputs = {
        "VAELoader": ["vae_name"],
        "UNETLoader": ["unet_name"],
        "DualCLIPLoader": ["clip_name1", "clip_name2"],
    }
    for item in result["items"]:
        node, widget = item["node_type"], item["input_name"]
        assert widget in inputs[node], item
        wait_for(lambda: item["name"] in combo(comfyui, node, widget) or None, f"{item['name']} in {node}")
    after = check(comfyui, workflow)
    assert {i["status"] for i in after} == {"present"}, after
    # ComfyUI searches a view folder of the library for each category the template uses (registered
    # live: the legacy yaml block named only loras and checkpoints, and it was given back at start).
    for category in {i["category"] for i in result["items"]}:
        assert view_folder_in(comfyui, category), category
    assert not (comfyui.install / "extra_model_paths.yaml").read_bytes().count(b"comfyui_model_library")


def test_a_library_model_under_another_name_is_linked_by_hash(comfyui: ComfyUI, host_hub: Any) -> None:
    import_through_api(comfyui, "sdxl_lora_unet_only", "workflow-host-detail.safetensors")
    model = model_named(comfyui, "workflow-host-detail")
    wanted = "shared/detail_from_a_friend.safetensors"
    workflow = {
        "nodes": [
            {
                "id": 3,
                "type": "LoraLoaderModelOnly",
                "widgets_values": [wanted, 0.8],
                "properties": {
                    "models": [
                        {
                            "name": wanted,
                            "directory": "loras",
                            "hash": model["hashes"]["sha256"],
                            "hash_type": "SHA256",
                        }
                    ]
                },
            }
        ],
        "links": [],
    }
    assert [i["status"] for i in check(comfyui, workflow)] == ["in_library"]
    requests = len(host_hub.requests)
    result = run_fetch(comfyui, workflow)
    (item,) = result["items"]
    assert item["outcome"] == "linked" and item["model"]["id"] == model["id"], item
    assert len(host_hub.requests) == requests  # no download: the bytes were here
    wait_for(lambda: wanted in combo(comfyui, "LoraLoaderModelOnly", "lora_name") or None, "the linked name")


def test_a_custom_nodes_loader_counts_inside_comfyui(comfyui: ComfyUI) -> None:
    """Its inputs are read from the running ComfyUI (not in our table of core loaders): its model is
    found, and ComfyUI lists it."""
    from tests.host.conftest import PRE_EXISTING_LORA

    name = f"{PRE_EXISTING_LORA}.safetensors"
    workflow = {
        "nodes": [{"id": 5, "type": "HostTierCustomLoader", "widgets_values": [0.5, name]}],
        "links": [],
    }
    (item,) = check(comfyui, workflow)
    assert (item["node_type"], item["input_name"], item["category"]) == (
        "HostTierCustomLoader",
        "my_lora",
        "loras",
    )
    assert item["name"] == name and item["status"] == "present"


def test_a_file_only_comfyuis_lists_know_is_present_for_the_check_and_the_fetch(
    comfyui: ComfyUI, host_hub: Any
) -> None:
    """A folder another plugin registered with folder_paths at run time (not in the install's folders nor
    in its yaml): inside ComfyUI "present" is ComfyUI's own list, for the fetch as for the check."""
    workflow = {
        "nodes": [{"id": 9, "type": "UpscaleModelLoader", "widgets_values": [PLUGIN_FOLDER_MODEL]}],
        "links": [],
    }
    assert PLUGIN_FOLDER_MODEL in combo(comfyui, "UpscaleModelLoader", "model_name")
    (item,) = check(comfyui, workflow)
    assert (item["category"], item["status"]) == ("upscale_models", "present"), item
    requests = len(host_hub.requests)
    result = run_fetch(comfyui, workflow)
    assert [i["outcome"] for i in result["items"]] == ["present"], json.dumps(result)[:2000]
    assert result["available"] is True
    assert len(host_hub.requests) == requests


def test_a_link_into_a_category_no_view_had_is_listed_without_a_restart(comfyui: ComfyUI) -> None:
    """Linked by hash into ``model_patches`` (a category of 0.3.64 that no mapping rule uses, so ComfyUI
    had no view folder of ours there): the fetch's ``mapped:workflow`` event makes the host add it."""
    import_through_api(comfyui, "wan_lora", "workflow-host-patch.safetensors")  # bytes no other test uses
    model = model_named(comfyui, "workflow-host-patch")
    assert not view_folder_in(comfyui, "model_patches")
    wanted = "patches/patch_from_a_friend.safetensors"
    entry = {
        "name": wanted,
        "directory": "model_patches",
        "hash": model["hashes"]["sha256"],
        "hash_type": "SHA256",
    }
    workflow = {
        "nodes": [
            {
                "id": 4,
                "type": "ModelPatchLoader",
                "widgets_values": [wanted],
                "properties": {"models": [entry]},
            }
        ],
        "links": [],
    }
    result = run_fetch(comfyui, workflow)
    assert [i["outcome"] for i in result["items"]] == ["linked"], json.dumps(result)[:2000]
    wait_for(lambda: wanted in combo(comfyui, "ModelPatchLoader", "name") or None, wanted)
    assert view_folder_in(comfyui, "model_patches")
    assert [i["status"] for i in check(comfyui, workflow)] == ["present"]


def view_folder_in(comfyui: ComfyUI, category: str) -> bool:
    """ComfyUI searches a folder of the library (a view) for ``category``."""
    with comfyui.client() as client:
        folders = {f["name"]: f["folders"] for f in client.get("/api/experiment/models").json()}
    return any(f.startswith(str(comfyui.library)) for f in folders[category])
