"""The catalog is an index: a full disk is no damage, a lost or damaged catalog comes back, backups roll.

The full-disk tests run in a child process inside a user and mount namespace, on a real small tmpfs
filled to the last byte (SQLite then fails to grow its -shm/-wal files and reports "disk I/O error",
exactly as on a user's full drive). Damage is done to the real catalog file between real commands.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from comfyui_model_library.core.catalog.backup import backup_due, backups, backups_dir, take_backup
from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.catalog.diagnose import Problem, diagnose, integrity_ok
from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.errors import CatalogUnavailable
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import ModelQuery
from tests import synth
from tests.namespaces import run_in_mount_namespace

FULL_DISK = r"""
import json, os, subprocess, sys
from pathlib import Path
from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.errors import InsufficientSpace
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import ModelQuery
from tests import synth

tmp = Path(sys.argv[1])
disk = tmp / "disk"
disk.mkdir()
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "small", str(disk)], check=True)
out = {}
config = load_config(disk / "library", import_roots=(tmp,), free_space_margin=0)
synth.write_family(tmp / "a.safetensors", "sd15_loha")
src = tmp / "src"
src.mkdir()
synth.write_family(src / "b.safetensors", "sdxl_lora_kohya")
with Library.open(config) as library:
    model = library.imports.import_paths([tmp / "a.safetensors"], lookup=False)[0].model
    library.sources.add(src)
    out["id"] = model.id

