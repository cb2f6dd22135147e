"""Search and rebuild benchmark for the catalog.

Fills a fresh catalog with synthetic models (realistic names, tags, types, bases, repo ids), then times
queries of these kinds through ``ModelRepository.list`` (page of 50 + total, rows hydrated into Models):

    prefix      "jugg"                      one word prefix
    two-term    "flux lora"                 two words, the last as a prefix
    type-ahead  "j", "ju", "jug", ...       successive prefixes of a real name
    filtered    type=lora + a prefix        (the commonest type: the filter narrows least)
    base        base_model=sdxl + a prefix
    favourites  favorite + a prefix         (about 3% of models are favourites)
    sorted      a prefix sorted by name, -size or -used
    listing     no text: a type, a base or favourites, sorted by name, -size, -added or -used
    substring   "ernaut", a piece from inside a word (the index finds nothing: the name scan does)

The baseline, measured in the same run on the same rows, is what a catalog without FTS would do: a
``name LIKE '%q%'`` scan (the indexes serve filters and the sort) for the same page and its count.
Then it writes one metadata.json per model (plus a sparse model file) and times ``rebuild_catalog``
over them.

Goal per kind: p99 under 10 ms at 100,000 models (50 ms past that, up to 1,000,000), and a p99 no
slower than the baseline's.

    python bench/search.py                 # 100,000 rows (about two minutes)
    python bench/search.py --rows 1000000 --rebuild-rows 0 --catalog /tmp/1m.sqlite   # kept for reruns
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.catalog.migrations import migrate
from comfyui_model_library.core.catalog.rebuild import rebuild_catalog
from comfyui_model_library.core.catalog.repository import ModelRepository
from comfyui_model_library.core.catalog.sidecar import SIDECAR_NAME, sidecar_dict
from comfyui_model_library.core.models import Hashes, Model, ModelFile, ModelQuery, ModelSource

GOAL_P99_MS = 10.0  # at 100,000 models
GOAL_P99_MS_LARGE = 50.0  # past 100,000, up to 1,000,000
GOAL_REBUILD_S = 30.0
TEMPLATE_SIZE = 6_938_365_952


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


WORDS = _words(
    "juggernaut realvis dreamshaper pony animagine epicrealism flux photon deliberate revanimated "
    "absolutereality majicmix chilloutmix counterfeit anything meina cyberrealistic zavychroma "
    "copax crystal clarity detail tweaker add more lighting portrait anime style cinematic film "
    "pixel art watercolor sketch lineart ghibli cyberpunk fantasy landscape architecture interior "
    "product food vintage analog polaroid neon noir hyper real skin texture eyes hands body pose "
    "turbo lightning hyper schnell dev pro ultra rundiffusion photo diffusion unet refiner vae "
    "controlnet canny depth openpose tile inpaint upscaler esrgan ultrasharp remacri siax"
)
TAGS = _words(
    "style character concept clothing pose background anime realistic photo art nsfw sfw detail "
    "lighting portrait landscape architecture vehicle animal food fantasy scifi horror cute "
    "painting sketch 3d pixel slider tool"
)
TYPES = ("lora",) * 12 + ("checkpoint",) * 4 + ("vae", "controlnet", "upscaler", "embedding", "text_encoder")
BASES = ("sdxl",) * 6 + ("sd15",) * 5 + ("flux1",) * 4 + ("sd35", "wan", "chroma")
AUTHORS = _words(
    "alice bob civitai runwayml stabilityai black-forest-labs lykon rundiffusion xlabs-ai city96"
)


def _camel(word: str, rng: random.Random) -> str:
    return word.capitalize() if rng.random() < 0.5 else word


def synthetic_name(rng: random.Random) -> str:
    """Names shaped like real ones: 'juggernautXL_v9_RunDiffusionPhoto2', 'add-detail-xl', 'flux_lora'."""
    first = rng.choice(WORDS)
    parts = [first + rng.choice(("", "", "XL", "SD", "Pony", "Flux", str(rng.randint(1, 9))))]
    for _ in range(rng.randint(0, 2)):
        parts.append(_camel(rng.choice(WORDS), rng) + rng.choice(("", "", str(rng.randint(1, 20)))))
    parts.append(rng.choice(("v", "V", "v1.", "")) + str(rng.randint(1, 12)))
    return rng.choice(("_", "-", "_", " ")).join(parts)


def synthetic_models(n: int, seed: int = 7) -> Iterator[Model]:
    rng = random.Random(seed)
    for i in range(n):
        blake3 = hashlib.blake2b(f"b{seed}-{i}".encode(), digest_size=32).hexdigest()
        sha256 = hashlib.blake2b(f"s{seed}-{i}".encode(), digest_size=32).hexdigest()
        name = synthetic_name(rng)
        mtype, base = rng.choice(TYPES), rng.choice(BASES)
        size = rng.randint(10_000_000, 7_000_000_000)
        folder = f"models/{mtype}/{base}/{name.replace(' ', '_')}-{blake3[:8]}"
        repo = (
            f"{rng.choice(AUTHORS)}/{rng.choice(WORDS)}-{rng.choice(WORDS)}" if rng.random() < 0.6 else None
        )
        yield Model(
            id=blake3[:16],
            name=name,
            type=mtype,
            base_model=base,
            format="single-file",
            file_format="safetensors",
            security="safe",
            size=size,
            hashes=Hashes(blake3, sha256),
            files=(ModelFile(f"{name.replace(' ', '_')}.safetensors", size, blake3, sha256),),
            rel_dir=folder,
            source=ModelSource(kind="huggingface" if repo else "local", repo_id=repo, match="hash"),
            tags=tuple(rng.sample(TAGS, rng.randint(0, 4))),
            notes=rng.choice(("", "", "", "trigger word: " + rng.choice(WORDS))),
            added_at=f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T12:00:00+00:00",
            metadata={"ss_network_dim": str(rng.choice((8, 16, 32, 64)))},
            # From the hash, not ``rng``: the names stay those of earlier runs.
            favorite=int(blake3[:2], 16) < 8,
            used_at=f"2025-01-{int(blake3[2:4], 16) % 28 + 1:02d}T12:00:00+00:00" if blake3[4] < "3" else "",
        )


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def time_calls(
    fn: Callable[[ModelQuery], object], inputs: list[ModelQuery]
) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds per call (CPU shows the query's own cost on a busy machine)."""
    wall, cpu = [], []
    for query in inputs:
        started, started_cpu = time.perf_counter(), time.thread_time()
        fn(query)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
    return wall, cpu


