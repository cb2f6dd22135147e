"""The Civitai client against a loopback Civitai: lookups, cache, retry, breaker, credentials, images."""

from __future__ import annotations

import json

import pytest

from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.catalog.migrations import migrate
from comfyui_model_library.core.civitai import (
    CivitaiClient,
    CivitaiVersion,
    base_model_of,
    html_to_text,
)
from comfyui_model_library.core.civitai.client import HIT_TTL, MISS_TTL
from comfyui_model_library.core.errors import (
    CircuitOpen,
    HostNotAllowed,
    InvalidConfig,
    InvalidInput,
    NetworkError,
    NotFound,
    RateLimited,
    UpstreamError,
)
from comfyui_model_library.core.net.breaker import BreakerConfig, CircuitBreaker
from comfyui_model_library.core.net.cache import HttpCache
from comfyui_model_library.core.net.clock import ManualClock
from comfyui_model_library.core.net.policy import HostPolicy
from comfyui_model_library.core.net.retry import Retrier, RetryConfig
from comfyui_model_library.core.net.transport import NetworkGuard, Timeouts
from tests.civitai_server import CivitaiServer, make_version, sha256_of

SHA = sha256_of(b"detail lora")
OLD_SHA = sha256_of(b"detail lora v0")
UNKNOWN = sha256_of(b"nobody has this")
BY_HASH = "/api/v1/model-versions/by-hash/"


@pytest.fixture
def db(tmp_path):
    database = Database(tmp_path / "catalog.sqlite")
    migrate(database)
    yield database
    database.close()


@pytest.fixture
def server():
    civitai = CivitaiServer(
        [
            make_version(200, 7, sha256=SHA, name="v2.0", created_at="2024-06-01T00:00:00.000Z"),
            make_version(100, 7, sha256=OLD_SHA, name="v1.0", created_at="2024-01-01T00:00:00.000Z"),
        ],
        images={"a.png": b"\x89PNG" + bytes(1000)},
    )
    civitai.start()
    yield civitai
    civitai.stop()


@pytest.fixture
def make(db):
    """make(server, **options) -> CivitaiClient: instant retries (manual clock), short timeouts, a cache."""
    clients = []

    def build(server, *, api_key=None, hf_token=None, hf_endpoint=None, read_timeout=2.0, attempts=3, **kw):
        clock = kw.pop("clock", None) or ManualClock()
        policy = HostPolicy(hf_endpoint, kw.pop("extra_hosts", ()), civitai_endpoint=server.url)
        guard = NetworkGuard(
            policy,
            token=hf_token,
            clock=clock,
            breaker=CircuitBreaker(BreakerConfig(**kw.pop("breaker", {})), clock),
            timeouts=Timeouts(connect=2.0, read=read_timeout, write=2.0, pool=2.0),
        )
        client = CivitaiClient(
            server.url,
            api_key=api_key,
            guard=guard,
            cache=HttpCache(db, clock=clock),
            retrier=Retrier(RetryConfig(max_attempts=attempts), clock=clock),
            clock=clock,
        )
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


def lookups(server):
    return [p for p in server.paths() if p.startswith(BY_HASH)]


# -- lookups and records ---------------------------------------------------------------------------------
def test_found_version_is_a_full_plain_record(server, make):
    version = make(server).by_hash(SHA.upper())
    assert version is not None
    assert (version.version_id, version.model_id, version.version_name) == (200, 7, "v2.0")
    assert (version.model_name, version.model_type, version.base_model) == (
        "Detail Tweaker",
        "LORA",
        "SDXL 1.0",
    )
    assert version.trained_words == ("detailed",)
    assert version.creator == "alice"
    assert version.page_url == f"{server.url}/models/7?modelVersionId=200"
    assert version.license == {
        "allowCommercialUse": ["Image", "Rent", "Sell"],
        "allowDerivatives": True,
        "allowNoCredit": True,
        "allowDifferentLicense": False,
    }
    assert version.description == "A LoRA for detail.\n\nAdds detail."
    (image,) = version.images
    assert (image.nsfw_level, image.width, image.height, image.kind) == (1, 832, 1216, "image")
    assert image.url.startswith("https://image.civitai.com/")
    (file,) = version.files
    assert (file.name, file.sha256, file.size_kb) == ("detail.safetensors", SHA, 223101.34)
    again = CivitaiVersion.from_dict(json.loads(json.dumps(version.to_dict())))
    assert again == version and version.to_dict()["record_version"] == CivitaiVersion.VERSION == 1


def test_not_found_is_none_and_the_miss_is_cached_for_a_day(server, make):
    clock = ManualClock()
    client = make(server, clock=clock)
    assert client.by_hash(UNKNOWN) is None
    assert client.by_hash(UNKNOWN) is None
    assert len(lookups(server)) == 1
    clock.advance(MISS_TTL + 1)
    assert client.by_hash(UNKNOWN) is None
    assert len(lookups(server)) == 2


