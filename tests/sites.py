"""Building blocks of the fixtures of tests that talk to both loopback sites (tests/civitai_server.py,
tests/hub_server.py): a server running for the fixture's life, and a library that asks those two."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.library import Library
from tests.civitai_server import CivitaiServer
from tests.hub_server import HubServer
from tests.loopback import LoopbackServer

S = TypeVar("S", bound=LoopbackServer)


def serving(server: S) -> Iterator[S]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


def library_on_sites(tmp_path: Path, civitai: CivitaiServer, hub: HubServer) -> Iterator[Library]:
    """A library in ``tmp_path`` importing from ``tmp_path/incoming``, asking these two sites."""
    config = load_config(
        tmp_path / "library",
        import_roots=(tmp_path / "incoming",),
        civitai_endpoint=civitai.url,
        hf_endpoint=hub.url,
    )
    with Library.open(config) as lib:
        yield lib
