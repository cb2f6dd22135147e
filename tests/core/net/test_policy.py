from __future__ import annotations

import pytest

from comfyui_model_library.core.errors import HostNotAllowed
from comfyui_model_library.core.net.policy import HostPolicy, parse_ip_literal

ALLOWED = [
    "https://huggingface.co/api/models/x/y",
    "https://hf.co/x/y/resolve/main/a.safetensors",
    "https://cdn-lfs.hf.co/repos/ab/cd",
    "https://cdn-lfs-us-1.hf.co/repos/ab/cd",
    "https://cdn-lfs.huggingface.co/x",
    "https://cas-bridge.xethub.hf.co/xet-bridge-us/abc",
    "https://HuggingFace.CO./x",
]

REFUSED = [
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:8188/api/prompt",
    "https://127.0.0.1/x",
    "http://[::ffff:7f00:1]/x",
    "http://[::1]:8188/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://10.0.0.1/x",
    "https://192.168.1.10/x",
    "https://8.8.8.8/x",
    "file:///etc/passwd",
    "ftp://huggingface.co/x",
    "http://huggingface.co/x",  # plain http to the Hub
    "https://huggingface.co.evil.tld/x",
    "https://evilhuggingface.co/x",
    "https://cdn-lfs.hf.co.evil.tld/x",
    "https://x.cdn-lfs.hf.co/x",
    "https://huggingface.co@evil.example/x",
    "https:///nohost",
    "https://localhost/x",
]


@pytest.mark.parametrize("url", ALLOWED)
def test_hub_and_cdn_hosts_allowed(url):
    HostPolicy().check(url)


@pytest.mark.parametrize("url", REFUSED)
def test_ssrf_targets_refused_with_a_reason(url):
    with pytest.raises(HostNotAllowed, match="Refusing"):
        HostPolicy().check(url)


def test_ip_literal_spellings():
    assert str(parse_ip_literal("2130706433")) == "127.0.0.1"
    assert str(parse_ip_literal("0x7f.1")) == "127.0.0.1"
    assert str(parse_ip_literal("[::ffff:7f00:1]")) == "::ffff:7f00:1"
    assert parse_ip_literal("huggingface.co") is None
    assert parse_ip_literal("cafe.de") is None  # hex letters but a name


def test_endpoint_host_allowed_with_its_own_scheme_and_port_only():
    policy = HostPolicy("http://127.0.0.1:8123")
    policy.check("http://127.0.0.1:8123/api/models/a/b")
    for url in ("http://127.0.0.1:8188/x", "https://127.0.0.1:8123/x", "http://169.254.169.254/"):
        with pytest.raises(HostNotAllowed):
            policy.check(url)
    policy.check("https://huggingface.co/x")  # the public Hub stays reachable


def test_token_only_for_hub_hosts():
    policy = HostPolicy()
    assert policy.is_hub_host("https://huggingface.co/api/models")
    assert policy.is_hub_host("https://hf.co/x")
    assert not policy.is_hub_host("https://cdn-lfs.hf.co/x")
    assert not policy.is_hub_host("https://cas-bridge.xethub.hf.co/x")
    assert not policy.is_hub_host("http://huggingface.co/x")
    mirror = HostPolicy("https://hf-mirror.example")
    assert mirror.is_hub_host("https://hf-mirror.example/api")
    assert not mirror.is_hub_host("https://huggingface.co/api")


def test_extra_hosts_https_and_exact_origins():
    policy = HostPolicy(extra_allowed_hosts=["models.example.org", "http://localhost:9000"])
    policy.check("https://models.example.org/x")
    policy.check("http://localhost:9000/x")
    for url in ("http://models.example.org/x", "http://localhost:9001/x", "https://sub.models.example.org/x"):
        with pytest.raises(HostNotAllowed):
            policy.check(url)


def test_bad_endpoint_is_refused_with_advice():
    with pytest.raises(HostNotAllowed, match="HF_ENDPOINT"):
        HostPolicy("file:///tmp/hub")


# -- Civitai ---------------------------------------------------------------------------------------------

CIVITAI_ALLOWED = [
    "https://civitai.com/api/v1/model-versions/by-hash/" + "a" * 64,
    "https://image.civitai.com/xG1nkqKTMzGDvpLrqFT7WA/abc/width=450/1.jpeg",
    "https://CIVITAI.com./api/v1/models/1",
]

CIVITAI_REFUSED = [
    "http://civitai.com/api/v1/models/1",  # plain http
    "http://image.civitai.com/x.jpeg",
    "https://civitai.com.evil.tld/x",
    "https://evilcivitai.com/x",
    "https://x.image.civitai.com/x",
    "https://civitai.com@evil.example/x",
]


@pytest.mark.parametrize("url", CIVITAI_ALLOWED)
def test_civitai_api_and_image_cdn_allowed(url):
    HostPolicy().check(url)


@pytest.mark.parametrize("url", CIVITAI_REFUSED)
def test_civitai_look_alikes_refused(url):
    with pytest.raises(HostNotAllowed, match="Refusing"):
        HostPolicy().check(url)


def test_refusal_names_civitai_and_its_setting():
    with pytest.raises(HostNotAllowed, match=r"Civitai host.*civitai_endpoint"):
        HostPolicy().check("https://example.org/x")


def test_civitai_endpoint_allowed_exactly():
    policy = HostPolicy(civitai_endpoint="http://127.0.0.1:8124")
    policy.check("http://127.0.0.1:8124/api/v1/models/1")
    for url in ("http://127.0.0.1:8125/x", "https://127.0.0.1:8124/x", "http://localhost:8124/x"):
        with pytest.raises(HostNotAllowed):
            policy.check(url)
    policy.check("https://civitai.com/api/v1/models/1")  # the public site stays reachable
    policy.check("https://huggingface.co/x")


def test_civitai_endpoint_from_config_read_with_getattr():
    class Old:  # a config from before the setting existed
        hf_endpoint = None

    class New:
        hf_endpoint = "http://127.0.0.1:8123"
        civitai_endpoint = "http://127.0.0.1:8124"

    assert HostPolicy.from_config(Old()).civitai_endpoint is None
    policy = HostPolicy.from_config(New())
    assert policy.is_hub_host("http://127.0.0.1:8123/api")
    assert policy.is_civitai_api("http://127.0.0.1:8124/api/v1/models/1")
    assert not policy.is_hub_host("http://127.0.0.1:8124/api")
    assert not policy.is_civitai_api("http://127.0.0.1:8123/api")


def test_bad_civitai_endpoint_is_refused_with_advice():
    with pytest.raises(HostNotAllowed, match="civitai_endpoint"):
        HostPolicy(civitai_endpoint="ftp://civitai.com")


def test_credential_scopes_keep_each_secret_on_its_own_api():
    policy = HostPolicy()
    assert policy.credential_scope("https://huggingface.co/api/models") == "hub"
    assert policy.credential_scope("https://civitai.com/api/v1/models/1") == "civitai"
    for url in (
        "https://image.civitai.com/x.jpeg",  # the CDN never gets the key
        "http://civitai.com/api",
        "https://civitai.com:8443/api",
        "https://cdn-lfs.hf.co/x",
        "https://example.org/x",
    ):
        assert policy.credential_scope(url) is None, url
    assert not policy.is_hub_host("https://civitai.com/api/v1/models/1")
    mirror = HostPolicy(civitai_endpoint="http://127.0.0.1:8124")
    assert mirror.credential_scope("http://127.0.0.1:8124/api/v1/models/1") == "civitai"
    assert mirror.credential_scope("https://civitai.com/api/v1/models/1") is None