def test_a_hit_is_served_from_the_cache_for_a_week(server, make):
    clock = ManualClock()
    client = make(server, clock=clock)
    first = client.by_hash(SHA)
    count = len(server.requests)
    clock.advance(HIT_TTL - 60)
    assert client.by_hash(SHA) == first
    assert len(server.requests) == count


def test_stale_entry_served_when_civitai_is_down(server, make):
    clock = ManualClock()
    client = make(server, clock=clock)
    first = client.by_hash(SHA)
    clock.advance(HIT_TTL + 60)
    server.faults.status_for_hash = 503
    assert client.by_hash(SHA) == first  # stale-if-error
    assert len(lookups(server)) > 1  # it did try


def test_model_lists_versions_newest_first(server, make):
    model = make(server).model(7)
    assert [v.version_id for v in model.versions] == [200, 100]
    assert (model.versions[0].name, model.versions[0].base_model) == ("v2.0", "SDXL 1.0")
    assert model.creator == "alice" and model.model_type == "LORA"
    with pytest.raises(NotFound):
        make(server).model(999)
    with pytest.raises(InvalidInput):
        make(server).model(0)


def test_invalid_hash_refused_without_a_request(server, make):
    for bad in ("abc", "z" * 64, SHA + "0", "../../etc/passwd"):
        with pytest.raises(InvalidInput):
            make(server).by_hash(bad)
    assert server.requests == []


# -- retry, timeouts, breaker ------------------------------------------------------------------------------
def test_429_with_retry_after_then_success(server, make):
    clock = ManualClock()
    server.faults.statuses = [429]
    server.faults.retry_after = "7"
    assert make(server, clock=clock).by_hash(SHA) is not None
    assert clock.sleeps == [7.0]
    assert len(lookups(server)) == 2


def test_persistent_429_is_rate_limited_naming_civitai(server, make):
    server.faults.status_for_hash = 429
    with pytest.raises(RateLimited, match=r"^Civitai rate-limited"):
        make(server).by_hash(SHA)


def test_5xx_fail_times_then_success(server, make):
    server.faults.status_for_hash, server.faults.fail_times = 502, 2
    assert make(server, attempts=3).by_hash(SHA) is not None
    assert len(lookups(server)) == 3


def test_5xx_retried_then_network_error(server, make):
    server.faults.status_for_hash = 503
    with pytest.raises(NetworkError, match="Civitai answered HTTP 503"):
        make(server, attempts=3).by_hash(SHA)
    assert len(lookups(server)) == 3


def test_slow_server_times_out_into_network_error(server, make):
    server.faults.delay_s = 1.0
    with pytest.raises(NetworkError) as caught:
        make(server, read_timeout=0.2, attempts=2).by_hash(SHA)
    assert not isinstance(caught.value, UpstreamError)
    assert len(lookups(server)) == 2


def test_breaker_opens_after_repeated_failures(server, make):
    server.faults.status_for_hash = 500
    client = make(server, attempts=5, breaker={"failure_threshold": 3, "open_seconds": 60})
    with pytest.raises(CircuitOpen):
        client.by_hash(SHA)
    assert len(lookups(server)) == 3
    with pytest.raises(CircuitOpen):
        client.by_hash(OLD_SHA)
    assert len(lookups(server)) == 3  # no request while open


# -- hostile answers ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fault", "value", "message"),
    [
        ("malformed", b"{not json", "not JSON"),
        ("malformed", b"\xff\xfe", "not JSON"),
        ("odd_json", [1, 2], "not an object"),
        ("odd_json", {"id": "200", "modelId": 7}, "'id' is a str"),
        ("odd_json", {"id": 200}, "'modelId' is missing"),
        ("odd_json", {"id": 200, "modelId": 7, "images": {"url": "x"}}, "'images' is a dict"),
        ("odd_json", {"id": 200, "modelId": 7, "files": [{"hashes": []}]}, "not an object"),
        ("odd_json", {"id": True, "modelId": 7}, "'id' is a boolean"),
    ],
)
def test_malformed_answers_are_upstream_errors_and_not_cached(server, make, fault, value, message):
    client = make(server)
    setattr(server.faults, fault, value)
    with pytest.raises(UpstreamError, match=message):
        client.by_hash(SHA)
    setattr(server.faults, fault, None)
    assert client.by_hash(SHA) is not None  # nothing bad was kept


def test_html_description_becomes_text(server, make):
    hostile = (
        "<script>alert('x')</script><style>p{}</style><p>Use &amp; enjoy<br>line two</p>"
        "<img src=x onerror=alert(1)><a href='javascript:alert(2)'>link</a><ul><li>one</li><li>two</li></ul>"
    )
    server.add(make_version(300, 8, sha256=UNKNOWN, description=hostile))
    text = make(server).by_hash(UNKNOWN).description
    assert "alert" not in text and "<" not in text and "onerror" not in text
    assert "Use & enjoy\nline two" in text and "link" in text and "- one\n" in text


