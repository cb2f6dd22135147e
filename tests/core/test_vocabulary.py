"""The vocabularies (core/taxonomy.py) are ``str`` Enums with the values core/models.py had as tuples.

The values are what JSON, the catalog and sidecars hold, so they must never change: the literal lists
below are the tuples as they were before issue 17. Members behave as the plain strings did (equality,
hashing, JSON, SQLite, ``str()``/f-strings), catalogue rows come back as members, and no module keeps a
local copy of a whole vocabulary as a literal tuple or set.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import comfyui_model_library
from comfyui_model_library.core import taxonomy
from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.catalog.migrations import migrate
from comfyui_model_library.core.catalog.repository import ModelRepository
from comfyui_model_library.core.jobs import Job
from comfyui_model_library.core.models import Hashes, Link, Model, ModelFile, ModelSource, Progress
from comfyui_model_library.core.taxonomy import (
    BaseModelType,
    FileFormat,
    JobState,
    LinkKind,
    LinkPurpose,
    Location,
    MatchKind,
    ModelFormat,
    ModelState,
    ModelType,
    PreviewSource,
    SecurityLevel,
    Site,
    Vocabulary,
)
from tests.package_files import package_files

ROOT = Path(comfyui_model_library.__file__).resolve().parent

BEFORE = {
    ModelType: (
        "checkpoint",
        "lora",
        "vae",
        "text_encoder",
        "diffusion_model",
        "controlnet",
        "clip_vision",
        "upscaler",
        "embedding",
        "style_model",
        "hypernetwork",
        "photomaker",
        "gligen",
        "ipadapter",
        "unknown",
    ),
    BaseModelType: (
        "sd15",
        "sd2",
        "sdxl",
        "sdxl_refiner",
        "sd3",
        "sd35",
        "flux1",
        "flux2",
        "auraflow",
        "pixart",
        "hunyuan_dit",
        "hunyuan_video",
        "ltxv",
        "mochi",
        "wan",
        "cosmos",
        "lumina2",
        "hidream",
        "chroma",
        "qwen_image",
        "stable_cascade",
        "kolors",
        "z_image",
        "svd",
        "unknown",
    ),
    ModelFormat: ("single-file", "diffusion-folder", "sharded-set"),
    FileFormat: ("safetensors", "gguf", "pickle", "zip-pickle", "onnx", "diffusers", "unknown"),
    SecurityLevel: ("safe", "unknown", "pickle"),
    Location: ("library", "source"),
    MatchKind: ("hash", "filename_exact", "filename_fuzzy", "manual", "none"),
    LinkKind: ("symlink", "hardlink", "copy"),
    LinkPurpose: ("mapping", "adopt", "workflow"),
    JobState: ("queued", "running", "done", "failed", "cancelled"),
    ModelState: ("ready", "missing"),
    Site: ("civitai", "huggingface"),
    PreviewSource: ("user", "output", "sidecar", "embedded", "civitai", "huggingface"),
}


def _vocabularies() -> list[type[Vocabulary]]:
    return [
        v
        for v in vars(taxonomy).values()
        if isinstance(v, type) and issubclass(v, Vocabulary) and v is not Vocabulary
    ]


def test_every_vocabulary_keeps_its_values_and_order() -> None:
    assert set(_vocabularies()) == set(BEFORE)
    for vocab, values in BEFORE.items():
        assert vocab.values() == values, vocab.__name__


@pytest.mark.parametrize("vocab", list(BEFORE), ids=lambda v: v.__name__)
def test_members_are_the_plain_strings(vocab: type[Vocabulary]) -> None:
    for member in vocab:
        value = member.value
        assert member == value and hash(member) == hash(value)
        assert str(member) == value and f"{member}" == value and f"{member:>3}" == f"{value:>3}"
        assert "%s" % member == value  # noqa: UP031
        assert json.dumps({"v": member}) == json.dumps({"v": value})
        assert ", ".join([member]) == value
        assert vocab.has(value) and vocab.parse(value) is member and vocab.of(value) is member
    assert not vocab.has("no such value") and not vocab.has(None) and vocab.parse("no such value") is None
    assert vocab.of("from a newer version") == "from a newer version"


def _model(**changes: object) -> Model:
    blake3 = "ab" * 32
    model = Model(
        id=blake3[:16],
        name="m",
        type=ModelType.LORA,
        base_model=BaseModelType.SDXL,
        format=ModelFormat.SINGLE_FILE,
        file_format=FileFormat.SAFETENSORS,
        security=SecurityLevel.SAFE,
        size=1,
        hashes=Hashes(blake3, "cd" * 32),
        files=(ModelFile("m.safetensors", 1, blake3, "cd" * 32),),
        rel_dir="lora/sdxl/m",
    )
    return model.replace(**changes)


def test_plain_strings_given_to_a_value_become_members() -> None:
    model = _model(type="vae", state="missing", location="source")
    assert type(model.type) is ModelType and model.type is ModelType.VAE
    assert model.state is ModelState.MISSING and model.location is Location.SOURCE
    assert ModelSource.from_dict({"match": "hash"}).match is MatchKind.HASH
    assert Link("/x", "symlink").kind is LinkKind.SYMLINK  # type: ignore[arg-type]
    job = Job(id="j", kind="import", state="done", progress=Progress(0, 0, ""))  # type: ignore[arg-type]
    assert job.state is JobState.DONE and job.finished
    assert json.dumps(model.to_dict())  # the JSON shape is made of plain strings again
    assert model.to_dict()["type"] == "vae" and json.loads(json.dumps(model.to_dict()))["state"] == "missing"


def test_catalog_rows_come_back_as_members_and_the_database_holds_plain_text(tmp_path: Path) -> None:
    db = Database(tmp_path / "catalog.db")
    try:
        migrate(db)
        repo = ModelRepository(db)
        repo.add(_model())
        back = repo.get(_model().id)
        assert type(back.type) is ModelType and back.type is ModelType.LORA
        assert back.base_model is BaseModelType.SDXL and back.state is ModelState.READY
        with db.read() as conn:
            row = conn.execute("SELECT type, typeof(type), state FROM models").fetchone()
        assert tuple(row) == ("lora", "text", "ready")
    finally:
        db.close()


def whole_vocabulary_literals(source: str) -> list[str]:
    """Tuples, sets or lists of string literals that spell out a whole vocabulary again."""
    full = {frozenset(v.values()): v.__name__ for v in _vocabularies()}
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Tuple | ast.Set | ast.List) and len(node.elts) >= 2:
            values = [e.value for e in node.elts if isinstance(e, ast.Constant)]
            if len(values) == len(node.elts) and frozenset(values) in full:
                found.append(f"line {node.lineno}: {values} (use {full[frozenset(values)]})")
    return found


def test_the_guard_sees_a_local_copy() -> None:
    assert whole_vocabulary_literals('MODEL_STATES = ("ready", "missing")\n') == [
        "line 1: ['ready', 'missing'] (use ModelState)"
    ]
    assert whole_vocabulary_literals('if kind in ("hardlink", "copy"): pass\n') == []  # a subset is logic


def test_no_module_spells_out_a_whole_vocabulary() -> None:
    modules = package_files(ROOT)
    assert len(modules) > 50
    found = {
        str(p.relative_to(ROOT)): hits
        for p in sorted(modules)
        if (hits := whole_vocabulary_literals(p.read_text(encoding="utf-8")))
    }
    assert found == {}
