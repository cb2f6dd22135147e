from __future__ import annotations

import hashlib

import pytest

from comfyui_model_library.core.errors import NetworkError
from comfyui_model_library.core.hf.lookup import Candidate, apply_candidate, lookup_model
from comfyui_model_library.core.models import Hashes, Model, ModelFile, ModelSource
from comfyui_model_library.core.net.breaker import BreakerConfig
from tests.core.hf.conftest import BIG
from tests.hub_server import make_repo


def model_of(filename, data, *, metadata=None, **kw):
    sha = hashlib.sha256(data).hexdigest()
    return Model(
        id="abcd",
        name=filename.rsplit(".", 1)[0],
        type="diffusion_model",
        base_model="flux1",
        format="single-file",
        file_format="safetensors",
        security="safe",
        size=len(data),
        hashes=Hashes("b" * 64, sha),
        files=(ModelFile(filename, len(data), "b" * 64, sha),),
        metadata=metadata or {},
        **kw,
    )


def test_hash_match_even_under_another_name(hub_server, make_hub):
    model = model_of("flux1-dev.safetensors", BIG)
    (best, *_rest) = lookup_model(model, make_hub(hub_server))
    assert (best.repo_id, best.filename, best.match, best.confidence) == (
        "acme/flux-dev",
        "flux1-dev-fp8.safetensors",
        "hash",
        1.0,
    )
    assert best.revision == hub_server.repos["acme/flux-dev"].sha
    assert best.variant == "fp8"
    assert best.to_dict()["sha256"] == model.hashes.sha256


def test_filename_matches_below_one(hub_server, make_hub):
    hub = make_hub(hub_server)
    exact = lookup_model(model_of("flux1-dev-fp8.safetensors", b"other bytes"), hub)
    assert exact[0].match == "filename_exact" and exact[0].confidence < 1
    fuzzy = lookup_model(model_of("flux1_dev.safetensors", b"x"), hub)
    assert fuzzy[0].match == "filename_fuzzy" and fuzzy[0].confidence < exact[0].confidence


def test_metadata_title_finds_the_repo(hub_server, make_hub):
    hub_server.add(make_repo("studio/cool-style-lora", {"cool_style.safetensors": b"L" * 4096}))
    model = model_of("lora_000010.safetensors", b"L" * 4096, metadata={"ss_output_name": "cool-style"})
    (best,) = lookup_model(model, make_hub(hub_server))
    assert (best.repo_id, best.match) == ("studio/cool-style-lora", "hash")


def test_no_candidates(hub_server, make_hub):
    assert lookup_model(model_of("zzz_unknown.safetensors", b"q"), make_hub(hub_server)) == []


def test_offline_raises_network_error_for_a_pending_lookup(hub_server, make_hub):
    hub = make_hub(hub_server, max_attempts=2)
    # huggingface_hub's own backoff sleeps for real between its retries; one failure opening the circuit
    # stops them at once (CircuitOpen is not a transport error to it).
    hub.guard.breaker.config = BreakerConfig(failure_threshold=1)
    hub_server.stop()
    with pytest.raises(NetworkError):
        lookup_model(model_of("flux1-dev.safetensors", b"x"), hub)


def candidate(**kw):
    base = dict(
        repo_id="acme/flux-dev",
        filename="flux1-dev.safetensors",
        revision="a" * 40,
        match="hash",
        confidence=1.0,
        size=1,
        sha256="s",
        variant=None,
        reason="r",
    )
    base.update(kw)
    return Candidate(**base)


def test_apply_candidate_sets_source_and_respects_manual_fields():
    model = model_of("model.safetensors", b"x")
    updates = apply_candidate(model, candidate())
    assert updates["source"] == ModelSource(
        "huggingface", "acme/flux-dev", "a" * 40, "flux1-dev.safetensors", "hash", 1.0
    )
    assert updates["name"] == "flux-dev"  # an opaque file name is replaced
    manual = model.replace(manual_fields=frozenset({"name", "source"}))
    assert apply_candidate(manual, candidate()) == {}
    hand_set = model.replace(source=ModelSource("huggingface", "me/mine", match="manual", confidence=1.0))
    assert "source" not in apply_candidate(hand_set, candidate())


def test_weaker_candidate_never_replaces_a_stronger_source():
    model = model_of("flux.safetensors", b"x").replace(
        source=ModelSource("huggingface", "a/b", match="hash", confidence=1.0)
    )
    assert apply_candidate(model, candidate(match="filename_fuzzy", confidence=0.5)) == {}