def test_html_to_text_caps_and_cleans():
    assert html_to_text("<p>a</p><p>b</p>") == "a\n\nb"
    assert html_to_text("x&lt;script&gt;y") == "x<script>y"  # decoded entities stay text
    assert html_to_text("<script>never closed") == ""
    assert html_to_text("a\u202eb\x00c") == "abc"
    assert len(html_to_text("<p>" + "w " * 50_000 + "</p>")) == 20_000


def test_images_only_http_and_at_most_twenty(server, make):
    images = [{"url": "javascript:alert(1)"}, {"url": "data:image/png;base64,AAAA"}, {"url": "/relative.png"}]
    images += [
        {"url": f"https://image.civitai.com/x/{i}.mp4", "type": "video", "nsfwLevel": "Soft"}
        for i in range(30)
    ]
    server.add(make_version(300, 8, sha256=UNKNOWN, images=images))
    version = make(server).by_hash(UNKNOWN)
    assert len(version.images) == 20
    assert all(
        i.url.startswith("https://") and i.kind == "video" and i.nsfw_level == 2 for i in version.images
    )


@pytest.mark.parametrize(
    ("civitai", "ours"),
    [
        ("SD 1.5", "sd15"),
        ("SD 1.4", "sd15"),
        ("SD 2.1 768", "sd2"),
        ("SDXL 1.0", "sdxl"),
        ("SDXL Lightning", "sdxl"),
        ("Pony", "sdxl"),
        ("Illustrious", "sdxl"),
        ("NoobAI", "sdxl"),
        ("Pony V7", "auraflow"),
        ("SD 3", "sd3"),
        ("SD 3.5 Large", "sd35"),
        ("Flux.1 D", "flux1"),
        ("Flux.1 S", "flux1"),
        ("Flux.2 D", "flux2"),
        ("Hunyuan Video", "hunyuan_video"),
        ("Wan Video 14B t2v", "wan"),
        ("Qwen", "qwen_image"),
        ("Other", "unknown"),
        ("", "unknown"),
    ],
)
def test_base_model_mapping(civitai, ours):
    assert base_model_of(civitai) == ours


# -- credentials -------------------------------------------------------------------------------------------
def test_api_key_only_to_the_api_host(server, make):
    images = CivitaiServer(images={"b.png": b"\x89PNG img"})
    images.start()
    try:
        client = make(server, api_key="civ_secret", extra_hosts=[images.url])
        client.by_hash(SHA)
        assert all(h.get("Authorization") == "Bearer civ_secret" for _, _, h in server.requests)
        assert client.image_bytes(f"{images.url}/images/b.png") == b"\x89PNG img"
        server.faults.redirect_images_to = images.url  # the API origin redirects to the image host
        assert client.image_bytes(f"{server.url}/images/b.png") == b"\x89PNG img"
        assert len(images.requests) == 2
        assert all("Authorization" not in h for _, _, h in images.requests)
        assert "civ_secret" not in repr(client) and "civ_secret" not in repr(client.guard)
    finally:
        images.stop()


def test_hf_token_never_reaches_civitai(server, make):
    client = make(server, hf_token="hf_secret", hf_endpoint="http://127.0.0.1:9")
    client.by_hash(SHA)
    assert server.requests and all("Authorization" not in h for _, _, h in server.requests)
    keyed = make(server, hf_token="hf_secret", api_key="civ_secret")
    keyed.by_hash(OLD_SHA)
    assert all(h.get("Authorization") != "Bearer hf_secret" for _, _, h in server.requests)


def test_a_key_for_an_endpoint_the_policy_does_not_scope_is_refused(server, make):
    guard = make(server).guard
    with pytest.raises(InvalidConfig, match="civitai_endpoint"):
        CivitaiClient("https://civitai.com", api_key="k", guard=guard, cache=None, retrier=None)


# -- images ------------------------------------------------------------------------------------------------
def test_image_bytes_and_cap(server, make):
    client = make(server)
    assert client.image_bytes(f"{server.url}/images/a.png").startswith(b"\x89PNG")
    with pytest.raises(InvalidInput, match="larger than 500 bytes"):
        client.image_bytes(f"{server.url}/images/a.png", max_bytes=500)
    with pytest.raises(NotFound):
        client.image_bytes(f"{server.url}/images/missing.png")


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/x.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:9/images/a.png",
        "file:///etc/passwd",
        "http://image.civitai.com/x.png",
    ],
)
def test_image_url_outside_policy_refused_without_a_request(server, make, url):
    with pytest.raises(HostNotAllowed):
        make(server).image_bytes(url)
    assert server.requests == []


def test_image_redirect_to_a_private_address_refused(server, make):
    server.faults.redirect_images_to = "http://10.0.0.1"
    with pytest.raises(HostNotAllowed):
        make(server).image_bytes(f"{server.url}/images/a.png")
