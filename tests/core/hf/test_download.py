from __future__ import annotations

import json
import os
import threading
import time

import pytest

from comfyui_model_library.core.errors import (
    Cancelled,
    CircuitOpen,
    HashMismatch,
    HostNotAllowed,
    InsufficientSpace,
    NetworkError,
    NotFound,
    RateLimited,
    UnsafePath,
)
from comfyui_model_library.core.hf.download import (
    cleanup_stale_partials,
    download_files,
    list_repo_files,
    pick_model_files,
)
from comfyui_model_library.core.io.partials import partial_key
from tests.core.hf.conftest import BIG, digests
from tests.hub_server import HubServer, make_repo

FILE = "flux1-dev-fp8.safetensors"


def cdn_gets(server):
    return [(p, h) for m, p, h in server.requests if m == "GET" and p.startswith("/cdn/")]


def fetch(hub, tmp_path, files=(FILE,), repo="acme/flux-dev", **kw):
    return download_files(hub, repo, list(files), None, tmp_path / "dl", **kw)


def assert_big_ok(result, server, tmp_path):
    sha, b3 = digests(BIG)
    (f,) = result.files
    assert (f.digests.sha256, f.digests.blake3, f.size) == (sha, b3, len(BIG))
    assert f.path.read_bytes() == BIG
    assert result.revision_sha == server.repos["acme/flux-dev"].sha
    assert not list((tmp_path / "dl").glob("*.incomplete*"))


def test_download_hashes_while_receiving(hub_server, make_hub, tmp_path):
    events = []
    result = fetch(make_hub(hub_server), tmp_path, progress=lambda d, t, s: events.append((d, t, s)))
    assert_big_ok(result, hub_server, tmp_path)
    assert events[0][2] == "resolving" and events[-1] == (len(BIG), len(BIG), "done")
    dones = [d for d, _, s in events if s == "downloading"]
    assert dones == sorted(dones)
    # the resolve HEAD answered 302 with X-Linked-*; the bytes came from the "CDN" path
    assert [m for m, p, _ in hub_server.requests if "/resolve/" in p] == ["HEAD"]
    assert result.to_dict()["files"][0]["path"] == FILE


def test_drop_mid_body_resumes_with_range_and_if_range(hub_server, make_hub, tmp_path):
    hub_server.faults.drop_after = 1_500_000
    result = fetch(make_hub(hub_server), tmp_path)
    assert_big_ok(result, hub_server, tmp_path)
    gets = cdn_gets(hub_server)
    assert len(gets) == 2
    assert gets[1][1]["Range"].startswith("bytes=") and int(gets[1][1]["Range"][6:-1]) > 0
    assert gets[1][1]["If-Range"].strip('"') == digests(BIG)[0]


def test_range_ignored_restarts_cleanly(hub_server, make_hub, tmp_path):
    hub_server.faults.drop_after = 1_000_000
    hub_server.faults.ignore_range = True
    result = fetch(make_hub(hub_server), tmp_path)
    assert_big_ok(result, hub_server, tmp_path)
    assert len(cdn_gets(hub_server)) == 2


def test_etag_change_between_attempts_restarts_from_zero(hub_server, make_hub, tmp_path):
    hub_server.faults.drop_after = 1_000_000
    hub_server.faults.changing_etag = True
    result = fetch(make_hub(hub_server), tmp_path)
    assert_big_ok(result, hub_server, tmp_path)
    assert len(cdn_gets(hub_server)) >= 2


def test_a_206_with_a_changed_etag_is_the_rest_of_the_same_file(hub_server, make_hub, tmp_path):
    """A CDN that answers 206 to a resume although its ETag changed (it ignores If-Range): the partial's
    name pins the content (the Hub's X-Linked-Etag), so the answer is taken as the rest; whether it really
    was is the end's SHA-256 check (next test)."""
    hub_server.faults.drop_after = 1_000_000
    hub_server.faults.changing_etag = True
    hub_server.faults.ignore_if_range = True
    result = fetch(make_hub(hub_server), tmp_path)
    assert_big_ok(result, hub_server, tmp_path)
    headers = [h for _path, h in cdn_gets(hub_server)]
    assert len(headers) == 2 and headers[-1]["Range"] == "bytes=1000000-", headers


def test_a_206_of_other_bytes_is_caught_by_the_sha256_and_discarded(hub_server, make_hub, tmp_path):
    """The splice the ETag comparison on a 206 used to guard against: other bytes after a resume fail the
    end's SHA-256 check, and the partial is deleted so the next attempt starts clean."""
    hub_server.faults.drop_after = 1_000_000
    hub_server.faults.other_bytes_on_range = True
    with pytest.raises(HashMismatch, match="hash mismatch"):
        fetch(make_hub(hub_server), tmp_path)
    assert "Range" in cdn_gets(hub_server)[-1][1]
    assert list((tmp_path / "dl").iterdir()) == []
    hub_server.faults.other_bytes_on_range = False
    assert_big_ok(fetch(make_hub(hub_server), tmp_path), hub_server, tmp_path)
    assert "Range" not in cdn_gets(hub_server)[-1][1]


