"""The Hub client checks the shape of every answer at its boundary: a wrong one is UpstreamError."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.errors import UpstreamError
from comfyui_model_library.core.hf.client import HubClient
from tests.hub_server import HubServer, make_repo


@pytest.fixture
def hub() -> Iterator[HubServer]:
    server = HubServer([make_repo("acme/x", {"a.safetensors": b"x" * 100})])
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(hub: HubServer, tmp_path: Path) -> HubClient:
    return HubClient(load_config(tmp_path / "lib", hf_endpoint=hub.url))


@pytest.mark.parametrize("answer", [(200, [{"x": 1}]), (200, [1]), (200, [{"id": 5}])])
def test_search_results_without_ids(hub: HubServer, client: HubClient, answer: Any) -> None:
    hub.faults.odd_answers = {"search": answer}
    with pytest.raises(UpstreamError, match="unexpected shape"):
        client.search("acme")


@pytest.mark.parametrize(
    "answer", [(200, [{"path": 1}]), (200, [{"type": "file", "path": "a", "size": -1, "oid": "o"}])]
)
def test_paths_info_entries_without_path_or_size(hub: HubServer, client: HubClient, answer: Any) -> None:
    hub.faults.odd_answers = {"paths_info": answer}
    with pytest.raises(UpstreamError):
        client.paths_info("acme/x", ["a.safetensors"], "main")


def test_good_answers_still_read(client: HubClient) -> None:
    assert client.search("acme") == ["acme/x"]
    [entry] = client.paths_info("acme/x", ["a.safetensors"], "main")
    assert (entry.path, entry.size) == ("a.safetensors", 100)
    assert len(client.revision_sha("acme/x")) == 40
