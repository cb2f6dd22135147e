"""Real states for the browser tests, and route-shaped JSON made from real objects.

The browser tests do not hand-write the server's answers: models, health, the mapping preview, the Hub
file listing and download jobs come from the real app over a real library (``conftest.served``,
``served_mapped``, ``served_hub``), put in the state a test needs by the helpers below. The one answer a
test cannot reach for real (a tripped circuit breaker in ``/status``) is built from ``NetworkState`` and
the library's own ``status()`` through ``server_routes._http.to_json``, as the handler does, so a renamed
or dropped field breaks the test instead of leaving it green against a shape the server no longer sends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import Model
from comfyui_model_library.core.net.breaker import NetworkState
from comfyui_model_library.server_routes._http import to_json
from tests import synth


def status_json(library: Library, *, hub_open_circuit: bool) -> dict[str, Any]:
    """``GET /status`` with the network part as ``HubService.network_status`` shapes it."""
    state = NetworkState(
        host="huggingface.co",
        state="open" if hub_open_circuit else "closed",
        consecutive_failures=3 if hub_open_circuit else 0,
        last_error="connection refused" if hub_open_circuit else None,
    )
    hosts = {state.host: state}
    data = dict(library.status())
    data["network"] = {"hosts": hosts, "offline": any(h.state == "open" for h in hosts.values())}
    result: dict[str, Any] = to_json(data)
    return result


def broken_library(library: Library, incoming: Path) -> Model:
    """A direct mapping with one link left dangling (its model's file gone): health reports it broken."""
    library.mapping.set_config({**library.mapping.get_config(), "mode": "direct"})
    [item] = library.imports.import_paths(
        [synth.write_family(incoming / "old.safetensors", "sd15_lora_kohya")]
    )
    assert item.model is not None, item.error
    library.mapping.apply()
    library.catalog.model_file_path(item.model.id).unlink()
    return item.model


def conflicting_library(library: Library, incoming: Path, comfy: Path) -> list[Path]:
    """A direct mapping where two models' link paths are taken (a foreign file, a folder): two conflicts."""
    library.mapping.set_config({**library.mapping.get_config(), "mode": "direct"})
    loras = comfy / "models" / "loras"
    taken = [loras / "detail.safetensors", loras / "second.safetensors"]
    taken[0].write_bytes(b"someone else's file")
    taken[1].mkdir()
    for name, family in (("detail", "sdxl_lora_kohya"), ("second", "flux_lora_kohya")):
        [item] = library.imports.import_paths([synth.write_family(incoming / f"{name}.safetensors", family)])
        assert item.model is not None, item.error
    return taken
