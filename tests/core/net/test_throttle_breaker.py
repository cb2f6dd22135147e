from __future__ import annotations

import pytest

from comfyui_model_library.core.errors import CircuitOpen
from comfyui_model_library.core.net.breaker import BreakerConfig, CircuitBreaker
from comfyui_model_library.core.net.clock import ManualClock
from comfyui_model_library.core.net.throttle import HostThrottle, ThrottleConfig, TokenBucket


def test_bucket_allows_a_burst_then_paces_at_the_rate():
    clock = ManualClock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.acquire() == pytest.approx(0.5)
    assert clock.sleeps == [pytest.approx(0.5)]
    clock.advance(10)  # refills, but never above the burst
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve() == pytest.approx(0.5)


def test_bucket_rejects_nonsense_configuration():
    with pytest.raises(ValueError, match="rate > 0"):
        TokenBucket(rate=0, burst=1)


def test_hosts_have_separate_buckets():
    clock = ManualClock()
    throttle = HostThrottle(ThrottleConfig(rate_per_second=1, burst=1), clock)
    assert throttle.acquire("huggingface.co") == 0
    assert throttle.acquire("cdn-lfs.hf.co") == 0
    assert throttle.acquire("HuggingFace.co") == pytest.approx(1.0)


def test_breaker_opens_after_three_failures_then_half_open_probe():
    clock = ManualClock()
    breaker = CircuitBreaker(BreakerConfig(failure_threshold=3, open_seconds=60), clock)
    for _ in range(2):
        breaker.before_request("hf.co")
        breaker.record_failure("hf.co", "ConnectError")
    breaker.before_request("hf.co")  # still closed after 2
    breaker.record_failure("hf.co", "ConnectError")
    state = breaker.state("hf.co")
    assert state.state == "open"
    assert state.open_until == pytest.approx(clock.time() + 60)
    with pytest.raises(CircuitOpen, match=r"hf\.co failed 3 times"):
        breaker.before_request("hf.co")

    clock.advance(60)
    assert breaker.state("hf.co").state == "half_open"
    breaker.before_request("hf.co")  # the one probe
    with pytest.raises(CircuitOpen):
        breaker.before_request("hf.co")  # a second caller waits for the probe
    breaker.record_failure("hf.co", "still down")
    assert breaker.state("hf.co").state == "open"  # a failed probe re-opens at once

    clock.advance(61)
    breaker.before_request("hf.co")
    breaker.record_success("hf.co")
    assert breaker.state("hf.co").state == "closed"
    assert breaker.hosts_status() == {}


def test_hosts_status_snapshot_for_the_offline_banner():
    clock = ManualClock()
    breaker = CircuitBreaker(clock=clock)
    breaker.record_failure("huggingface.co", "timeout")
    status = breaker.hosts_status()
    assert status["huggingface.co"]["state"] == "closed"
    assert status["huggingface.co"]["consecutive_failures"] == 1
    assert status["huggingface.co"]["last_failure"] == clock.time()
    assert status["huggingface.co"]["last_error"] == "timeout"
