"""Reading a ComfyUI ``extra_model_paths.yaml`` as plain dicts (ruamel.yaml's safe loader, imported on use).

Below both :mod:`.comfyui` (which folders the install names) and :mod:`.extra_paths` (our block in it).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidConfig

if TYPE_CHECKING:
    from ruamel.yaml import YAML


def safe_yaml() -> YAML:
    # Imported when a file is read: ruamel is about 2 MiB of a host's memory, most starts never need it.
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 1 << 16  # never fold a long path over two lines
    yaml.allow_unicode = True
    return yaml


def yaml_problem(exc: Exception) -> str:
    """ruamel's error as the user's editor shows it: the problem and the file's own line and column."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is None:
        return str(problem)
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"


def parse_document(text: str, path: Path) -> dict[str, Any]:
    from ruamel.yaml.error import YAMLError

    try:
        data = safe_yaml().load(text)
    except YAMLError as exc:
        raise InvalidConfig(
            f"{path} is not valid YAML ({yaml_problem(exc)}); fix it (its backup may be {path.name}.bak) "
            "and retry."
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidConfig(f"{path} must hold named sections at its top level; fix it and retry.")
    return data


def read_document(path: Path) -> dict[str, Any] | None:
    """The parsed file (plain dicts), or None when there is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidConfig(f"Cannot read {path} ({exc}); check the file and retry.") from exc
    return parse_document(text, path)