def test_wrong_linked_etag_discards_the_file(hub_server, make_hub, tmp_path):
    hub_server.faults.wrong_linked_etag = True
    with pytest.raises(HashMismatch, match="hash mismatch"):
        fetch(make_hub(hub_server), tmp_path)
    assert [p.name for p in (tmp_path / "dl").iterdir()] == []


def test_wrong_linked_size_discards_the_file(hub_server, make_hub, tmp_path):
    hub_server.faults.wrong_linked_size = True
    with pytest.raises(HashMismatch, match="hash mismatch"):
        fetch(make_hub(hub_server), tmp_path)
    assert list((tmp_path / "dl").iterdir()) == []


def test_429_with_retry_after_is_waited_out(hub_server, make_hub, tmp_path):
    hub_server.faults.statuses = [429]
    hub_server.faults.retry_after = "7"
    hub = make_hub(hub_server)
    assert_big_ok(fetch(hub, tmp_path), hub_server, tmp_path)
    assert any(s >= 7 for s in hub.clock.sleeps)


def test_5xx_burst_below_breaker_threshold_recovers(hub_server, make_hub, tmp_path):
    hub_server.faults.statuses = [503, 502]
    assert_big_ok(fetch(make_hub(hub_server), tmp_path), hub_server, tmp_path)


def test_5xx_burst_opens_the_circuit(hub_server, make_hub, tmp_path):
    hub_server.faults.statuses = [500] * 10
    hub = make_hub(hub_server, max_attempts=10)
    with pytest.raises(CircuitOpen):
        fetch(hub, tmp_path)
    status = hub.hosts_status()["127.0.0.1"]
    assert status["state"] == "open" and status["last_error"] == "HTTP 500"
    assert len(hub_server.requests) == 3  # the fourth never left


def test_persistent_429_becomes_rate_limited(hub_server, make_hub, tmp_path):
    hub_server.faults.statuses = [429] * 2
    with pytest.raises(RateLimited):
        fetch(make_hub(hub_server, max_attempts=2), tmp_path)


def test_hanging_server_times_out(hub_server, make_hub, tmp_path):
    hub_server.faults.hang = 3.0
    hub_server.faults.hang_routes = ("cdn",)
    # Without the read timeout the server answers after its 3 s and the download succeeds: no error.
    with pytest.raises(NetworkError):
        fetch(make_hub(hub_server, read_timeout=0.3, max_attempts=2), tmp_path)


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/x"])
def test_redirect_to_private_address_refused_before_connecting(hub_server, make_hub, tmp_path, target):
    hub_server.faults.redirect_to = target
    with pytest.raises(HostNotAllowed, match="Refusing"):
        fetch(make_hub(hub_server), tmp_path)
    assert list((tmp_path / "dl").iterdir()) == []


def test_redirect_refused_in_the_transport_never_reaches_the_other_host(hub_server, make_hub, tmp_path):
    """A loopback address other than the endpoint stands in for the LAN: it must see no request."""
    other = HubServer([make_repo("x/y", {"a": b"1"})])
    other.start("127.0.0.2")
    try:
        hub = make_hub(hub_server)
        resp_url = f"{other.url}/x/y/resolve/main/a"
        hub_server.faults.redirect_to = resp_url
        with pytest.raises(HostNotAllowed):
            hub.http.get(hub.resolve_url("acme/flux-dev", "main", FILE))  # follows the redirect itself
        with pytest.raises(HostNotAllowed):
            fetch(hub, tmp_path)
        assert other.requests == []
    finally:
        other.stop()


def test_token_goes_to_the_hub_but_not_to_the_cdn(hub_server, make_hub, tmp_path):
    port = hub_server.url.rsplit(":", 1)[1]
    hub_server.faults.cdn_host = "localhost"
    hub = make_hub(hub_server, token="hf_secret", extra_allowed_hosts=(f"http://localhost:{port}",))
    assert_big_ok(fetch(hub, tmp_path), hub_server, tmp_path)
    resolve = [h for m, p, h in hub_server.requests if "/resolve/" in p]
    cdn = [h for m, p, h in hub_server.requests if p.startswith("/cdn/")]
    assert resolve and all(h.get("Authorization") == "Bearer hf_secret" for h in resolve)
    assert cdn and all("Authorization" not in h for h in cdn)
    assert "hf_secret" not in repr(hub) and "hf_secret" not in repr(hub.guard)


@pytest.mark.parametrize(
    "name", ["../../evil.py", "/etc/passwd", "a/../../b", "C:evil", "CON", "nul.txt", "x.", "a\\b"]
)
def test_unsafe_repo_names_refused_before_any_request(hub_server, make_hub, tmp_path, name):
    with pytest.raises(UnsafePath):
        fetch(make_hub(hub_server), tmp_path, files=[name])
    assert hub_server.requests == []


