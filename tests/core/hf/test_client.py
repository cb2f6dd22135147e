from __future__ import annotations

import pytest

from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.catalog.migrations import migrate
from comfyui_model_library.core.errors import InvalidInput, NetworkError, NotFound
from comfyui_model_library.core.hf.client import validate_repo_id
from comfyui_model_library.core.net.cache import HttpCache
from tests.core.hf.conftest import BIG, digests


def api_requests(server):
    return [p for m, p, _ in server.requests if p.startswith("/api/")]


def test_listing_with_lfs_sha256_pinned_to_the_commit(hub_server, make_hub):
    hub = make_hub(hub_server)
    listing = hub.list_files("acme/flux-dev")
    assert listing.revision == hub_server.repos["acme/flux-dev"].sha
    files = {f.path: f for f in listing.files}
    assert files["flux1-dev-fp8.safetensors"].sha256 == digests(BIG)[0]
    assert files["README.md"].sha256 is None
    assert any(f"/tree/{listing.revision}" in p for p in api_requests(hub_server))


def test_paths_info_and_search(hub_server, make_hub):
    hub = make_hub(hub_server)
    (info,) = hub.paths_info("acme/flux-pipe", ["vae/config.json", "missing.bin"])
    assert info.path == "vae/config.json" and info.size == 2
    assert hub.search("flux") == ["acme/flux-dev", "acme/flux-pipe"]  # most downloaded first
    assert hub.search("   ") == []


def test_errors_are_ours(hub_server, make_hub):
    hub = make_hub(hub_server)
    with pytest.raises(NotFound, match="acme/nope"):
        hub.list_files("acme/nope")
    with pytest.raises(NotFound):
        hub.list_files("acme/flux-dev", "no-such-branch")
    with pytest.raises(InvalidInput):
        validate_repo_id("../etc")


def test_api_429_retried_through_huggingface_hub(hub_server, make_hub):
    hub_server.faults.statuses = [429]
    hub_server.faults.retry_after = "3"
    hub_server.faults.status_routes = ("api",)
    hub = make_hub(hub_server)
    assert hub.revision_sha("acme/flux-dev") == hub_server.repos["acme/flux-dev"].sha
    assert any(s >= 3 for s in hub.clock.sleeps)


def test_guard_applies_to_huggingface_hub_calls(hub_server, make_hub):
    """5xx answers to HfApi calls count against the host's circuit, and a hang times out."""
    hub_server.faults.statuses = [503] * 3
    hub_server.faults.status_routes = ("api",)
    hub = make_hub(hub_server, max_attempts=3)
    with pytest.raises(NetworkError):
        hub.revision_sha("acme/flux-dev")
    assert hub.hosts_status()["127.0.0.1"]["state"] == "open"


def test_hanging_api_times_out(hub_server, make_hub):
    hub_server.faults.hang = 3.0
    hub_server.faults.hang_routes = ("api",)
    hub = make_hub(hub_server, read_timeout=0.3, max_attempts=1)
    with pytest.raises(NetworkError):
        hub.revision_sha("acme/flux-dev")


def test_listing_cached_in_the_catalog(hub_server, make_hub, tmp_path):
    db = Database(tmp_path / "catalog.sqlite")
    migrate(db)
    try:
        hub = make_hub(hub_server)
        hub.cache = HttpCache(db, clock=hub.clock)
        first = hub.list_files("acme/flux-dev")
        count = len(api_requests(hub_server))
        assert hub.list_files("acme/flux-dev") == first
        assert hub.search("flux") == hub.search("flux")
        assert len(api_requests(hub_server)) == count + 1  # only the first search went out
        assert db.execute_read("SELECT COUNT(*) FROM http_cache")[0][0] == 2
    finally:
        db.close()
