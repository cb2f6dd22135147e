"""Route-shaped JSON for the browser tests, made from the real objects through the routes' own serialiser.

Where a test cannot reach the real answer (the Hub, a tripped circuit breaker), its ``page.route`` body is
built here from the core dataclasses (``RepoListing``, ``Job``, ``NetworkState``) and passed through
``server_routes._http.to_json``, exactly as the handlers do, so renaming or dropping a field breaks the
test instead of leaving it green against a shape the server no longer sends. Models, health and the
mapping preview are not faked at all: the tests serve a real library (``conftest.served`` /
``served_mapped``) and put it in the state they need with the helpers below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from comfyui_model_library.core.hf.client import RepoFile, RepoListing
from comfyui_model_library.core.jobs import Job
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import Model, Progress
from comfyui_model_library.core.net.breaker import NetworkState
from comfyui_model_library.server_routes._http import to_json
from tests import synth


def model_json(model: Model) -> dict[str, Any]:
    """A model as ``GET /models`` lists it."""
    data: dict[str, Any] = to_json(model)
    return data


def repo_files_json(repo_id: str, files: list[tuple[str, int, str | None]]) -> dict[str, Any]:
    """``GET /hf/repos/{repo_id}/files``: the handler returns ``RepoListing.to_dict()``."""
    listing = RepoListing(repo_id, "0" * 40, tuple(RepoFile(p, size, sha) for p, size, sha in files))
    data: dict[str, Any] = to_json(listing.to_dict())
    return data


def queued_job_json(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """``POST /hf/downloads``: 202 with ``{"job": Job.to_dict()}``."""
    job = Job(
        id="j1",
        kind=kind,
        state="queued",
        progress=Progress(0, 0, ""),
        queue="download",
        params=params,
        created_at="2025-01-01T00:00:00.000+00:00",
        updated_at="2025-01-01T00:00:00.000+00:00",
        resumable=True,
    )
    data: dict[str, Any] = to_json({"job": job})
    return data


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
    library.set_mapping_config({**library.mapping_config(), "mode": "direct"})
    [item] = library.import_paths([synth.write_family(incoming / "old.safetensors", "sd15_lora_kohya")])
    assert item.model is not None, item.error
    library.map_apply()
    library.model_file_path(item.model.id).unlink()
    return item.model


def conflicting_library(library: Library, incoming: Path, comfy: Path) -> list[Path]:
    """A direct mapping where two models' link paths are taken (a foreign file, a folder): two conflicts."""
    library.set_mapping_config({**library.mapping_config(), "mode": "direct"})
    loras = comfy / "models" / "loras"
    taken = [loras / "detail.safetensors", loras / "second.safetensors"]
    taken[0].write_bytes(b"someone else's file")
    taken[1].mkdir()
    for name, family in (("detail", "sdxl_lora_kohya"), ("second", "flux_lora_kohya")):
        [item] = library.import_paths([synth.write_family(incoming / f"{name}.safetensors", family)])
        assert item.model is not None, item.error
    return taken
