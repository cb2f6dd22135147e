"""One library, several machines (issue 18): the models on one shared folder, their catalog on one
PostgreSQL database, each machine's own files (local catalog, records, views) in its own state folder.
Each "machine" here is a Library opened with its own state folder and name on the same share and server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from comfyui_model_library.core.config import LibraryConfig, catalog_setting, load_config
from comfyui_model_library.core.errors import CatalogCorrupt, InvalidConfig, InvalidInput, LibraryRelocated
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import ModelQuery
from tests.synth import write_family

Machine = Callable[[str], Library]


@pytest.fixture
def machine(tmp_path: Path, postgres_dsn: str) -> Iterator[Machine]:
    opened: list[Library] = []
    share = tmp_path / "share"

    def open_machine(name: str) -> Library:
        config = load_config(
            share,
            catalog=postgres_dsn,
            state_root=tmp_path / f"{name}-state",
            machine=name,
            import_roots=(tmp_path / "incoming",),
        )
        library = Library.open(config)
        opened.append(library)
        return library

    yield open_machine
    for library in opened:
        library.close()


def _lora(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_family(folder / name, "sdxl_lora_kohya")


def test_a_model_imported_on_one_machine_is_listed_on_the_other(machine: Machine, tmp_path: Path) -> None:
    a, b = machine("a"), machine("b")
    [item] = a.imports.import_paths([_lora(tmp_path / "incoming", "detail.safetensors")], lookup=False)
    assert item.status == "imported" and item.model is not None
    seen = b.catalog.get_model(item.model.id)
    assert seen.name == "detail"
    assert [m.id for m in b.repo.list(ModelQuery(q="detail")).items] == [item.model.id]
    assert (tmp_path / "share" / seen.rel_dir / "metadata.json").is_file()  # the truth, on the share
    # Each machine's own files stay off the share.
    assert not (tmp_path / "share" / "catalog.sqlite").exists()
    assert (tmp_path / "a-state" / "catalog.sqlite").is_file() and (
        tmp_path / "b-state" / "catalog.sqlite"
    ).is_file()
    assert a.config.tmp_dir == tmp_path / "share" / ".tmp" / "machines" / "a"
    status = b.status()
    assert (status["catalog"], status["machine"]) == ("postgresql", "b")
    assert "postgresql://" not in str(status)  # the URL (it may hold a password) is never shown


def test_two_machines_importing_the_same_bytes_at_once_get_one_model(
    machine: Machine, tmp_path: Path
) -> None:
    a, b = machine("a"), machine("b")
    source_a = _lora(tmp_path / "incoming" / "from-a", "same.safetensors")
    source_b = tmp_path / "incoming" / "from-b" / "same-too.safetensors"
    source_b.parent.mkdir(parents=True)
    source_b.write_bytes(source_a.read_bytes())
    barrier = threading.Barrier(2)
    results: dict[str, list[object]] = {}

    def run(name: str, library: Library, path: Path) -> None:
        barrier.wait()
        results[name] = list(library.imports.import_paths([path], lookup=False))

    threads = [
        threading.Thread(target=run, args=("a", a, source_a)),
        threading.Thread(target=run, args=("b", b, source_b)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    items = [results["a"][0], results["b"][0]]
    ids = {item.model.id for item in items if item.model is not None}  # type: ignore[attr-defined]
    assert len(ids) == 1, items
    assert sorted(item.status for item in items) == ["duplicate", "imported"]  # type: ignore[attr-defined]
    assert a.repo.count() == 1
    model_folders = [p.parent for p in (tmp_path / "share" / "models").rglob("metadata.json")]
    assert len(model_folders) == 1, model_folders
    # Both names the bytes came under find the one model.
    assert {m.id for m in b.repo.list(ModelQuery(q="same")).items} == ids
    # Neither machine left a stage behind, and each stages in its own folder.
    for name in ("a", "b"):
        stages = tmp_path / "share" / ".tmp" / "machines" / name
        assert not [p for p in stages.glob("*") if p.name.startswith("import-")], list(stages.glob("*"))


def test_a_rebuild_on_any_machine_restores_the_shared_catalog_from_the_share(
    machine: Machine, tmp_path: Path
) -> None:
    a = machine("a")
    [item] = a.imports.import_paths([_lora(tmp_path / "incoming", "kept.safetensors")], lookup=False)
    assert machine("b").recovered == []  # a machine joining the library rebuilds nothing
    a.repo.delete_all()  # a catalog emptied (a new server, a restored dump that missed it)
    c = machine("c")  # opening finds models on the share and none in the catalog: rebuilt
    assert item.model is not None and c.repo.get(item.model.id).name == "kept"
    assert any("rebuilt" in note for note in c.recovered), c.recovered


def test_folders_are_not_catalogued_in_place_on_a_shared_catalog(machine: Machine, tmp_path: Path) -> None:
    a = machine("a")
    folder = tmp_path / "incoming" / "loras"
    _lora(folder, "in-place.safetensors")
    with pytest.raises(InvalidInput, match="imported or adopted"):
        a.sources.add(folder)
    assert "skipped" in a.sources.add(folder, auto=True)  # the host's own folders: quietly left alone
    assert a.sources.list_sources() == []


def test_the_catalog_setting_is_sqlite_or_a_postgresql_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert catalog_setting(None) == catalog_setting("") == catalog_setting("SQLite") == "sqlite"
    assert catalog_setting("postgresql://team@db.lan/models") == "postgresql://team@db.lan/models"
    with pytest.raises(InvalidConfig) as caught:
        catalog_setting("mysql://team:s3cret@db.lan/models")
    assert "s3cret" not in str(caught.value)
    monkeypatch.setenv("MODEL_LIBRARY_CATALOG", "postgresql://team@db.lan/models")
    config: LibraryConfig = load_config(tmp_path / "lib")
    assert config.shared and config.catalog_path.parent != tmp_path / "lib"
    assert "db.lan" not in repr(config)  # a URL may hold a password: never in logs


def test_comfyuis_setting_names_the_catalog_but_never_holds_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ComfyUI serves its settings to anyone who can reach it: a URL with a password there is refused;
    MODEL_LIBRARY_CATALOG wins over the setting, as MODEL_LIBRARY_ROOT wins over the root's."""
    from comfyui_model_library._host import SETTING_CATALOG, catalog_override

    assert catalog_override({}) == {} and catalog_override({SETTING_CATALOG: "  "}) == {}
    assert catalog_override({SETTING_CATALOG: "postgresql://team@db.lan/models"}) == {
        "catalog": "postgresql://team@db.lan/models"
    }
    with pytest.raises(InvalidConfig, match="pgpass"):
        catalog_override({SETTING_CATALOG: "postgresql://team:s3cret@db.lan/models"})
    # libpq also takes the password as a parameter of the URL
    for hidden in (
        "postgresql://team@db.lan/models?password=s3cret",
        "postgresql:///m?user=t&password=s3cret",
    ):
        with pytest.raises(InvalidConfig, match="pgpass"):
            catalog_override({SETTING_CATALOG: hidden})
    with pytest.raises(InvalidConfig) as caught:  # libpq's key=value form is not taken, nor echoed
        catalog_override({SETTING_CATALOG: "host=db.lan password=s3cret dbname=models"})
    assert "s3cret" not in str(caught.value)
    monkeypatch.setenv("MODEL_LIBRARY_CATALOG", "postgresql://team@other/models")
    assert catalog_override({SETTING_CATALOG: "postgresql://team@db.lan/models"}) == {}


