"""core/workflows stays a pure reading layer: it imports nothing of the library's services or the host.

Resolution (``resolve*.py``) sits on top of the reading layer: it may read models through the catalog's
value types and the Hub's naming and host policy, still never a service, the facade or the host.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "core" / "workflows"
# What the reading layer may use from the rest of core: the error tree and two vocabularies of constants.
ALLOWED_CORE = {"errors", "mapping.config", "mapping.comfyui"}
RESOLUTION_CORE = ALLOWED_CORE | {"models", "taxonomy", "hf.naming", "net.policy", "mapping.categories"}
RESOLUTION_STDLIB = {"urllib", "difflib"}
# Fetching carries a check out through a Provider: it may add the callback types, never a store or client.
FETCH_CORE = RESOLUTION_CORE | {"types"}


def imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
        elif isinstance(node, ast.Import):
            found.extend((0, alias.name) for alias in node.names)
    return found


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_workflows_imports_only_the_stdlib_the_error_tree_and_itself(path: Path) -> None:
    resolution = path.name.startswith(("resolve", "fetch"))
    allowed = FETCH_CORE if path.name.startswith("fetch") else RESOLUTION_CORE
    for level, module in imports(path):
        if level == 1:
            continue  # a sibling in core/workflows
        if level == 2:
            assert module in (allowed if resolution else ALLOWED_CORE), f"{path.name} imports core.{module}"
        elif resolution and level == 0 and module.split(".")[0] in RESOLUTION_STDLIB:
            continue
        else:
            assert level == 0 and module.split(".")[0] in {
                "__future__",
                "collections",
                "dataclasses",
                "enum",
                "functools",
                "io",
                "json",
                "os",
                "pathlib",
                "re",
                "struct",
                "typing",
                "zlib",
            }, f"{path.name}: {module}"
    assert len(path.read_text().splitlines()) <= 400, f"{path.name} is over ~400 lines"
