"""The network layer: host policy (SSRF guard, policy), throttle, retry, circuit breaker (breaker), the
guarded httpx transport (transport), the metadata cache (cache). Each piece is a small object with an
injectable clock (``clock.ManualClock`` in tests). Import the submodule you need: this package imports
nothing, so that the library starts without loading httpx."""