def test_a_change_on_one_machine_reaches_the_others_events_within_a_second(
    machine: Machine, tmp_path: Path
) -> None:
    """PostgreSQL LISTEN/NOTIFY: B's event bus (its panels, over the websocket) hears A's import, edit and
    removal, marked remote; A never hears its own changes back."""
    a, b = machine("a"), machine("b")
    heard: dict[str, list[dict[str, object]]] = {"a": [], "b": []}
    arrived = threading.Event()

    def listen(name: str) -> Callable[[str, dict[str, object]], None]:
        def on_event(event: str, data: dict[str, object]) -> None:
            if event == "changed" and data.get("remote"):
                heard[name].append(data)
                arrived.set()

        return on_event

    a.events.subscribe(listen("a"))
    b.events.subscribe(listen("b"))
    [item] = a.imports.import_paths([_lora(tmp_path / "incoming", "fresh.safetensors")], lookup=False)
    assert item.model is not None
    assert arrived.wait(1.0), "B heard nothing within a second"
    deadline = time.monotonic() + 1.0
    while not any(item.model.id in d["ids"] for d in heard["b"]) and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.02)
    assert any(item.model.id in d["ids"] and d["machine"] == "a" for d in heard["b"]), heard["b"]  # type: ignore[operator]
    arrived.clear()
    a.catalog.remove_model(item.model.id)  # to A's trash; gone from the shared catalog
    assert arrived.wait(1.0), "B heard nothing of the removal within a second"
    assert b.repo.find(item.model.id) is None
    assert heard["a"] == [], "a machine does not hear its own changes back"


