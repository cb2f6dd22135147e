"""Teams benchmark (issue 18): the catalog on PostgreSQL against the SQLite catalog, same rows, same run.

Fills a fresh SQLite catalog and a fresh PostgreSQL database (a throwaway cluster on a Unix socket, from
Debian's postgresql package: tests/postgres_server.py) with the same synthetic models, then times the same
queries through each store's ``list`` (a page of 50 + its total, rows hydrated into Models):

    list        no text, sorted by name, pages deep into the catalog
    and every kind of bench/search: prefix, two-term, type-ahead, filtered (type + a prefix), base,
    favourites, sorted, listing (filters without text), substring (a word inside names)

Goal: PostgreSQL's p99 within 2x SQLite's for every kind at 100,000 models.

Then machines importing at once: one process ("machine", its own state folder) imports N small files into
a library on PostgreSQL, then three processes import N files each into the same library and database at
the same time. Reported: their combined throughput against the one machine's (the share here is a local
folder, so this measures the catalog and the commits, not a network).

    python -m bench.teams [--rows 100000] [--queries 200] [--files 1000] [--size 256K]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from comfyui_model_library.core.cache.budget import parse_budget
from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.catalog.migrations import migrate
from comfyui_model_library.core.catalog.postgres.database import PostgresDatabase
from comfyui_model_library.core.catalog.postgres.schema import migrate as migrate_pg
from comfyui_model_library.core.catalog.postgres.store import PostgresCatalog
from comfyui_model_library.core.catalog.repository import ModelRepository
from comfyui_model_library.core.catalog.store import CatalogStore
from comfyui_model_library.core.models import ModelQuery

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._table import goal, print_goals
from bench.search import percentile, query_sets, synthetic_models
from tests.postgres_server import PostgresServer, start_postgres

GOAL_RATIO = 2.0


def timed(store: CatalogStore, queries: list[ModelQuery]) -> list[float]:  # type: ignore[type-arg]
    samples = []
    for query in queries:
        started = time.perf_counter()
        store.list(query)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def fill(store: CatalogStore, rows: int, label: str) -> None:  # type: ignore[type-arg]
    started = time.perf_counter()
    store.add_many(synthetic_models(rows))
    print(f"{label}: {rows:,} models added in {time.perf_counter() - started:.1f} s")


_MACHINE = """
import sys, time
from pathlib import Path
from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.library import Library
share, dsn, name, folder = sys.argv[1:5]
config = load_config(share, catalog=dsn, state_root=Path(share).parent / f"{name}-state", machine=name)
with Library.open(config) as library:
    print("ready", flush=True)
    sys.stdin.readline()  # go
    started = time.perf_counter()
    items = library.imports.import_paths(sorted(Path(folder).iterdir()), lookup=False)
    took = time.perf_counter() - started
    bad = [i.error for i in items if i.status != "imported"]
    print(f"{took} {len(items) - len(bad)} {bad[:1]}", flush=True)
