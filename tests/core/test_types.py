"""One vocabulary for callbacks: progress and cancel types are declared once, in core/types.py.

Before issue 17 fifteen modules each declared their own ``ProgressFn``/``CancelledFn``, with two
incompatible meanings under one name (bytes of one stream vs. stage progress of a whole operation). This
test reads the source of every module and fails when a module declares a callback alias of one of those
shapes again, or annotates a ``progress``/``cancelled`` parameter with a raw ``Callable`` instead of
``ByteProgress``/``StageProgress``/``CancelCheck``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import comfyui_model_library
from comfyui_model_library.core import types
from tests.package_files import package_files

ROOT = Path(comfyui_model_library.__file__).resolve().parent
HOME = ROOT / "core" / "types.py"
SHAPES = {
    "Callable[[int], None]": "ByteProgress",
    "Callable[[int, int, str], None]": "StageProgress",
    "Callable[[], bool]": "CancelCheck",
    "Callable[[list[str], str], None]": "OnChanged",
    "Callable[[], None]": "WriteCheck",
}
CALLBACK_PARAMS = ("progress", "cancelled", "callback", "report")


def _modules() -> list[Path]:
    return [p for p in package_files(ROOT) if p.resolve() != HOME]


def _shape(node: ast.expr | None) -> str | None:
    """The callback shape an annotation or alias value spells, if it is one of the shared ones."""
    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a quoted annotation
        try:
            node = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return None
    text = ast.unparse(node).replace("collections.abc.", "").replace("typing.", "")
    for part in text.split(" | "):
        if part in SHAPES:
            return part
    return None


def offences(source: str) -> list[str]:
    """Where ``source`` declares or spells out one of the shared callback types itself."""
    found = []
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.Assign):
            value: ast.expr | None = node.value
            names = [ast.unparse(t) for t in node.targets]
        elif isinstance(node, ast.AnnAssign):
            value, names = node.value, [ast.unparse(node.target)]
        else:
            continue
        shape = _shape(value)
        if shape:
            found.append(f"line {node.lineno}: {', '.join(names)} = {shape} (use core.types.{SHAPES[shape]})")
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
                shape = _shape(arg.annotation)
                if shape and arg.arg.startswith(CALLBACK_PARAMS):
                    found.append(f"line {arg.lineno}: {node.name}({arg.arg}: {shape}) (use {SHAPES[shape]})")
    return found


def test_the_guard_sees_a_local_declaration() -> None:
    old = (
        "from collections.abc import Callable\n"
        "ProgressFn = Callable[[int, int, str], None]\n"
        "CancelledFn = Callable[[], bool]\n"
        "def f(progress: Callable[[int], None] | None = None) -> None: ...\n"
    )
    assert len(offences(old)) == 3
    assert offences("from .types import StageProgress\ndef f(progress: StageProgress) -> None: ...\n") == []


def test_callback_types_are_declared_only_in_core_types() -> None:
    modules = _modules()
    assert len(modules) > 50  # the walk really sees the package
    found = {
        str(p.relative_to(ROOT)): hits for p in modules if (hits := offences(p.read_text(encoding="utf-8")))
    }
    assert found == {}


def test_core_types_names_the_shared_shapes() -> None:
    source = HOME.read_text(encoding="utf-8")
    declared = {
        node.target.id: _shape(node.value)
        for node in ast.parse(source).body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    }
    assert declared == {name: shape for shape, name in SHAPES.items()}
    assert set(types.__all__) == set(SHAPES.values())
