"""The wheel holds every package of the tree: setuptools installs only the packages pyproject.toml lists,
so a new folder left out of that list works in the editable checkout and is missing from a real install
(core.adopt and core.records were)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.package_files import package_files

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("core", "cli", "server_routes", "nodes")


def _tree_packages() -> set[str]:
    found = {"comfyui_model_library"}
    for folder in [ROOT / "web", *(p for p in (ROOT / "web").rglob("*") if p.is_dir())]:
        # The panel's folders ship as data packages (listed, so setuptools does not warn about them).
        found.add(".".join(("comfyui_model_library", *folder.relative_to(ROOT).parts)))
    for top in SHIPPED:
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT)
            found.add(".".join(("comfyui_model_library", *rel.parts)))
    return found


def test_pyproject_lists_every_package_of_the_tree() -> None:
    """Python packages and the panel's folders alike."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    tree = _tree_packages()
    assert tree - listed == set(), "packages missing from [tool.setuptools] packages: a wheel would lack them"
    assert listed - tree == set(), "listed packages that do not exist"


def test_the_registry_package_holds_the_plugin_and_none_of_its_proof() -> None:
    """``comfy node pack`` zips the git-tracked files minus ``.comfyignore`` (gitignore patterns): the
    plugin, its panel, README and LICENSE go to users; tests, benches, docs and scripts do not."""
    import subprocess

    pathspec = pytest.importorskip("pathspec")
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    spec = pathspec.GitIgnoreSpec.from_lines((ROOT / ".comfyignore").read_text().splitlines())
    shipped = {f for f in tracked if not spec.match_file(f)}
    for folder in ("tests/", "bench/", "docs/", "scripts/", ".ci/"):
        assert not [f for f in shipped if f.startswith(folder)], folder
    needed = {str(p.relative_to(ROOT)) for p in package_files()} & set(tracked)
    needed |= {f for f in tracked if f.startswith("web/")} | {"pyproject.toml", "README.md", "LICENSE"}
    assert needed and needed <= shipped, sorted(needed - shipped)[:10]
