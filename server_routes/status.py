"""``GET /status``: version, library root, model count, running jobs, network state."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ._http import json_response, run
from ._router import Router
from .guards import Policy


def package_version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version

        for name in ("central-model-library", "comfyui-model-library"):  # the latter: before the rename
            try:
                return version(name)
            except PackageNotFoundError:
                continue
    except ImportError:
        pass
    return "unknown"  # loaded from custom_nodes/ without being pip-installed


def _network(library: Any) -> Any:
    """The per-host network state; status must answer even when the Hub side is not available."""
    network_status = getattr(getattr(library, "hub", None), "network_status", None)
    if network_status is None:
        return {"status": "unknown"}
    try:
        return network_status()
    except NotImplementedError:
        return {"status": "unknown"}


def add_routes(router: Router) -> None:
    ctx = router.ctx

    async def status(request: web.Request) -> web.Response:
        parts = await ctx.ensure()

        def collect() -> dict[str, Any]:
            data = dict(parts.library.status())
            data.setdefault("version", package_version())
            data.setdefault("library_root", str(parts.library.config.root))
            data["jobs_running"] = parts.runner.count("running")
            data["jobs_queued"] = parts.runner.count("queued")
            if "network" not in data:
                data["network"] = _network(parts.library)
            return data

        return json_response(await run(collect))

    router.add("GET", "/status", Policy.READ, status)