def test_a_model_imported_on_one_machine_appears_in_the_others_comfyui_within_a_second(
    machine: Machine, tmp_path: Path
) -> None:
    """B maps the library into its ComfyUI (a view folder of its install on the share); a model A imports
    is linked there by B's mapping as soon as B hears of it, and unlinked when A removes it."""
    comfy = tmp_path / "b-ComfyUI"
    (comfy / "models" / "loras").mkdir(parents=True)
    (comfy / "comfyui_version.py").write_text('__version__ = "0.3.64"\n')
    a, b = machine("a"), machine("b")
    b.mapping.apply(comfy)
    [install] = b.mapping.installs()
    views = Path(install["views"])

    def linked() -> list[Path]:
        return sorted(p for p in views.rglob("*.safetensors") if p.is_symlink())

    [item] = a.imports.import_paths([_lora(tmp_path / "incoming", "everywhere.safetensors")], lookup=False)
    assert item.model is not None
    deadline = time.monotonic() + 1.0
    while not linked() and time.monotonic() < deadline:
        time.sleep(0.02)
    [link] = linked()
    assert link.name == "everywhere.safetensors"
    assert link.resolve() == (tmp_path / "share" / item.model.rel_dir / "everywhere.safetensors").resolve()
    a.catalog.remove_model(item.model.id)
    deadline = time.monotonic() + 1.0
    while linked() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert linked() == []


def test_a_hostile_row_from_another_machine_cannot_make_this_one_trash_outside_its_library(
    machine: Machine, tmp_path: Path
) -> None:
    """Anyone who can write the shared catalog (a compromised machine) names a folder outside the
    library in a row: removing that model here must not move that folder to the trash."""
    a = machine("a")
    [item] = a.imports.import_paths([_lora(tmp_path / "incoming", "bait.safetensors")], lookup=False)
    assert item.model is not None
    precious = tmp_path / "home" / "documents"
    precious.mkdir(parents=True)
    (precious / "thesis.txt").write_text("years of work")
    for hostile in ("../../home/documents", str(precious), "models/../../home/documents", "models", ""):
        a.repo.update(item.model.id, rel_dir=hostile)
        with pytest.raises(CatalogCorrupt, match="not inside the library"):
            a.catalog.remove_model(item.model.id)
        assert (precious / "thesis.txt").read_text() == "years of work"
    assert a.repo.find(item.model.id) is not None


