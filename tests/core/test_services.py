"""The facade's structure: ``Library`` composes services typed by small Protocols, wired in one place.

These guard the shape, not behaviour: a mixin, a stub or a second wiring place coming back fails here.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import pytest

from comfyui_model_library.core.library import Library
from comfyui_model_library.core.services import base

CORE = Path(base.__file__).resolve().parents[1]

# Library attribute -> the Protocol that types it.
SERVICES: dict[str, type[Any]] = {
    "catalog": base.CatalogServiceBase,
    "imports": base.ImportServiceBase,
    "mapping": base.MappingServiceBase,
    "health": base.HealthServiceBase,
    "sources": base.SourceServiceBase,
    "hub": base.HubServiceBase,
    "adopt": base.AdoptServiceBase,
    "workflows": base.WorkflowServiceBase,
    "cache": base.CacheServiceBase,
}
# The service classes compose() builds; nothing else in core/ may construct one.
SERVICE_CLASSES = {
    "CatalogService",
    "ImportService",
    "MappingService",
    "HealthService",
    "SourceService",
    "HubService",
    "AdoptService",
    "WorkflowService",
    "CacheService",
}
# A process of its own opens the library the way the CLI does: the host's first walk runs in a child.
OPENS_THE_LIBRARY = {"sources/child.py"}


def _protocol_methods(protocol: type[Any]) -> list[str]:
    return [n for n, v in vars(protocol).items() if not n.startswith("_") and callable(v)]


def _parameters(fn: Any) -> list[tuple[str, Any, bool]]:
    return [
        (p.name, p.kind, p.default is inspect.Parameter.empty)
        for p in inspect.signature(fn).parameters.values()
        if p.name != "self"
    ]


def test_library_is_built_from_no_base_classes() -> None:
    """No mixins: nothing the facade does depends on the order of base classes."""
    assert Library.__bases__ == (object,)


def test_library_declares_no_service_method_itself() -> None:
    """The facade opens, closes and holds services; the work is the services' (no pass-through, no stub)."""
    own = {n for n, v in vars(Library).items() if callable(v) or isinstance(v, (classmethod, staticmethod))}
    lifecycle = {"__init__", "__enter__", "__exit__", "open", "rebuild_at", "close", "status"}
    lifecycle |= {"start_background", "housekeeping", "_lost_rows", "_daily_backup"}
    assert own <= lifecycle, f"Library grew methods a service should own: {sorted(own - lifecycle)}"


def test_every_service_implements_its_protocol(library: Library) -> None:
    """Each service has every member of its Protocol, with the same parameters (names, kinds, defaults),
    so a second implementation (another catalog backend) can be checked against the same contract."""
    for attr, protocol in SERVICES.items():
        service = getattr(library, attr)
        for name in getattr(protocol, "__annotations__", {}):  # attributes the glue sets or reads
            assert hasattr(service, name), f"library.{attr} ({type(service).__name__}) lacks {name}"
        for name in _protocol_methods(protocol):
            assert hasattr(service, name), f"library.{attr} ({type(service).__name__}) lacks {name}"
            assert _parameters(getattr(service, name)) == _parameters(getattr(protocol, name)), (
                f"library.{attr}.{name} differs from {protocol.__name__}.{name}"
            )


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = path.relative_to(CORE).parent.parts
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            parts = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join([*parts, node.module] if node.module else parts)
            names.append(module)
            names += [f"{module}.{a.name}" if module else a.name for a in node.names]
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return names


def _core_modules() -> list[Path]:
    return sorted(p for p in CORE.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_service_imports_the_facade() -> None:
    """Data flows one way: glue -> Library -> services. A service importing ``library`` would close a
    circle (and hand it the whole facade)."""
    offenders = []
    for path in _core_modules():
        rel = path.relative_to(CORE).as_posix()
        if rel == "library.py" or rel in OPENS_THE_LIBRARY:
            continue
        if any(
            name in {"library", "library.Library"} or name.endswith("core.library") for name in _imports(path)
        ):
            offenders.append(rel)
    assert not offenders, f"these core modules import the facade: {offenders}"


def test_services_are_wired_in_one_place() -> None:
    """Only core/services/compose.py constructs the library's services; the others receive what they need."""
    builders: dict[str, list[str]] = {}
    for path in _core_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in SERVICE_CLASSES
            ):
                builders.setdefault(path.relative_to(CORE).as_posix(), []).append(node.func.id)
    assert set(builders) == {"services/compose.py"}, f"services are built outside compose.py: {builders}"
    assert set(builders["services/compose.py"]) == SERVICE_CLASSES


@pytest.mark.parametrize("attr", sorted(SERVICES))
def test_the_services_share_one_catalog(library: Library, attr: str) -> None:
    """Wired once: every service that holds the catalog holds the library's own connection and repository."""
    service = getattr(library, attr)
    if hasattr(service, "db"):
        assert service.db is library.db
    if hasattr(service, "repo"):
        assert service.repo is library.repo