def query_sets(rng: random.Random, names: list[str], n: int) -> dict[str, list[ModelQuery]]:
    long_words = [w for w in WORDS if len(w) >= 5]

    def prefix() -> str:
        return rng.choice(long_words)[: rng.randint(2, 5)]

    ahead: list[ModelQuery] = []
    while len(ahead) < n:
        name = rng.choice(names)
        ahead += [ModelQuery(q=name[:k]) for k in range(1, min(len(name), 14) + 1)]
    inner = [w[1:-1] for w in long_words if len(w) >= 8]  # "uggernau": inside a word, never a prefix
    listing_filters: list[dict[str, object]] = [
        {"type": "lora"},
        {"type": "checkpoint"},
        {"type": "vae"},
        {"base_model": "sdxl"},
        {"base_model": "wan"},
        {"favorite": True},
        {},
    ]
    return {
        "prefix": [ModelQuery(q=rng.choice(long_words)[: rng.randint(3, 5)]) for _ in range(n)],
        "two-term": [
            ModelQuery(q=f"{rng.choice(WORDS)} {rng.choice(WORDS)[: rng.randint(2, 6)]}") for _ in range(n)
        ],
        "type-ahead": ahead[:n],
        "filtered": [ModelQuery(q=prefix(), type="lora") for _ in range(n)],
        "base": [ModelQuery(q=prefix(), base_model="sdxl") for _ in range(n)],
        "favourites": [ModelQuery(q=prefix(), favorite=True) for _ in range(n)],
        "sorted": [ModelQuery(q=prefix(), sort=rng.choice(("name", "-size", "-used"))) for _ in range(n)],
        "listing": [
            ModelQuery(
                sort=rng.choice(("name", "-size", "-added", "-used")),
                **rng.choice(listing_filters),  # type: ignore[arg-type]
            )
            for _ in range(n)
        ],
        "substring": [ModelQuery(q=rng.choice(inner)[: rng.randint(4, 7)]) for _ in range(n)],
    }


# The baseline's ORDER BY per sort (relevance without an index: by name).
_BASE_ORDER = {
    "relevance": "name COLLATE NOCASE",
    "name": "name COLLATE NOCASE",
    "-size": "size DESC",
    "-added": "added_at DESC",
    "-used": "used_at DESC",
}


