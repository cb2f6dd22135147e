"""Mapping rules: which ComfyUI category (and sub-folder, and link name) each library model appears under.

The file is ``<library>/mapping.json``::

    {"version": 1, "mode": "view", "allow_copy": false,
     "categories": {"checkpoint": "checkpoints", "lora": "loras", ...},       # type -> category defaults
     "rules": [{"match": {"type": ["lora"], "base_model": ["sdxl"],
                          "tags": {"all": [], "any": [], "none": ["nsfw"]},
                          "name": ["*detail*"], "format": ["single-file"], "comfyui_version": ">=0.3.50"},
                "category": "loras", "subfolder": "{base_model}/", "link_name": "{file_name}"}]}

The most specific matching rule wins (the number of conditions it states); ties go to the earlier rule.
User rules come before the defaults, so a user rule wins a tie. A rule whose ``category`` is ``""`` maps
nothing (an exclusion). Tag ``none`` is an exclusion: it wins over ``all``/``any``.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from ..errors import InvalidConfig, UnsafePath
from ..io.fileops import atomic_write_bytes
from ..io.paths import sanitize_component as sanitize_name
from ..io.paths import validate_component
from ..models import Model
from ..taxonomy import ModelFormat, ModelType
from .categories import MODEL_CATEGORIES

DEFAULT_CATEGORIES: Mapping[str, str] = {
    "checkpoint": "checkpoints",
    "lora": "loras",
    "vae": "vae",
    "text_encoder": "text_encoders",
    "diffusion_model": "diffusion_models",
    "controlnet": "controlnet",
    "clip_vision": "clip_vision",
    "upscaler": "upscale_models",
    "embedding": "embeddings",
    "style_model": "style_models",
    "hypernetwork": "hypernetworks",
    "photomaker": "photomaker",
    "gligen": "gligen",
}
DIFFUSERS_CATEGORY = "diffusers"
MODES = ("view", "direct")
TEMPLATE_FIELDS = ("base_model", "type", "name", "file_name", "stem", "ext", "id")
_FIELD_RE = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class Placement:
    """Where one model goes: ``<link root>/<category>/<subfolder>/<link name>``."""

    category: str
    subfolder: str = ""  # template, expanded by the planner
    link_name: str = ""  # template; "" = the model's file name (or folder name for multi-file models)


@dataclass(frozen=True)
class Rule:
    category: str
    types: tuple[str, ...] = ()
    base_models: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()
    tags_all: tuple[str, ...] = ()
    tags_any: tuple[str, ...] = ()
    tags_none: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    comfyui_version: str = ""
    subfolder: str = ""
    link_name: str = ""

    @property
    def specificity(self) -> int:
        conditions = (
            self.types,
            self.base_models,
            self.formats,
            self.tags_all,
            self.tags_any,
            self.tags_none,
        )
        return sum(1 for c in conditions if c) + bool(self.names) + bool(self.comfyui_version)

    def matches(self, model: Model, comfyui_version: str = "") -> bool:
        if self.types and model.type not in self.types:
            return False
        if self.base_models and model.base_model not in self.base_models:
            return False
        if self.formats and model.format not in self.formats:
            return False
        if self.tags_none or self.tags_all or self.tags_any:
            tags = {t.lower() for t in model.tags}
            if any(t.lower() in tags for t in self.tags_none):
                return False
            if not all(t.lower() in tags for t in self.tags_all):
                return False
            if self.tags_any and not any(t.lower() in tags for t in self.tags_any):
                return False
        if self.names and not _name_matches(self.names, model):
            return False
        return not self.comfyui_version or version_allowed(self.comfyui_version, comfyui_version)

    def to_dict(self) -> dict[str, Any]:
        match: dict[str, Any] = {}
        for key, value in (("type", self.types), ("base_model", self.base_models), ("format", self.formats)):
            if value:
                match[key] = list(value)
        tags = {
            k: list(v)
            for k, v in (("all", self.tags_all), ("any", self.tags_any), ("none", self.tags_none))
            if v
        }
        if tags:
            match["tags"] = tags
        if self.names:
            match["name"] = list(self.names)
        if self.comfyui_version:
            match["comfyui_version"] = self.comfyui_version
        d: dict[str, Any] = {"match": match, "category": self.category}
        if self.subfolder:
            d["subfolder"] = self.subfolder
        if self.link_name:
            d["link_name"] = self.link_name
        return d


def _name_matches(globs: tuple[str, ...], model: Model) -> bool:
    candidates = [model.name.lower()] + [f.path.rsplit("/", 1)[-1].lower() for f in model.files]
    return any(fnmatch.fnmatchcase(c, g.lower()) for g in globs for c in candidates)


@functools.lru_cache(maxsize=256)
def _specifier(text: str) -> SpecifierSet:
    return SpecifierSet(text)


def version_allowed(spec: str, version: str) -> bool:
    """The install version satisfies the PEP 440 ``spec``. An unknown version satisfies no constraint."""
    if not version:
        return False
    try:
        return Version(version) in _specifier(spec)
    except InvalidVersion:
        return False


@dataclass(frozen=True)
class MappingConfig:
    rules: tuple[Rule, ...] = ()
    categories: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_CATEGORIES))
    mode: str = "view"
    allow_copy: bool = False

    def effective_rules(self) -> tuple[Rule, ...]:
        defaults = [Rule(category=DIFFUSERS_CATEGORY, formats=("diffusion-folder",))]
        defaults += [Rule(category=c, types=(t,)) for t, c in self.categories.items()]
        return (*self.rules, *defaults)

    def used_categories(self) -> list[str]:
        found = {r.category for r in self.effective_rules() if r.category}
        return sorted(found)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "mode": self.mode,
            "allow_copy": self.allow_copy,
            "categories": dict(self.categories),
            "rules": [r.to_dict() for r in self.rules],
        }


def ordered_rules(config: MappingConfig) -> tuple[Rule, ...]:
    """Effective rules, most specific first, ties in file order (so the first match is the winner)."""
    rules = config.effective_rules()
    order = sorted(range(len(rules)), key=lambda i: (-rules[i].specificity, i))
    return tuple(rules[i] for i in order)


def resolve(ordered: tuple[Rule, ...], model: Model, comfyui_version: str = "") -> Placement | None:
    """The placement of the first matching rule of ``ordered_rules(...)``, or None if unmapped."""
    for rule in ordered:
        if rule.matches(model, comfyui_version):
            if not rule.category:
                return None
            return Placement(rule.category, rule.subfolder, rule.link_name)
    return None


# -- templates -------------------------------------------------------------------------------------------
def check_component(name: str, *, what: str = "name") -> str:
    """A single path component, portable to POSIX and Windows (the library's one validator)."""
    try:
        return validate_component(name)
    except UnsafePath as exc:
        raise UnsafePath(f"The {what} {name[:80]!r} cannot be used: {exc.message}") from exc


def sanitize_component(value: str) -> str:
    """Make a model field usable as one path component (values come from files and the Hub)."""
    return sanitize_name(value, fallback="_", max_bytes=200)


def template_values(model: Model, file_name: str) -> dict[str, str]:
    stem, dot, ext = file_name.rpartition(".")
    if not dot:
        stem, ext = file_name, ""
    return {
        "base_model": model.base_model,
        "type": model.type,
        "name": model.name,
        "file_name": file_name,
        "stem": stem,
        "ext": ext,
        "id": model.id,
    }


def expand(template: str, values: Mapping[str, str]) -> list[str]:
    """Expand a ``{field}`` template into validated path components (values sanitised first)."""
    text = _FIELD_RE.sub(lambda m: sanitize_component(values[m.group(1)]), template)
    return [check_component(part, what="path part") for part in text.split("/") if part]


def _validate_template(template: str, where: str) -> str:
    if not isinstance(template, str):
        raise InvalidConfig(f"{where} must be a string.")
    for name in _FIELD_RE.findall(template):
        if name not in TEMPLATE_FIELDS:
            raise InvalidConfig(
                f"{where}: unknown field {{{name}}}; use one of {', '.join(TEMPLATE_FIELDS)}."
            )
    if template.startswith("/") or "\\" in template:
        raise UnsafePath(f"{where} {template!r} must be a relative path with '/' separators.")
    sample = dict.fromkeys(TEMPLATE_FIELDS, "x")
    try:
        expand(template, sample)
    except UnsafePath as exc:
        raise UnsafePath(f"{where} {template!r} is not a safe relative path: {exc.message}") from exc
    return template


# -- loading and saving -----------------------------------------------------------------------------------
def _strings(value: Any, where: str, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidConfig(f"{where} must be a string or a list of strings.")
    if allowed is not None:
        for v in value:
            if v not in allowed:
                raise InvalidConfig(f"{where}: {v!r} is not one of {', '.join(allowed)}.")
    return tuple(value)


def _keys(d: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(d) - allowed
    if unknown:
        raise InvalidConfig(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}.")


def _category(value: Any, where: str, *, allow_empty: bool) -> str:
    if not isinstance(value, str) or (value not in MODEL_CATEGORIES and not (allow_empty and value == "")):
        raise InvalidConfig(
            f"{where}: {value!r} is not a ComfyUI model category ({', '.join(MODEL_CATEGORIES)})."
        )
    return value


def rule_from_dict(d: Any, where: str = "rule") -> Rule:
    if not isinstance(d, dict):
        raise InvalidConfig(f"{where} must be an object.")
    _keys(d, {"match", "category", "subfolder", "link_name"}, where)
    match = d.get("match", {})
    if not isinstance(match, dict):
        raise InvalidConfig(f"{where}.match must be an object.")
    _keys(match, {"type", "base_model", "format", "tags", "name", "comfyui_version"}, f"{where}.match")
    tags = match.get("tags", {})
    if not isinstance(tags, dict):
        raise InvalidConfig(f"{where}.match.tags must be an object with all/any/none lists.")
    _keys(tags, {"all", "any", "none"}, f"{where}.match.tags")
    spec = match.get("comfyui_version", "")
    if not isinstance(spec, str):
        raise InvalidConfig(f"{where}.match.comfyui_version must be a string like '>=0.3.50'.")
    if spec:
        try:
            _specifier(spec)
        except InvalidSpecifier as exc:
            raise InvalidConfig(
                f"{where}.match.comfyui_version {spec!r} is not a PEP 440 specifier."
            ) from exc
    return Rule(
        category=_category(d.get("category"), f"{where}.category", allow_empty=True),
        types=_strings(match.get("type", []), f"{where}.match.type", ModelType.values()),
        base_models=_strings(match.get("base_model", []), f"{where}.match.base_model"),
        formats=_strings(match.get("format", []), f"{where}.match.format", ModelFormat.values()),
        tags_all=_strings(tags.get("all", []), f"{where}.match.tags.all"),
        tags_any=_strings(tags.get("any", []), f"{where}.match.tags.any"),
        tags_none=_strings(tags.get("none", []), f"{where}.match.tags.none"),
        names=_strings(match.get("name", []), f"{where}.match.name"),
        comfyui_version=spec,
        subfolder=_validate_template(d.get("subfolder", ""), f"{where}.subfolder"),
        link_name=_validate_template(d.get("link_name", ""), f"{where}.link_name"),
    )


def mapping_from_dict(d: Any) -> MappingConfig:
    if not isinstance(d, dict):
        raise InvalidConfig("The mapping config must be a JSON object.")
    _keys(d, {"version", "mode", "allow_copy", "categories", "rules"}, "mapping")
    if d.get("version", 1) != 1:
        raise InvalidConfig(f"Mapping version {d.get('version')!r} is not supported (expected 1).")
    mode = d.get("mode", "view")
    if mode not in MODES:
        raise InvalidConfig(f"mapping.mode {mode!r} must be one of {', '.join(MODES)}.")
    allow_copy = d.get("allow_copy", False)
    if not isinstance(allow_copy, bool):
        raise InvalidConfig("mapping.allow_copy must be true or false.")
    categories = d.get("categories", dict(DEFAULT_CATEGORIES))
    if not isinstance(categories, dict):
        raise InvalidConfig("mapping.categories must be an object of model type -> ComfyUI category.")
    for t, c in categories.items():
        if not ModelType.has(t):
            raise InvalidConfig(
                f"mapping.categories: {t!r} is not a model type ({', '.join(ModelType.values())})."
            )
        _category(c, f"mapping.categories.{t}", allow_empty=False)
    rules = d.get("rules", [])
    if not isinstance(rules, list):
        raise InvalidConfig("mapping.rules must be a list.")
    return MappingConfig(
        rules=tuple(rule_from_dict(r, f"mapping.rules[{i}]") for i, r in enumerate(rules)),
        categories=dict(categories),
        mode=mode,
        allow_copy=allow_copy,
    )


def load_mapping(path: Path) -> MappingConfig:
    """The mapping at ``path``; the defaults when there is no file yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return MappingConfig()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidConfig(f"Cannot read the mapping config {path} ({exc}).") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidConfig(
            f"The mapping config {path} is not valid JSON (line {exc.lineno}: {exc.msg}); fix or delete it."
        ) from exc
    try:
        return mapping_from_dict(data)
    except InvalidConfig as exc:
        raise type(exc)(f"{path}: {exc.message}") from exc


def save_mapping(path: Path, config: MappingConfig) -> None:
    atomic_write_bytes(path, (json.dumps(config.to_dict(), indent=2, ensure_ascii=False) + "\n").encode())
