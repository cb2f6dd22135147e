"""A model's record (metadata.json, or extras.json for a model catalogued in place) holds every change
the catalog made before it was written, whichever writer wrote last (red team #11: an enrich job's copy,
read before the user set a preview, dropped the preview from metadata.json)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from comfyui_model_library.core.catalog.model_records import ModelRecords
from comfyui_model_library.core.catalog.repository import ModelRepository
from comfyui_model_library.core.catalog.sidecar import SIDECAR_NAME
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.model_extras import Preview
from comfyui_model_library.core.models import Model
from comfyui_model_library.core.taxonomy import PreviewSource
from tests.synth import write_safetensors

from .conftest import make_model


class _PausingFinds(ModelRepository):
    """The real repository; the thread named "paused" stops right after reading a row, until the other
    writer is done or a short wait runs out (the other writer blocked on the model's lock)."""

    read = threading.Event()
    other_done = threading.Event()

    def find(self, model_id: str) -> Model | None:
        found = super().find(model_id)
        if threading.current_thread().name == "paused":
            self.read.set()
            self.other_done.wait(0.3)
        return found


def _record(root: Path, model: Model) -> dict[str, object]:
    if model.location == "library":
        path = root.joinpath(*model.rel_dir.split("/"), SIDECAR_NAME)
    else:
        path = root / "extras" / model.id / "extras.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _library_model(root: Path, repo: ModelRepository, name: str = "detail") -> Model:
    model = make_model(name)
    root.joinpath(*model.rel_dir.split("/")).mkdir(parents=True)
    repo.add(model)
    return model


def test_a_record_written_from_an_old_copy_keeps_the_change_made_since(
    tmp_path: Path, repo: ModelRepository
) -> None:
    records = ModelRecords(tmp_path, repo)
    model = _library_model(tmp_path, repo)
    enriched = repo.update(model.id, notes="from the site")  # the enrich job's copy
    picked = repo.update(model.id, favorite=True, preview=Preview(source=PreviewSource.USER, tag="p1"))
    records.write(picked)  # the user's change, written at once
    records.write(enriched, fetched={"civitai": {"id": 1}})  # the job writes last, from its older copy
    extras = _record(tmp_path, model)["extras"]
    assert isinstance(extras, dict)
    assert extras["favorite"] is True and extras["preview"]["tag"] == "p1"
    assert _record(tmp_path, model)["notes"] == "from the site"
    assert _record(tmp_path, model)["fetched"] == {"civitai": {"id": 1}}


def test_an_in_place_record_written_from_an_old_copy_keeps_the_change_made_since(
    tmp_path: Path, repo: ModelRepository
) -> None:
    records = ModelRecords(tmp_path, repo)
    model = make_model("in_place", location="source", rel_dir=str(tmp_path / "user" / "loras"))
    repo.add(model)
    old = repo.update(model.id, trigger_words=["neon"], manual_fields=["trigger_words"])
    records.write(repo.update(model.id, favorite=True))
    records.write(old)
    data = _record(tmp_path, model)
    assert data["trigger_words"] == ["neon"]
    assert isinstance(data["extras"], dict) and data["extras"]["favorite"] is True


def test_a_model_removed_before_its_record_is_written_gets_none(
    tmp_path: Path, repo: ModelRepository
) -> None:
    records = ModelRecords(tmp_path, repo)
    model = _library_model(tmp_path, repo)
    repo.delete(model.id)
    records.write(model)
    assert not tmp_path.joinpath(*model.rel_dir.split("/"), SIDECAR_NAME).exists()


def test_writers_at_once_leave_the_record_the_catalog_holds(tmp_path: Path, repo: ModelRepository) -> None:
    """Each writer changes the row, then writes the record from the copy the change returned; whatever
    the interleaving, the record written last is the row's final state."""
    model = _library_model(tmp_path, repo)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        records = ModelRecords(tmp_path, repo)  # one per service, as composed: the lock is shared
        try:
            start.wait()
            for i in range(40):
                records.write(repo.update(model.id, notes=f"writer {k}, change {i}", favorite=bool(i % 2)))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    final = repo.get(model.id)
    data = _record(tmp_path, model)
    assert data["notes"] == final.notes
    assert isinstance(data["extras"], dict) and data["extras"]["favorite"] is final.favorite


def test_a_writer_reading_the_row_holds_the_record_until_it_has_written(
    tmp_path: Path, repo: ModelRepository
) -> None:
    """Read the row, then write: no other writer's newer record may land between the two."""
    model = _library_model(tmp_path, repo)
    pausing = _PausingFinds(repo.db)
    records = ModelRecords(tmp_path, pausing)
    first = threading.Thread(
        target=records.write, args=(pausing.update(model.id, notes="first"),), name="paused"
    )
    first.start()
    assert pausing.read.wait(5)
    records.write(pausing.update(model.id, notes="second"))  # waits for the paused writer, then writes
    pausing.other_done.set()
    first.join()
    assert _record(tmp_path, model)["notes"] == "second"


def test_a_record_written_while_the_model_is_removed_does_not_bring_its_folder_back(
    library: Library, incoming: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Removing moves the folder to the trash, then deletes the row. A record written in between (an
    enrich job, a favourite set in that instant) read the row still there and wrote metadata.json into
    a folder made anew: a model folder with no model file, which a rebuild takes for a model."""
    from comfyui_model_library.core.services import catalog as catalog_service

    [item] = library.imports.import_paths(
        [write_safetensors(incoming / "m.safetensors", {"w": ("F16", (8,))}, {"seed": "1"})], lookup=False
    )
    assert item.model is not None
    model = item.model
    folder = library.config.root.joinpath(*model.rel_dir.split("/"))
    moved = catalog_service.move_to_trash
    writer: list[threading.Thread] = []

    def move_then_write(*args: object) -> Path:
        trashed = moved(*args)  # type: ignore[arg-type]
        thread = threading.Thread(target=library.catalog._records.write, args=(model,))
        writer.append(thread)
        thread.start()
        thread.join(0.5)  # it writes now, or waits for the removal to end
        return trashed

    monkeypatch.setattr(catalog_service, "move_to_trash", move_then_write)
    library.catalog.remove_model(model.id)
    writer[0].join(10)
    assert not writer[0].is_alive()
    assert not folder.exists()
