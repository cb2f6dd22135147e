"""The package's own Python modules, as the wheel ships them: the top-level modules and the shipped
folders (pyproject.toml's package list; tests/test_packaging.py keeps the two equal). The structural
guard tests walk this list, so a build/ folder, a virtualenv or a stray checkout beside the code is
never taken for the package."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_FOLDERS = ("core", "cli", "server_routes", "nodes")


def package_files(root: Path = ROOT) -> list[Path]:
    """Every ``.py`` file of the package under ``root`` (the checkout), sorted."""
    files = [p for p in root.glob("*.py") if p.name != "conftest.py"]
    for folder in SHIPPED_FOLDERS:
        files += [p for p in (root / folder).rglob("*.py") if "__pycache__" not in p.parts]
    return sorted(files)