def run_search_bench(rows: int, queries: int, workdir: Path, catalog: Path | None = None) -> bool:
    """``catalog``: a file kept between runs (filled on the first, migrated on later ones)."""
    reuse = catalog is not None and catalog.exists()
    db = Database(catalog or workdir / "catalog.sqlite", check=not reuse)
    started = time.perf_counter()
    ran = migrate(db)
    if ran and reuse:
        print(f"migrated the kept catalog ({', '.join(ran)}) in {time.perf_counter() - started:.1f} s")
    repo = ModelRepository(db)
    if reuse:
        print(f"reusing {catalog} ({repo.count():,} models)")
    else:
        started = time.perf_counter()
        repo.add_many(synthetic_models(rows))
        print(f"inserted {rows:,} models in {time.perf_counter() - started:.1f} s (add_many)")
    with db.read() as conn:  # steady state, as after a restart: the bulk insert's WAL folded back
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    names = [r[0] for r in db.execute_read("SELECT name FROM models ORDER BY random() LIMIT 2000")]
    sets = query_sets(random.Random(11), names, queries)

    def baseline(query: ModelQuery) -> None:
        clauses, params = (["name LIKE ?"], [f"%{query.q}%"]) if query.q else ([], [])
        for column in ("type", "base_model"):
            if getattr(query, column) is not None:
                clauses.append(f"{column} = ?")
                params.append(getattr(query, column))
        if query.favorite:
            clauses.append("favorite = 1")
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        with db.read() as conn:
            conn.execute(
                f"SELECT * FROM models{where} ORDER BY {_BASE_ORDER[query.sort]} LIMIT 50", params
            ).fetchall()
            conn.execute(f"SELECT count(*) FROM models{where}", params).fetchone()

    goal = GOAL_P99_MS if repo.count() <= 100_000 else GOAL_P99_MS_LARGE
    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(
        f"{'kind':<11} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'cpu p99':>8} {'base p50':>9} {'base p99':>9} "
        f"{'p50 x':>7} {'p99 x':>7}  goal p99<{goal:g}ms"
    )
    ok = True
    for kind, items in sets.items():
        ours, ours_cpu = time_calls(repo.list, items)
        base, _ = time_calls(baseline, items[: max(50, len(items) // 5)])  # a slow full scan: a fifth will do
        p50, p99, b50, b99 = (
            percentile(ours, 50),
            percentile(ours, 99),
            percentile(base, 50),
            percentile(base, 99),
        )
        verdict = "PASS" if p99 < goal and b99 >= p99 else "FAIL"  # and at least as fast as the baseline
        ok &= verdict == "PASS"
        print(
            f"{kind:<11} {len(ours):>5} {p50:>8.2f} {p99:>8.2f} {percentile(ours_cpu, 99):>8.2f} {b50:>9.2f} "
            f"{b99:>9.2f} {b50 / p50:>6.1f}x {b99 / p99:>6.1f}x  {verdict}"
        )
    sample = repo.list(ModelQuery(q="jugg"))
    print(f"\n'jugg': total={sample.total} first={[m.name for m in sample.items[:3]]}")
    db.close()
    return ok


def run_rebuild_bench(rows: int, workdir: Path) -> bool:
    root = workdir / "library"
    started = time.perf_counter()
    for i, model in enumerate(synthetic_models(rows, seed=13)):
        if i % 60_000 == 0:  # each present model file is a hard link to a sparse file (ext4: < 65,000 links)
            template = workdir / f"weights-{i}.bin"
            with open(template, "wb") as fh:
                fh.truncate(TEMPLATE_SIZE)
        f = model.files[0]
        model = model.replace(
            size=TEMPLATE_SIZE, files=(ModelFile(f.path, TEMPLATE_SIZE, f.blake3, f.sha256),)
        )
        folder = root / model.rel_dir
        folder.mkdir(parents=True)
        (folder / SIDECAR_NAME).write_text(json.dumps(sidecar_dict(model), indent=2), encoding="utf-8")
        if int(model.id[:4], 16) % 10:  # one in ten models has lost its file
            os.link(template, folder / f.path)
    print(f"\nwrote {rows:,} sidecars + hard-linked model files in {time.perf_counter() - started:.1f} s")
    db = Database(workdir / "rebuilt.sqlite")
    migrate(db)
    report = rebuild_catalog(db, root / "models", root)
    # Baseline in the same run: just reading and parsing every sidecar, no validation, no SQL.
    started = time.perf_counter()
    for dirpath, _dirs, files in os.walk(root / "models"):
        if SIDECAR_NAME in files:
            json.loads(Path(dirpath, SIDECAR_NAME).read_bytes())
    walk_s = time.perf_counter() - started
    verdict = "PASS" if report.took_s < GOAL_REBUILD_S else "FAIL"
    print(
        f"rebuild_catalog: {report.models:,} models ({report.missing:,} missing, "
        f"{len(report.skipped)} skipped) in {report.took_s:.1f} s; walk+json.loads only: {walk_s:.1f} s "
        f"(ratio {report.took_s / walk_s:.1f}x); goal < {GOAL_REBUILD_S:g} s: {verdict}"
    )
    db.close()
    return verdict == "PASS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500, help="queries per kind")
    parser.add_argument("--rebuild-rows", type=int, default=100_000, help="0 skips the rebuild bench")
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp folder)")
    parser.add_argument(
        "--catalog", type=Path, default=None, help="keep the search catalog in this file and reuse it"
    )
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-search-", dir=args.dir))
    try:
        ok = run_search_bench(args.rows, args.queries, workdir, args.catalog)
        if args.rebuild_rows:
            ok &= run_rebuild_bench(args.rebuild_rows, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