def fill():
    with open(disk / "fill", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    os.sync()

other = tmp / "other"
other.mkdir()
fill()
library = Library.open(config)
out["read_only"] = library.db.read_only
out["listed"] = library.catalog.list_models(ModelQuery()).total
out["shown"] = library.catalog.get_model(out["id"]).name
out["sources"] = len(library.sources.list_sources())
for name, change in {
    "edit": lambda: library.catalog.edit_model(out["id"], notes="x"),
    "remove": lambda: library.catalog.remove_model(out["id"]),
    "add_source": lambda: library.sources.add(other),
}.items():
    try:
        change()
        out[name] = "done"
    except InsufficientSpace as exc:
        out[name] = str(exc)
library.close()
try:
    Library.rebuild_at(config)[0].close()
    out["rebuild"] = "done"
except InsufficientSpace as exc:
    out["rebuild"] = str(exc)
out["files"] = sorted(p.name for p in config.root.iterdir())
(disk / "fill").unlink()
with Library.open(config) as library:
    out["after_read_only"] = library.db.read_only
    library.catalog.edit_model(out["id"], notes="after")
    out["after_notes"] = library.catalog.get_model(out["id"]).notes
    out["after_listed"] = library.catalog.list_models(ModelQuery()).total
    out["after_sources"] = len(library.sources.list_sources())
subprocess.run(["umount", "-l", str(disk)], check=False)  # the namespace ends with us anyway
print(json.dumps(out))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="mount namespaces are Linux's")
def test_a_full_disk_keeps_reads_working_and_refuses_writes_without_setting_anything_aside(
    tmp_path: Path,
) -> None:
    done = run_in_mount_namespace(FULL_DISK, str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["read_only"] is True
    assert (out["listed"], out["shown"], out["sources"]) == (2, "a", 1)
    for change in ("edit", "remove", "add_source", "rebuild"):
        assert "is full" in out[change] and "Free at least" in out[change], (change, out[change])
        assert "do not rebuild" in out[change]
    assert not [name for name in out["files"] if ".corrupt-" in name], out["files"]
    assert out["after_read_only"] is False
    assert (out["after_notes"], out["after_listed"], out["after_sources"]) == ("after", 2, 1)


def _library_with(tmp_path: Path, names: list[str]) -> tuple[Path, list[str]]:
    incoming = tmp_path / "incoming"
    incoming.mkdir(exist_ok=True)
    config = load_config(tmp_path / "library", import_roots=(incoming,))
    ids = []
    with Library.open(config) as library:
        families = ("sd15_loha", "sdxl_lora_kohya", "flux_lora_kohya", "sd15_checkpoint")
        for name, family in zip(names, families):
            path = synth.write_family(incoming / f"{name}.safetensors", family)
            ids.append(library.imports.import_paths([path], lookup=False)[0].model.id)
    return config.root, ids


def _damage(catalog: Path, how: str) -> None:
    for companion in (catalog.with_name(catalog.name + "-wal"), catalog.with_name(catalog.name + "-shm")):
        companion.unlink(missing_ok=True)
    if how == "deleted":
        catalog.unlink()
    elif how == "zeroed":
        catalog.write_bytes(b"")
    elif how == "garbage":
        catalog.write_bytes(os.urandom(64 * 1024))
    elif how == "truncated":
        with open(catalog, "r+b") as fh:
            fh.truncate(catalog.stat().st_size // 2)
    else:
        raise AssertionError(how)


def _model_dirs(root: Path) -> int:
    return sum(1 for _ in (root / "models").rglob("metadata.json"))


@pytest.mark.parametrize("how", ["deleted", "zeroed", "garbage", "truncated"])
def test_a_lost_or_damaged_catalog_beside_models_is_rebuilt_and_never_taken_for_an_empty_library(
    tmp_path: Path, how: str
) -> None:
    root, ids = _library_with(tmp_path, ["epic", "other"])
    config = load_config(root, import_roots=(tmp_path / "incoming",))
    source = tmp_path / "nas"
    source.mkdir()
    with Library.open(config) as library:
        library.sources.add(source)
    for old in backups(backups_dir(root / "catalog.sqlite")):
        old.unlink()  # no backup: the rebuild comes from the files alone (metadata.json and records/)
    _damage(root / "catalog.sqlite", how)
    with Library.open(config) as library:
        assert sorted(m.id for m in library.catalog.list_models(ModelQuery()).items) == sorted(ids)
        assert [s["path"] for s in library.sources.list_sources()] == [str(source)]
        assert library.recovered and "Rebuilt" in library.recovered[0]
        again = library.imports.import_paths([tmp_path / "incoming" / "epic.safetensors"], lookup=False)[0]
        assert again.status == "duplicate"  # never a second copy
    assert _model_dirs(root) == 2
    if how != "deleted":  # the damaged file is kept, never deleted
        kept = [p for p in root.glob("catalog.sqlite.corrupt-*") if not p.name.endswith(("-wal", "-shm"))]
        assert len(kept) == 1


@pytest.mark.parametrize("how", ["deleted", "zeroed", "garbage"])
def test_the_newest_good_backup_comes_back_and_files_bring_it_up_to_date(tmp_path: Path, how: str) -> None:
    root, ids = _library_with(tmp_path, ["epic"])
    incoming = tmp_path / "incoming"
    config = load_config(root, import_roots=(incoming,))
    source = tmp_path / "nas"
    source.mkdir()
    with Library.open(config) as library:  # the second open takes the daily backup, source included
        library.sources.add(source)
        with library.db.read() as conn:
            take_backup(conn, library.db.path, backups_dir(library.db.path), "daily")
        later = synth.write_family(incoming / "later.safetensors", "sdxl_lora_kohya")
        ids.append(library.imports.import_paths([later], lookup=False)[0].model.id)  # after the backup
        library.catalog.edit_model(ids[0], notes="kept in metadata.json")
    newest = backups(backups_dir(root / "catalog.sqlite"))[0]
    newest_bytes = newest.read_bytes()
    _damage(root / "catalog.sqlite", how)
    with Library.open(config) as library:
        assert sorted(m.id for m in library.catalog.list_models(ModelQuery()).items) == sorted(ids)
        assert library.catalog.get_model(ids[0]).notes == "kept in metadata.json"
        assert [s["path"] for s in library.sources.list_sources()] == [str(source)]
        assert newest.name in library.recovered[0]
    assert newest.read_bytes() == newest_bytes  # restored from a copy: the backup itself is kept


def test_a_damaged_backup_is_skipped_for_an_older_good_one(tmp_path: Path) -> None:
    root, ids = _library_with(tmp_path, ["epic"])
    config = load_config(root, import_roots=(tmp_path / "incoming",))
    folder = backups_dir(root / "catalog.sqlite")
    with Library.open(config) as library, library.db.read() as conn:
        take_backup(conn, library.db.path, folder, "daily")
    bad = folder / "catalog-99999999T999999999999Z-daily.sqlite"
    bad.write_bytes(os.urandom(8192))
    _damage(root / "catalog.sqlite", "garbage")
    with Library.open(config) as library:
        assert [m.id for m in library.catalog.list_models(ModelQuery()).items] == ids
        assert bad.name not in library.recovered[0] and "Restored the backup" in library.recovered[0]
    assert bad.exists()


def test_rebuild_rebuilds_a_sound_catalog_in_place(tmp_path: Path) -> None:
    root, _ = _library_with(tmp_path, ["epic"])
    config = load_config(root, import_roots=(tmp_path / "incoming",))
    source = tmp_path / "nas"
    source.mkdir()
    with Library.open(config) as library:
        library.sources.add(source)
    library, report = Library.rebuild_at(config)
    with library:
        assert report["models"] == 1 and "notes" not in report
        assert [s["path"] for s in library.sources.list_sources()] == [str(source)]
    assert not list(root.glob("catalog.sqlite.corrupt-*"))


def test_an_io_error_on_a_sound_file_is_not_damage(tmp_path: Path) -> None:
    """'disk I/O error' with room on the disk and a file SQLite finds sound: unavailable, never corrupt
    (which would advise a rebuild that sets the healthy file aside)."""
    path = tmp_path / "catalog.sqlite"
    Database(path).close()
    assert integrity_ok(path) is True
    assert diagnose(path, sqlite3.OperationalError("disk I/O error")) is Problem.UNAVAILABLE
    assert diagnose(path, sqlite3.OperationalError("database or disk is full")) is Problem.SPACE
    path.write_bytes(b"SQLite format 3\0" + os.urandom(8192))
    assert integrity_ok(path) is False
    assert diagnose(path, sqlite3.OperationalError("disk I/O error")) is Problem.DAMAGED


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_catalog_is_reported_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    Database(path).close()
    path.chmod(0)
    try:
        with pytest.raises(CatalogUnavailable, match="not damaged"):
            Database(path)
    finally:
        path.chmod(0o600)
    assert not list(tmp_path.glob("*.corrupt-*"))


def test_backups_roll_daily_and_keep_three(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    db = Database(path)
    folder = backups_dir(path)
    try:
        assert backup_due(folder)
        made = []
        for _ in range(5):
            with db.read() as conn:
                made.append(take_backup(conn, path, folder, "daily"))
        assert not backup_due(folder)
        assert backup_due(folder, now=made[-1].stat().st_mtime + 25 * 3600)
        assert [p.name for p in backups(folder)] == [p.name for p in reversed(made[-3:])]
        assert all(integrity_ok(p) for p in backups(folder))
        assert not list(folder.glob(".partial-*"))
    finally:
        db.close()


def test_every_open_after_the_first_takes_at_most_one_backup_a_day(tmp_path: Path) -> None:
    root, _ = _library_with(tmp_path, ["epic"])
    config = load_config(root, import_roots=(tmp_path / "incoming",))
    for _ in range(3):
        Library.open(config).close()
    assert len(backups(backups_dir(config.catalog_path))) == 1


@pytest.mark.parametrize("how", ["deleted", "zeroed"])
def test_a_lost_catalog_of_a_library_holding_only_sources_is_rebuilt_from_its_records(
    tmp_path: Path, how: str
) -> None:
    """No model was imported, only a folder catalogued in place: a zeroed catalog is as lost as a
    deleted one (it was taken for a new library, the source vanished from view, and the next source
    added overwrote records/sources.json)."""
    root = tmp_path / "library"
    config = load_config(root, import_roots=(tmp_path,))
    source = tmp_path / "nas"
    source.mkdir()
    synth.write_family(source / "a.safetensors", "sd15_loha")
    with Library.open(config) as library:
        library.sources.add(source)
    _damage(root / "catalog.sqlite", how)
    with Library.open(config) as library:
        assert [s["path"] for s in library.sources.list_sources()] == [str(source)]
        assert library.recovered


def test_a_write_ahead_log_left_beside_a_deleted_catalog_is_kept_aside_not_replayed(tmp_path: Path) -> None:
    """SQLite replays a -wal it finds beside a database onto that file, whatever file it is: left
    beside a deleted catalog, it was replayed onto the restored backup (pages of another file)."""
    root, ids = _library_with(tmp_path, ["epic"])
    config = load_config(root, import_roots=(tmp_path / "incoming",))
    with Library.open(config) as library, library.db.read() as conn:
        take_backup(conn, library.db.path, backups_dir(library.db.path), "daily")
    crash = (
        "import os, sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA wal_autocheckpoint = 0')\n"
        "c.execute('CREATE TABLE intruder (x)'); c.commit(); os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", crash, str(root / "catalog.sqlite")], check=True)
    wal = root / "catalog.sqlite-wal"
    assert wal.stat().st_size > 0
    (root / "catalog.sqlite").unlink()  # the main file only: its -wal and -shm stay
    with Library.open(config) as library:
        assert [m.id for m in library.catalog.list_models(ModelQuery()).items] == ids
        with library.db.read() as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "intruder" not in tables
    assert [p.name for p in root.glob("catalog.sqlite.corrupt-*-wal")]  # kept, never deleted


READ_ONLY_DRIVE = r"""
import json, os, subprocess, sys
from pathlib import Path
from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.errors import ModelLibraryError
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import ModelQuery
from tests import synth

tmp = Path(sys.argv[1])
disk = tmp / "disk"
disk.mkdir()
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "small", str(disk)], check=True)
source = tmp / "nas"
source.mkdir()
synth.write_family(source / "a.safetensors", "sd15_loha")
config = load_config(disk / "library", import_roots=(tmp,))
with Library.open(config) as library:
    library.sources.add(source)
leave_shm = (
    "import os, sqlite3, sys; "
    "sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM sqlite_master'); os._exit(0)"
)
subprocess.run([sys.executable, "-c", leave_shm, str(config.catalog_path)], check=True)
subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
out = {}
with Library.open(config) as library:
    [model] = library.catalog.list_models(ModelQuery()).items
    try:
        library.catalog.edit_model(model.id, notes="x")
        out["edit"] = "made"
    except ModelLibraryError as exc:
        out["edit"] = [exc.code, exc.message]
    except Exception as exc:
        out["edit"] = ["raw", repr(exc)]
    out["notes"] = library.catalog.get_model(model.id).notes
print(json.dumps(out))
"""


def test_a_write_on_a_read_only_library_drive_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    """A drive remounted read-only (as ext4 does after errors) with the catalog's -shm left there: the
    catalog opens and reads, and a write raised a raw sqlite3.OperationalError."""
    done = run_in_mount_namespace(READ_ONLY_DRIVE, str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["edit"][0] == "catalog_unavailable", out["edit"]
    assert "read-only" in out["edit"][1] and "do not rebuild" in out["edit"][1]
    assert out["notes"] != "x"


BACKUP_SHORT_OF_SPACE = r"""
import json, logging, subprocess, sys
from pathlib import Path
from comfyui_model_library.core.catalog.backup import backups_dir, take_backup
from comfyui_model_library.core.catalog.db import Database

tmp = Path(sys.argv[1])
disk = tmp / "disk"
disk.mkdir()
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "small", str(disk)], check=True)
said = []
handler = logging.Handler()
handler.emit = lambda record: said.append(record.getMessage())
logging.getLogger("comfyui_model_library").addHandler(handler)
db = Database(disk / "catalog.sqlite")
with db.read() as conn:
    made = take_backup(conn, db.path, backups_dir(db.path), "daily")
db.close()
print(json.dumps({"made": str(made) if made else None, "said": said}))
"""


def test_a_backup_skipped_for_space_says_what_it_wants_free(tmp_path: Path) -> None:
    """It said '3948544 bytes free, the backup needs 229376' (the catalog's size, not what is wanted)."""
    done = run_in_mount_namespace(BACKUP_SHORT_OF_SPACE, str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["made"] is None
    [message] = [m for m in out["said"] if "backup skipped" in m]
    free, wanted = (int(w) for w in message.split() if w.isdigit())
    assert free < wanted, message