def test_notes_holding_a_nul_character_are_refused(machine: Machine, tmp_path: Path) -> None:
    """Notes holding NUL were taken on a one-machine library and written to metadata.json, where a shared
    catalog (PostgreSQL cannot store NUL) then failed on them; the edit is refused on both."""
    a = machine("a")
    [item] = a.imports.import_paths([_lora(tmp_path / "incoming", "noted.safetensors")], lookup=False)
    assert item.model is not None
    with pytest.raises(InvalidInput, match="NUL"):
        a.catalog.edit_model(item.model.id, notes="before\x00after")
    assert a.catalog.edit_model(item.model.id, notes="fine").notes == "fine"


def test_a_metadata_json_holding_nul_does_not_stop_a_shared_rebuild(machine: Machine, tmp_path: Path) -> None:
    """One metadata.json holding NUL (written by a one-machine library before edits refused it): the
    shared catalog cannot store it, so that model is skipped with its reason, the others rebuilt."""
    import json

    a = machine("a")
    _lora(tmp_path / "incoming", "good.safetensors")
    odd_file = write_family(tmp_path / "incoming" / "odd.safetensors", "sd15_lora_kohya")
    imported = a.imports.import_paths([tmp_path / "incoming" / "good.safetensors", odd_file], lookup=False)
    odd = next(i.model for i in imported if i.model is not None and i.model.name == "odd")
    sidecar = tmp_path / "share" / odd.rel_dir / "metadata.json"
    data = json.loads(sidecar.read_text())
    data["notes"] = "pasted\x00binary"
    sidecar.write_text(json.dumps(data))
    report = a.catalog.rebuild()
    assert report["models"] == 1 and len(report["skipped"]) == 1


