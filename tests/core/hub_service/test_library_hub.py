"""The library's HuggingFace side end to end: downloads land in the catalog like imports, lookups record
their origin, an unreachable Hub leaves a pending lookup. Real huggingface_hub/httpx, loopback Hub."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import blake3
import pytest

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.errors import NetworkError
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import ModelQuery
from tests import synth
from tests.hub_server import HubServer, make_repo
from tests.invariants import check_library_invariants


@pytest.fixture
def lora_bytes(tmp_path: Path) -> bytes:
    return synth.write_family(tmp_path / "lora.safetensors", "flux_lora_peft").read_bytes()


@pytest.fixture
def hub(tmp_path: Path, lora_bytes: bytes):
    synth.write_sharded_set(tmp_path / "t5", stem="model", n=2, style="hf")
    shard_files = {p.name: p.read_bytes() for p in sorted((tmp_path / "t5").iterdir()) if p.is_file()}
    pipe = synth.write_diffusers_folder(tmp_path / "pipe", "FluxPipeline")
    pipe_files = {
        p.relative_to(pipe).as_posix(): p.read_bytes() for p in sorted(pipe.rglob("*")) if p.is_file()
    }
    server = HubServer(
        [
            make_repo("acme/flux-style-lora", {"style.safetensors": lora_bytes, "README.md": b"# hi"}),
            make_repo("acme/t5", shard_files),
            make_repo("acme/flux-pipe", pipe_files),
        ]
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def lib(tmp_path: Path, hub: HubServer):
    library = Library.open(load_config(tmp_path / "library", hf_endpoint=hub.url))
    yield library
    library.close()


def test_download_single_file_enters_catalog_with_verified_source(lib: Library, lora_bytes: bytes) -> None:
    [item] = lib.hub.download("acme/flux-style-lora", ["style.safetensors"])
    assert item.status == "imported", item.error
    model = item.model
    assert model is not None
    assert model.hashes.sha256 == hashlib.sha256(lora_bytes).hexdigest()
    assert model.hashes.blake3 == blake3.blake3(lora_bytes).hexdigest()
    assert (model.type, model.base_model) == ("lora", "flux1")
    assert model.source.kind == "huggingface" and model.source.repo_id == "acme/flux-style-lora"
    assert model.source.match == "hash" and model.source.revision
    assert lib.catalog.model_file_path(model.id).read_bytes() == lora_bytes
    assert not list((lib.config.tmp_dir / "downloads").glob("*"))
    check_library_invariants(lib.config.root)
    # Downloading again: the same bytes are the same model.
    [again] = lib.hub.download("acme/flux-style-lora", ["style.safetensors"])
    assert again.status == "duplicate" and again.model is not None and again.model.id == model.id


def test_download_sharded_set_and_diffusers_folder_as_one_model_each(lib: Library) -> None:
    [shards] = lib.hub.download("acme/t5", ["model-00001-of-00002.safetensors"])
    assert shards.status == "imported", shards.error
    assert shards.model is not None and shards.model.format == "sharded-set"
    assert len([f for f in shards.model.files if f.path.endswith(".safetensors")]) == 2
    [pipe] = lib.hub.download("acme/flux-pipe")
    assert pipe.status == "imported", pipe.error
    assert pipe.model is not None and pipe.model.format == "diffusion-folder"
    assert pipe.model.base_model == "flux1"
    check_library_invariants(lib.config.root)


def test_lookup_by_hash_records_origin(lib: Library, tmp_path: Path, lora_bytes: bytes) -> None:
    src = tmp_path / "incoming" / "flux-style-lora_bf16.safetensors"
    src.parent.mkdir()
    src.write_bytes(lora_bytes)
    [item] = lib.imports.import_paths([src])
    assert item.model is not None
    candidates = lib.hub.lookup(lib.catalog.get_model(item.model.id))
    assert candidates and candidates[0].match == "hash" and candidates[0].confidence == 1.0
    model = lib.catalog.get_model(item.model.id)
    assert model.source.repo_id == "acme/flux-style-lora" and model.source.match == "hash"


def test_unreachable_hub_leaves_a_pending_lookup(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{random.randint(20000, 30000)}"  # nothing listens there
    src = synth.write_family(tmp_path / "detail_tweaker_xl.safetensors", "sdxl_lora_kohya")
    with Library.open(load_config(tmp_path / "library", hf_endpoint=dead)) as library:
        [item] = library.imports.import_paths([src])
        assert item.model is not None
        assert [p["model_id"] for p in library.hub.pending()] == [item.model.id]
        with pytest.raises(NetworkError):
            library.hub.lookup(library.catalog.get_model(item.model.id))
        pending = library.hub.pending()
        assert pending and pending[0]["attempts"] >= 1
        assert library.catalog.list_models(ModelQuery()).total == 1


def test_pending_lookups_are_retried_when_the_hub_answers_again(
    tmp_path: Path, hub: HubServer, lora_bytes: bytes
) -> None:
    import time

    src = tmp_path / "incoming" / "flux-style-lora_bf16.safetensors"
    src.parent.mkdir()
    src.write_bytes(lora_bytes)
    config = load_config(tmp_path / "library", hf_endpoint=hub.url, civitai_lookup=False)
    with Library.open(config) as library:
        [item] = library.imports.import_paths([src])  # queued as pending: no server loop ran yet
        assert library.hub.pending()
        library.hub.start_retry_loop(interval_s=0.2)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and library.catalog.get_model(item.model.id).source.match != "hash":
            time.sleep(0.1)
        assert library.catalog.get_model(item.model.id).source.repo_id == "acme/flux-style-lora"
        assert library.hub.pending() == []
