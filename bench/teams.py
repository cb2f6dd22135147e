"""Teams benchmark (issue 18): the catalog on PostgreSQL against the SQLite catalog, same rows, same run.

Fills a fresh SQLite catalog and a fresh PostgreSQL database (a throwaway cluster on a Unix socket, from
Debian's postgresql package: tests/postgres_server.py) with the same synthetic models, then times the same
queries through each store's ``list`` (a page of 50 + its total, rows hydrated into Models):

    list        no text, sorted by name, pages deep into the catalog
    filtered    type=lora, no text
    prefix      "jugg"                      one word prefix
    two-term    "flux lora"                 two words, the last as a prefix
    type-ahead  "j", "ju", "jug", ...       successive prefixes of a real name
    text+type   type=lora + a prefix

Goal: PostgreSQL's p99 within 2x SQLite's for every kind at 100,000 models.

    python -m bench.teams [--rows 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

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
from tests.postgres_server import start_postgres

GOAL_RATIO = 2.0
Query = tuple[str, str | None]


def timed(store: CatalogStore, make: Callable[[Query], ModelQuery], items: list[Query]) -> list[float]:  # type: ignore[type-arg]
    samples = []
    for item in items:
        query = make(item)
        started = time.perf_counter()
        store.list(query)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def fill(store: CatalogStore, rows: int, label: str) -> None:  # type: ignore[type-arg]
    started = time.perf_counter()
    store.add_many(synthetic_models(rows))
    print(f"{label}: {rows:,} models added in {time.perf_counter() - started:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args(argv)
    server = start_postgres()
    if server is None:
        print("PostgreSQL is not installed here (Debian: apt-get install -y postgresql); nothing measured.")
        return 1
    try:
        with tempfile.TemporaryDirectory(prefix="bench-teams-") as tmp:
            sqlite_db = Database(Path(tmp) / "catalog.sqlite")
            migrate(sqlite_db)
            pg_db = PostgresDatabase(server.new_database())
            migrate_pg(pg_db)
            stores: dict[str, CatalogStore] = {
                "sqlite": ModelRepository(sqlite_db),
                "postgresql": PostgresCatalog(pg_db),
            }  # type: ignore[type-arg]
            for label, store in stores.items():
                fill(store, args.rows, label)
            with sqlite_db.read() as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            with pg_db.connection() as conn:
                conn.autocommit = True
                conn.execute("VACUUM ANALYZE")
                conn.autocommit = False
            names = [m.name for m in stores["sqlite"].list(ModelQuery(limit=500, sort="-added")).items]
            rng = random.Random(11)
            sets = query_sets(rng, names, args.queries)
            depth = max(1, args.rows // 50 - 1)
            kinds: dict[str, tuple[list[Query], Callable[[Query], ModelQuery]]] = {
                "list": (
                    [("", str(rng.randint(0, min(depth, 200)) * 50)) for _ in range(args.queries)],
                    lambda i: ModelQuery(sort="name", offset=int(i[1] or 0), limit=50),
                ),
                "filtered": ([("", "lora")] * args.queries, lambda i: ModelQuery(type=i[1], limit=50)),
                "prefix": (sets["prefix"], lambda i: ModelQuery(q=i[0], limit=50)),
                "two-term": (sets["two-term"], lambda i: ModelQuery(q=i[0], limit=50)),
                "type-ahead": (sets["type-ahead"], lambda i: ModelQuery(q=i[0], limit=50)),
                "text+type": (sets["filtered"], lambda i: ModelQuery(q=i[0], type=i[1], limit=50)),
            }
            print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {args.rows:,} models")
            print(
                f"{'kind':<11} {'sqlite p50':>10} {'p99':>7} {'pg p50':>8} {'p99':>7} {'pg/sqlite p99':>14}"
            )
            goals = []
            for kind, (items, make) in kinds.items():
                for store in stores.values():  # warm both
                    timed(store, make, items[:10])
                lite = timed(stores["sqlite"], make, items)
                pg = timed(stores["postgresql"], make, items)
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
            return 0 if print_goals(goals) else 1
    finally:
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
