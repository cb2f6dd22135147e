"""One answer to "is this path at or under that folder": ``core/io/paths.py``'s ``at_or_under`` and its two
named variants (names normalised, or links resolved); ``links/platform.inside_root`` builds on them.

Issue 17 found six private copies (``paths.at_or_under``, ``is_within``, ``platform.inside_root``,
``mapping/comfyui._under``, ``adopt/plan._within``, ``_host._is_within``), each with its own corner
cases. The last test reads the package and fails when a new copy is written by hand.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import comfyui_model_library
from comfyui_model_library.core.io.paths import at_or_under, is_within, lexically_at_or_under
from tests.package_files import package_files

ROOT = Path(comfyui_model_library.__file__).resolve().parent
HOME = ROOT / "core" / "io" / "paths.py"


@pytest.mark.parametrize(
    ("path", "folder", "expected"),
    [
        ("/lib/models", "/lib/models", True),  # the folder itself counts
        ("/lib/models/a/b.safetensors", "/lib/models", True),
        ("/lib/models/a", "/lib/models/", True),
        ("/lib/models2/a", "/lib/models", False),  # a shared string prefix is not containment
        ("/lib", "/lib/models", False),
        ("/anything", "/", True),
    ],
)
def test_at_or_under_compares_whole_folder_names(path: str, folder: str, expected: bool) -> None:
    assert at_or_under(path, folder) is expected
    assert lexically_at_or_under(path, folder) is expected


def test_the_lexical_variant_folds_dots_and_makes_paths_absolute(tmp_path: Path) -> None:
    assert lexically_at_or_under(f"{tmp_path}/views/../views/loras", tmp_path / "views")
    assert not lexically_at_or_under(f"{tmp_path}/views/../escape", tmp_path / "views")
    assert at_or_under(f"{tmp_path}/views/../escape", f"{tmp_path}/views")  # as given: normalise first
    assert lexically_at_or_under("relative/file", Path.cwd())


def test_only_is_within_follows_links(tmp_path: Path) -> None:
    (tmp_path / "views").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "views" / "loras").symlink_to(tmp_path / "elsewhere")
    linked = tmp_path / "views" / "loras" / "x.safetensors"
    assert lexically_at_or_under(linked, tmp_path / "views")  # by its name
    assert not is_within(linked, tmp_path / "views")  # by where it really is
    assert is_within(linked, tmp_path / "elsewhere")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    assert not is_within(tmp_path / "loop" / "x", tmp_path)  # a link loop is never inside


def hand_written_containment(source: str) -> list[int]:
    """Lines of ``source`` that test containment by hand: ``p.is_relative_to(r)``, ``commonpath([..]) ==
    r``, or ``p.startswith(r + os.sep)``."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        name = node.func.attr
        if name == "is_relative_to":
            lines.append(node.lineno)
        elif name == "startswith" and node.args and isinstance(node.args[0], ast.BinOp):
            if "sep" in ast.unparse(node.args[0].right):  # p.startswith(r + os.sep)
                lines.append(node.lineno)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and "commonpath(" in ast.unparse(node):
            lines.append(node.lineno)
    return sorted(lines)


def test_the_detector_sees_each_hand_written_form() -> None:
    source = (
        "import os\n"
        "a = p.is_relative_to(r)\n"
        "b = os.path.commonpath([p, r]) == r\n"
        "c = p.startswith(r + os.sep)\n"
        "d = os.path.commonpath([p, q])\n"  # a common folder, not a containment test
        "e = p.startswith('.')\n"
        "f = p.startswith(os.sep)\n"  # an absolute path, not containment
    )
    assert hand_written_containment(source) == [2, 3, 4]


def test_no_module_tests_containment_by_hand() -> None:
    found = []
    for path in package_files(ROOT):
        rel = path.relative_to(ROOT)
        if path == HOME:
            continue
        found += [f"{rel.as_posix()}:{line}" for line in hand_written_containment(path.read_text("utf-8"))]
    assert not found, (
        "use core.io.paths.at_or_under / lexically_at_or_under / is_within instead of: " + ", ".join(found)
    )