def test_a_rebuild_while_another_machine_imports_fails_neither(machine: Machine, tmp_path: Path) -> None:
    """Machines' adds wait for a rebuild to commit and then find what it catalogued (their own folder
    included: the import keeps it); a rebuild never fails on a model added meanwhile."""
    from tests.synth import FAMILIES, write_safetensors

    family = FAMILIES["sdxl_lora_kohya"]

    def unique_lora(name: str) -> Path:
        path = tmp_path / "incoming" / f"{name}.safetensors"
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_safetensors(path, family["tensors"], {**(family["metadata"] or {}), "k": name})

    a, b = machine("a"), machine("b")
    a.imports.import_paths([unique_lora(f"seed{i}") for i in range(100)], lookup=False)
    failures: list[str] = []
    done = threading.Event()

    def rebuild() -> None:
        while not done.is_set():
            try:
                a.catalog.rebuild()
            except Exception as exc:  # what the user sees: the rebuild failed
                failures.append(f"rebuild: {exc!r}")
                done.set()

    def imports() -> None:
        for i in range(60):
            if done.is_set():
                break
            try:
                [item] = b.imports.import_paths([unique_lora(f"new{i}")], lookup=False)
                if item.status != "imported":
                    failures.append(f"import: {item!r}")
            except Exception as exc:
                failures.append(f"import: {exc!r}")
        done.set()

    threads = [threading.Thread(target=rebuild), threading.Thread(target=imports)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    rows = list(a.repo.iter_all())
    assert all((tmp_path / "share" / m.rel_dir).is_dir() for m in rows)  # no row without its folder


def test_a_machine_started_without_the_shared_catalog_refuses_rather_than_drift(
    machine: Machine, tmp_path: Path
) -> None:
    a = machine("a")
    _lora(tmp_path / "incoming", "kept.safetensors")
    a.imports.import_paths([tmp_path / "incoming" / "kept.safetensors"], lookup=False)
    forgot = load_config(tmp_path / "share")  # MODEL_LIBRARY_CATALOG not set on this machine
    for opening in (lambda: Library.open(forgot), lambda: Library.rebuild_at(forgot)):
        with pytest.raises(InvalidConfig, match="MODEL_LIBRARY_CATALOG"):
            opening()
    assert not (tmp_path / "share" / "catalog.sqlite").exists()  # no second catalog on the share


def test_machines_are_told_apart_even_with_one_host_name(
    tmp_path: Path, postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cloned VMs are often all "ubuntu": each machine's name gets a suffix kept in its own state folder,
    so their staging folders never meet; MODEL_LIBRARY_MACHINE names one outright (made safe)."""
    share = tmp_path / "share"

    def config(state: str) -> LibraryConfig:
        return load_config(share, catalog=postgres_dsn, state_root=tmp_path / state)

    first, clone = config("vm1"), config("vm2")
    assert first.machine != clone.machine and first.tmp_dir != clone.tmp_dir
    assert config("vm1").machine == first.machine  # kept across starts
    for hostile, expected in (
        ("../../etc", "etc"),
        ("a/b", "a-b"),
        ("..", "machine"),
        ("röntgen", "r-ntgen"),
    ):
        monkeypatch.setenv("MODEL_LIBRARY_MACHINE", hostile)
        named = config("vm3")
        assert named.machine == expected and named.tmp_dir.parent == share / ".tmp" / "machines"


def test_machines_may_mount_the_share_at_different_paths(tmp_path: Path, postgres_dsn: str) -> None:
    """/mnt/models on one machine, /Volumes/models on another: each records the root it knows, so
    neither takes the library for moved; a machine whose own mount moves pauses its changes until its
    repair, the others never."""
    share = tmp_path / "share"
    elsewhere, later = tmp_path / "Volumes-models", tmp_path / "moved-mount"
    share.mkdir()
    elsewhere.symlink_to(share, target_is_directory=True)
    later.symlink_to(share, target_is_directory=True)

    def machine(name: str, root: Path) -> Library:
        return Library.open(
            load_config(root, catalog=postgres_dsn, state_root=tmp_path / f"{name}-state", machine=name)
        )

    with machine("a", share) as a, machine("b", elsewhere) as b:
        [item] = b.imports.import_paths([_lora(tmp_path / "incoming", "from-b.safetensors")], lookup=False)
        assert item.status == "imported"
        [item] = a.imports.import_paths([_lora(tmp_path / "incoming2", "from-a.safetensors")], lookup=False)
        assert item.status in ("imported", "duplicate")
        assert b.health.check().to_dict().get("relocated") in (None, False, {})
    with machine("b", later) as moved:
        with pytest.raises(LibraryRelocated):
            moved.imports.import_paths([_lora(tmp_path / "incoming3", "paused.safetensors")], lookup=False)
        moved.health.repair()
        [item] = moved.imports.import_paths([tmp_path / "incoming3" / "paused.safetensors"], lookup=False)
        assert item.status in ("imported", "duplicate")
    with machine("a", share) as a:  # A never moved: its changes were never paused
        assert a.repo.count() >= 1
        [item] = a.imports.import_paths([_lora(tmp_path / "incoming4", "still-a.safetensors")], lookup=False)
        assert item.status in ("imported", "duplicate")


def test_comfyuis_cache_settings_apply_unless_their_variables_are_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comfyui_model_library._host import SETTING_CACHE, SETTING_CACHE_BUDGET, cache_override

    settings = {SETTING_CACHE: str(tmp_path / "nvme"), SETTING_CACHE_BUDGET: "500G"}
    assert cache_override(settings) == {"cache_dir": tmp_path / "nvme", "cache_budget": 500 << 30}
    assert cache_override({}) == {} and cache_override({SETTING_CACHE: " "}) == {}
    with pytest.raises(InvalidConfig, match="MODEL_LIBRARY_CACHE_BUDGET"):
        cache_override({SETTING_CACHE_BUDGET: "lots"})
    monkeypatch.setenv("MODEL_LIBRARY_CACHE", str(tmp_path / "other"))
    monkeypatch.setenv("MODEL_LIBRARY_CACHE_BUDGET", "1G")
    assert cache_override(settings) == {}