"""


def _small_files(folder: Path, count: int, size: int, seed: int) -> None:
    """``count`` distinct small safetensors LoRA-shaped files."""
    folder.mkdir(parents=True)
    rng = random.Random(seed)
    for i in range(count):
        header = json.dumps({"w": {"dtype": "U8", "shape": [size], "data_offsets": [0, size]}}).encode()
        header += b" " * (-len(header) % 8)
        body = rng.randbytes(size)
        (folder / f"m{seed}-{i:05d}.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + body)


def machines_importing(server: PostgresServer, tmp: Path, files: int, size: int) -> float:
    """Seconds for one machine alone, then for three at once: -> combined throughput ratio."""

    def run(share: Path, dsn: str, names: list[str]) -> tuple[float, int]:
        procs = []
        for name in names:
            folder = share.parent / f"incoming-{name}"
            _small_files(folder, files, size, seed=hash(name) % 10_000)
            proc = subprocess.Popen(
                [sys.executable, "-c", _MACHINE, str(share), dsn, name, str(folder)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            procs.append(proc)
        started = time.perf_counter()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        imported = 0
        for proc in procs:
            out, _ = proc.communicate(timeout=3600)
            _took, count, bad = out.strip().split(" ", 2)
            imported += int(count)
            if bad != "[]":
                print(f"  a machine's import failed: {bad}")
        return time.perf_counter() - started, imported

    one, one_count = run(tmp / "one" / "share", server.new_database(), ["solo"])
    three, three_count = run(tmp / "three" / "share", server.new_database(), ["a", "b", "c"])
    one_rate, three_rate = one_count / one, three_count / three
    print(f"\n{'machines importing':<22} {'files':>6} {'s':>7} {'files/s':>8}")
    print(f"{'one':<22} {one_count:>6} {one:>7.1f} {one_rate:>8.1f}")
    print(f"{'three at once':<22} {three_count:>6} {three:>7.1f} {three_rate:>8.1f}")
    ratio = three_rate / one_rate
    cpus = os.cpu_count()
    print(f"three machines' combined throughput = {ratio:.2f}x one machine's (all on {cpus} CPUs here)")
    return ratio


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--files", type=int, default=1000, help="small files per machine (0: skip)")
    parser.add_argument("--size", default="256K", help="bytes per small file (K/M suffix)")
    parser.add_argument("--skip-search", action="store_true")
    args = parser.parse_args(argv)
    server = start_postgres()
    if server is None:
        print("PostgreSQL is not installed here (Debian: apt-get install -y postgresql); nothing measured.")
        return 1
    try:
        with tempfile.TemporaryDirectory(prefix="bench-teams-") as tmp:
            ok = True
            if not args.skip_search:
                ok = search_bench(server, Path(tmp), args.rows, args.queries)
            if args.files:
                machines_importing(server, Path(tmp), args.files, parse_budget(args.size))
            return 0 if ok else 1
    finally:
        server.stop()


def search_bench(server: PostgresServer, tmp: Path, rows: int, queries: int) -> bool:
    """List and search p99 on both catalogs, same rows; -> all goals met."""
    sqlite_db = Database(Path(tmp) / "catalog.sqlite")
    migrate(sqlite_db)
    pg_db = PostgresDatabase(server.new_database())
    migrate_pg(pg_db)
    stores: dict[str, CatalogStore] = {
        "sqlite": ModelRepository(sqlite_db),
        "postgresql": PostgresCatalog(pg_db),
    }  # type: ignore[type-arg]
    for label, store in stores.items():
        fill(store, rows, label)
    with sqlite_db.read() as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with pg_db.connection() as conn:
        conn.autocommit = True
        # VACUUM sets a page all-visible (what index-only scans read: a walk of the name index reads no
        # row) only once its rows' commits are on disk, and the throwaway server commits asynchronously:
        # flushed first. And apart: a database-wide VACUUM ANALYZE left every table's pages unmarked.
        conn.execute("CHECKPOINT")
        conn.execute("VACUUM")
        conn.execute("ANALYZE")
        conn.autocommit = False
    names = [m.name for m in stores["sqlite"].list(ModelQuery(limit=500, sort="-added")).items]
    rng = random.Random(11)
    sets = query_sets(rng, names, queries)
    depth = max(1, rows // 50 - 1)
    kinds = {
        "list": [
            ModelQuery(sort="name", offset=rng.randint(0, min(depth, 200)) * 50) for _ in range(queries)
        ],
        **sets,
    }
    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {rows:,} models")
    print(f"{'kind':<11} {'sqlite p50':>10} {'p99':>7} {'pg p50':>8} {'p99':>7} {'pg/sqlite p99':>14}")
    goals = []
    for kind, items in kinds.items():
        for store in stores.values():  # warm both
            timed(store, items[:10])
        lite = timed(stores["sqlite"], items)
        pg = timed(stores["postgresql"], items)
        ratio = percentile(pg, 99) / percentile(lite, 99)
        print(
            f"{kind:<11} {percentile(lite, 50):>10.2f} {percentile(lite, 99):>7.2f} "
            f"{percentile(pg, 50):>8.2f} {percentile(pg, 99):>7.2f} {ratio:>13.2f}x"
        )
        goals.append(
            goal(
                f"{kind}: PostgreSQL p99 <= {GOAL_RATIO:g}x SQLite's",
                ratio <= GOAL_RATIO,
                f"{ratio:.2f}x",
            )
        )
    pg_db.close()
    sqlite_db.close()
    return print_goals(goals)


if __name__ == "__main__":
    raise SystemExit(main())
