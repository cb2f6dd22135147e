"""The guard sends each secret only within its credential scope (Hub token, Civitai key)."""

from __future__ import annotations

import httpx
import pytest

from comfyui_model_library.core.net.clock import ManualClock
from comfyui_model_library.core.net.policy import CIVITAI_SCOPE, HostPolicy
from comfyui_model_library.core.net.transport import NetworkGuard


class Recorder:
    def __init__(self):
        self.seen: list[tuple[str, str | None]] = []

    def handle_request(self, request):
        self.seen.append((str(request.url), request.headers.get("authorization")))
        return httpx.Response(200)

    def close(self):
        pass


def send(guard, url, headers=None):
    inner = Recorder()
    guard.send(httpx.Request("GET", url, headers=headers or {}), inner)
    return inner.seen[0][1]


@pytest.fixture
def guard():
    return NetworkGuard(
        HostPolicy(), token="hf_secret", tokens={CIVITAI_SCOPE: "civ_secret"}, clock=ManualClock()
    )


def test_each_secret_goes_to_its_own_api_only(guard):
    assert send(guard, "https://huggingface.co/api/models/a/b") == "Bearer hf_secret"
    assert send(guard, "https://civitai.com/api/v1/models/1") == "Bearer civ_secret"
    assert send(guard, "https://image.civitai.com/x/width=450/1.jpeg") is None
    assert send(guard, "https://cdn-lfs.hf.co/x") is None


def test_a_foreign_authorization_header_never_reaches_civitai(guard):
    # Whatever a caller (or a redirect) carried, Civitai gets its own key and the CDN nothing.
    assert send(guard, "https://civitai.com/api/v1/models/1", {"Authorization": "Bearer hf_secret"}) == (
        "Bearer civ_secret"
    )
    assert send(guard, "https://image.civitai.com/x.jpeg", {"Authorization": "Bearer civ_secret"}) is None
    no_key = NetworkGuard(HostPolicy(), token="hf_secret", clock=ManualClock())
    assert send(no_key, "https://civitai.com/api/v1/models/1", {"Authorization": "Bearer hf_secret"}) is None


def test_tokens_from_config_set_and_forget(guard):
    class Config:
        hf_token = "hf_secret"
        civitai_api_key = "civ_secret"

    from_config = NetworkGuard.from_config(Config(), clock=ManualClock())
    assert send(from_config, "https://civitai.com/api/v1/models/1") == "Bearer civ_secret"
    assert from_config.has_token and from_config.has_scope_token(CIVITAI_SCOPE)
    guard.set_token(CIVITAI_SCOPE, None)
    assert send(guard, "https://civitai.com/api/v1/models/1") is None
    with pytest.raises(ValueError):
        guard.set_token("example.org", "x")


def test_repr_never_echoes_a_secret(guard):
    text = repr(guard)
    assert "hf_secret" not in text and "civ_secret" not in text
    assert "civitai" in text and "hub" in text
