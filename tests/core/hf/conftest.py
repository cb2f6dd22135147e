from __future__ import annotations

import hashlib
import os
import random

import blake3
import pytest

from comfyui_model_library.core.config import LibraryConfig
from comfyui_model_library.core.hf.client import HubClient
from comfyui_model_library.core.net.clock import ManualClock
from comfyui_model_library.core.net.retry import Retrier, RetryConfig
from comfyui_model_library.core.net.transport import NetworkGuard, Timeouts
from tests.hub_server import HubServer, make_repo

# Deterministic: this module is imported twice (as the conftest and by tests that need the bytes).
BIG = random.Random(7).randbytes(3 * 1024 * 1024 + 12345)
SMALL = b'{"_class_name": "FluxPipeline"}'


def digests(data: bytes) -> tuple[str, str]:
    return hashlib.sha256(data).hexdigest(), blake3.blake3(data).hexdigest()


@pytest.fixture
def hub_server():
    server = HubServer(
        [
            make_repo(
                "acme/flux-dev",
                {
                    "flux1-dev-fp8.safetensors": BIG,
                    "README.md": b"# flux",
                },
                downloads=10,
            ),
            make_repo(
                "acme/flux-pipe",
                {
                    "model_index.json": SMALL,
                    "vae/config.json": b"{}",
                    "vae/diffusion_pytorch_model.safetensors": os.urandom(5000),
                    "vae/diffusion_pytorch_model.fp16.safetensors": os.urandom(2600),
                    "transformer/diffusion_pytorch_model-00001-of-00002.safetensors": os.urandom(4000),
                    "transformer/diffusion_pytorch_model-00002-of-00002.safetensors": os.urandom(3000),
                    "transformer/diffusion_pytorch_model.safetensors.index.json": b"{}",
                    "tokenizer/vocab.json": b"{}",
                },
            ),
        ]
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_hub(tmp_path):
    """make_hub(server, **config) -> HubClient with instant retries (manual clock) and short timeouts."""
    clients = []

    def make(server, *, read_timeout=5.0, max_attempts=4, token=None, clock=None, **overrides):
        clock = clock or ManualClock()
        config = LibraryConfig(root=tmp_path / "lib", hf_endpoint=server.url, hf_token=token, **overrides)
        guard = NetworkGuard.from_config(config, clock=clock)
        guard.timeouts = Timeouts(connect=2.0, read=read_timeout, write=5.0, pool=5.0)
        hub = HubClient(
            config,
            guard=guard,
            retrier=Retrier(RetryConfig(max_attempts=max_attempts), clock=clock),
            clock=clock,
        )
        clients.append(hub)
        return hub

    yield make
    for hub in clients:
        hub.close()
