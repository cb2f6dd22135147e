"""``pretty_json`` gives exactly the text of ``json.dumps(..., ensure_ascii=False, indent=2,
sort_keys=True)``."""

from __future__ import annotations

import enum
import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from comfyui_model_library.core.io.jsonfmt import pretty_json


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)


_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)


@given(_values)
def test_the_text_is_what_json_dumps_gives(value: Any) -> None:
    assert pretty_json(value) == _dumps(value)


class Kind(str, enum.Enum):
    LORA = "lora"


class Level(enum.IntEnum):
    HIGH = 3


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [Kind.LORA, Level.HIGH, None], "c": {"z": 'é\u2028\n"\\', "y": {}}, "d": []},
        {1: "int keys", 2: "sorted as ints, then written as text"},
        {"x": math.nan, "y": [math.inf, -math.inf, -0.0, 1e300, 5e-324]},
        {"sub": {"deep": [[[[]]]]}},
        [True, False, 0, -1, 10**30],
        "just text",
    ],
)
def test_values_json_must_judge_are_written_as_json_writes_them(value: Any) -> None:
    assert pretty_json(value) == _dumps(value)


def test_what_json_refuses_is_refused_the_same_way() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="Circular"):
        pretty_json(cycle)
    with pytest.raises(TypeError):
        pretty_json({"a": 1, 2: "mixed keys do not sort"})
    with pytest.raises(TypeError, match="not JSON serializable"):
        pretty_json({"a": object()})


class _Lazy(dict[str, Any]):
    """A mapping whose items() is its truth (json.dumps writes items(), not [] of each key)."""

    def __getitem__(self, key: str) -> Any:
        return "what [] gives"


class _Renamed(dict[str, Any]):
    def items(self) -> Any:
        return [("renamed", dict.__getitem__(self, "a"))]


def test_a_dict_subclass_is_written_from_its_items_as_json_writes_it() -> None:
    for value in (_Lazy(a=1, b=[2]), _Renamed(a=1), {"outer": _Lazy(z=True)}):
        assert pretty_json(value) == _dumps(value)
