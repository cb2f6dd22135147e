from __future__ import annotations

import random
from email.utils import formatdate

import httpx
import pytest

from comfyui_model_library.core.errors import CircuitOpen, HostNotAllowed, NetworkError, RateLimited
from comfyui_model_library.core.net.clock import ManualClock
from comfyui_model_library.core.net.retry import (
    Retrier,
    RetryConfig,
    TransientError,
    parse_retry_after,
    retry_after_from_headers,
    transient_for_status,
)


def test_retry_after_seconds_and_http_date():
    now = 1_700_000_000.0
    assert parse_retry_after("7", now) == 7
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now) == pytest.approx(30)
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now) == 0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_rate_limit_headers():
    now = 1_700_000_000.0
    assert retry_after_from_headers({"RateLimit": '"api";r=0;t=55'}, now) == 55
    assert retry_after_from_headers({"X-RateLimit-Reset": str(int(now) + 12)}, now) == 12
    assert retry_after_from_headers({"x-ratelimit-reset": "3"}, now) == 3
    assert retry_after_from_headers({}, now) is None


def test_status_classification():
    err = transient_for_status(429, "https://hf.co/x", {"Retry-After": "4"}, 0)
    assert isinstance(err, TransientError) and isinstance(err.error, RateLimited) and err.retry_after == 4
    assert isinstance(transient_for_status(503, "u", {}, 0).error, NetworkError)
    assert transient_for_status(404, "u", {}, 0) is None


def test_messages_name_the_server_that_answered():
    def message(status, url, **kw):
        return transient_for_status(status, url, {}, 0, **kw).error.message

    assert message(429, "https://hf.co/x").startswith("The Hub rate-limited")
    assert message(429, "model info of a/b").startswith("The Hub rate-limited")  # a Hub call's description
    assert message(429, "https://civitai.com/api/v1/models/1").startswith("Civitai rate-limited")
    assert message(429, "https://example.org/x").startswith("The server at example.org rate-limited")
    assert message(503, "http://127.0.0.1:9/x", server="Civitai").startswith("Civitai answered HTTP 503")


def test_full_jitter_is_bounded_and_honours_server_hint():
    r = Retrier(RetryConfig(base_delay=1, max_delay=8), clock=ManualClock(), rng=random.Random(1))
    for attempt in range(10):
        assert 0 <= r.delay(attempt, None) <= min(8, 2**attempt)
    assert r.delay(0, 5) == 5  # the server asks for longer than our jitter
    assert r.delay(0, 500) == 8  # but never longer than max_delay


def test_retries_transient_then_succeeds_waiting_retry_after():
    clock = ManualClock()
    calls = []

    def flaky():
        calls.append(clock.time())
        if len(calls) < 3:
            raise TransientError(RateLimited("slow down"), retry_after=2.0)
        return "ok"

    assert Retrier(clock=clock, rng=random.Random(0)).call(flaky) == "ok"
    assert len(calls) == 3
    assert all(s >= 2.0 for s in clock.sleeps)


def test_network_errors_are_retried_and_mapped_after_max_attempts():
    clock = ManualClock()
    attempts = []

    def down():
        attempts.append(1)
        raise httpx.ConnectError("connection refused")

    with pytest.raises(NetworkError, match="after 3 attempt"):
        Retrier(RetryConfig(max_attempts=3), clock=clock).call(down)
    assert len(attempts) == 3


def test_total_time_bound():
    clock = ManualClock()

    def always_429():
        raise TransientError(RateLimited("rate limited by the Hub"), retry_after=50)

    with pytest.raises(RateLimited, match="rate limited"):
        Retrier(RetryConfig(max_attempts=100, max_delay=60, max_total=120), clock=clock).call(always_429)
    assert sum(clock.sleeps) <= 120


@pytest.mark.parametrize("exc", [CircuitOpen("open"), HostNotAllowed("no"), ValueError("bug")])
def test_our_refusals_and_bugs_are_not_retried(exc):
    calls = []

    def fail():
        calls.append(1)
        raise exc

    with pytest.raises(type(exc)):
        Retrier(clock=ManualClock()).call(fail)
    assert calls == [1]