def test_missing_file_is_not_found(hub_server, make_hub, tmp_path):
    with pytest.raises(NotFound):
        fetch(make_hub(hub_server), tmp_path, files=["nope.safetensors"])


def test_insufficient_space_checked_before_downloading(hub_server, make_hub, tmp_path):
    with pytest.raises(InsufficientSpace, match="free space"):
        fetch(make_hub(hub_server), tmp_path, config=type("C", (), {"free_space_margin": 1 << 60})())
    assert cdn_gets(hub_server) == []


def test_cancel_keeps_the_partial_and_a_rerun_resumes(hub_server, make_hub, tmp_path):
    hub = make_hub(hub_server)
    calls = {"n": 0}

    def cancel_midway():
        calls["n"] += 1
        return calls["n"] > 3

    with pytest.raises(Cancelled):
        fetch(hub, tmp_path, cancelled=cancel_midway)
    (partial,) = (tmp_path / "dl").glob("*.incomplete")
    assert partial.name == f"{FILE}.{partial_key(digests(BIG)[0], len(BIG))}.incomplete"
    assert 0 < partial.stat().st_size < len(BIG)
    kept = partial.stat().st_size
    result = fetch(make_hub(hub_server), tmp_path)  # a new process: the prefix is re-hashed
    assert_big_ok(result, hub_server, tmp_path)
    assert cdn_gets(hub_server)[-1][1]["Range"] == f"bytes={kept}-"


def test_multi_file_failure_keeps_finished_parts(hub_server, make_hub, tmp_path):
    listing = make_hub(hub_server).list_files("acme/flux-pipe")
    files = pick_model_files(listing.files, "model_index.json")
    assert "vae/diffusion_pytorch_model.fp16.safetensors" not in files
    assert "transformer/diffusion_pytorch_model.safetensors.index.json" in files
    hub_server.faults.statuses = [500] * 3  # first file fails and opens the circuit
    hub_server.faults.status_routes = ("cdn",)
    lfs = [f for f in files if f.endswith(".safetensors")]
    with pytest.raises(NetworkError):
        download_files(
            make_hub(hub_server), "acme/flux-pipe", ["model_index.json", *lfs], None, tmp_path / "dl"
        )
    assert (tmp_path / "dl" / "model_index.json").exists()
    manifest = json.loads((tmp_path / "dl.download.json").read_text())
    assert list(manifest["files"]) == ["model_index.json"]
    before = len(hub_server.requests)
    result = download_files(
        make_hub(hub_server), "acme/flux-pipe", ["model_index.json", *lfs], None, tmp_path / "dl"
    )
    assert [f.relpath for f in result.files] == ["model_index.json", *lfs]
    fetched = [p for m, p, _ in hub_server.requests[before:] if m == "GET"]
    assert not any("model_index.json" in p for p in fetched)
    for f in result.files:
        data = hub_server.repos["acme/flux-pipe"].files[f.relpath].data
        assert f.digests.sha256 == digests(data)[0]


def test_concurrency_bound_waits_for_a_slot(hub_server, make_hub, tmp_path):
    hub = make_hub(hub_server, max_concurrent_downloads=1)
    assert hub.download_slots.acquire(timeout=1)
    stop = threading.Event()
    threading.Timer(0.4, stop.set).start()
    with pytest.raises(Cancelled):
        fetch(hub, tmp_path, cancelled=stop.is_set)
    assert cdn_gets(hub_server) == []
    hub.download_slots.release()


def test_list_repo_files_and_pick_model_files(hub_server, make_hub):
    hub = make_hub(hub_server)
    rows = list_repo_files(hub, "acme/flux-dev")
    assert (FILE, len(BIG), digests(BIG)[0]) in rows
    assert ("README.md", 6, None) in rows
    listing = hub.list_files("acme/flux-pipe")
    shard = "transformer/diffusion_pytorch_model-00001-of-00002.safetensors"
    assert pick_model_files(listing.files, shard) == [
        "transformer/diffusion_pytorch_model-00001-of-00002.safetensors",
        "transformer/diffusion_pytorch_model-00002-of-00002.safetensors",
        "transformer/diffusion_pytorch_model.safetensors.index.json",
    ]
    assert pick_model_files(hub.list_files("acme/flux-dev").files) == [FILE]


def test_cleanup_stale_partials(tmp_path):
    old = tmp_path / "a" / "x.safetensors.incomplete"
    old.parent.mkdir()
    old.write_bytes(b"1")
    fresh = tmp_path / "y.incomplete"
    fresh.write_bytes(b"2")
    keep = tmp_path / "model.safetensors"
    keep.write_bytes(b"3")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.incomplete"
    outside.write_bytes(b"4")
    (tmp_path / "link.incomplete").symlink_to(outside)
    past = time.time() - 10 * 86400
    for p in (old, keep, outside):
        os.utime(p, (past, past))
    removed = cleanup_stale_partials(tmp_path, older_than_days=7)
    assert removed == [old]
    assert fresh.exists() and keep.exists() and outside.exists()
    outside.unlink()
