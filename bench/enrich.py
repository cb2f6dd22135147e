"""Enriching a library against a loopback Civitai that enforces a rate limit, and what enrichment costs
the catalog's list and search.

``--models`` models (1,000) are put in a fresh library; a loopback Civitai-protocol server (tests/
civitai_server.py) knows every one of them by SHA-256 (``--civitai-models`` models of ten versions each,
so most ``/models/{id}`` answers come from our cache), serves one 512x768 PNG per version as its image,
and answers 429 (``Retry-After: 1``) past ``--rate`` requests a second. A loopback Hub without the files
answers the hash lookups. ``enrich_many`` then fetches every model's origin, trigger words, newer version
and preview (decoded and re-encoded to WebP at three sizes) the way ``model-library enrich --all`` does.

Rows (seconds for the whole run; the baseline is computed in the same run from the measured requests):
    floor at the rate limit   Civitai requests made / rate: no client can be faster than this
    enrich --all              measured

Then the catalog's list (first page, no text) and search (a word in every name) p50, before and after
enrichment (with previews, trigger words, sites and descriptions present). Goals: list and search p50
within 10% of before; enrichment within 2x the floor.

    python bench/enrich.py [--models 1000] [--rate 10]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _table import goal, print_goals, ratio_table  # noqa: E402
from PIL import Image  # noqa: E402

from comfyui_model_library.core.config import load_config  # noqa: E402
from comfyui_model_library.core.library import Library  # noqa: E402
from comfyui_model_library.core.models import Hashes, Model, ModelFile, ModelQuery, ModelSource  # noqa: E402
from tests.civitai_server import CivitaiServer, make_version  # noqa: E402
from tests.hub_server import HubServer  # noqa: E402

GOAL_LIST_RATIO = 1.10
GOAL_FLOOR_RATIO = 2.0
WORDS = ("detail", "pixel", "glow", "anime", "ink", "film", "neon", "clay")


def png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (512, 768), ((seed * 37) % 256, (seed * 91) % 256, (seed * 53) % 256)).save(out, "PNG")
    return out.getvalue()


def synthetic(i: int) -> Model:
    blake3 = hashlib.sha256(b"b3-%d" % i).hexdigest()
    sha256 = hashlib.sha256(b"s2-%d" % i).hexdigest()
    name = f"{WORDS[i % len(WORDS)]} lora {i:05d}"
    return Model(
        id=blake3[:16],
        name=name,
        type="lora",
        base_model="sdxl",
        format="single-file",
        file_format="safetensors",
        security="safe",
        size=1000 + i,
        hashes=Hashes(blake3, sha256),
        files=(ModelFile(f"{name}.safetensors", 1000 + i, blake3, sha256),),
        rel_dir=f"models/lora/sdxl/{name.replace(' ', '_')}",
        source=ModelSource(kind="local"),
        tags=("style",),
        added_at="2026-01-01T00:00:00+00:00",
        updated_at="2026-01-01T00:00:00+00:00",
    )


def p50_ms(fn: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure(library: Library, list_q: ModelQuery, search_q: ModelQuery, runs: int) -> tuple[float, ...]:
    """p50 ms of the catalog's list and search, and of the same as the API's JSON answer."""
    from comfyui_model_library.server_routes._http import dumps

    return (
        p50_ms(lambda: library.catalog.list_models(list_q), runs),
        p50_ms(lambda: library.catalog.list_models(search_q), runs),
        p50_ms(lambda: dumps(library.catalog.list_models(list_q)), runs),
        p50_ms(lambda: dumps(library.catalog.list_models(search_q)), runs),
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--civitai-models", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10.0, help="Civitai's limit, requests per second")
    parser.add_argument("--runs", type=int, default=300, help="list/search repetitions for the p50")
    args = parser.parse_args()

    models = [synthetic(i) for i in range(args.models)]
    civitai = CivitaiServer()
    civitai.start()
    # Civitai's images live on another host (image.civitai.com): here another loopback address, so they
    # take their own throttle bucket and not the API's rate limit.
    cdn = CivitaiServer(images={f"{i}.png": png(i) for i in range(20)})
    cdn.start(host="127.0.0.2")
    hub = HubServer([])
    hub.start(host="localhost")  # another host than Civitai's 127.0.0.1: its own throttle bucket
    per_model = max(1, args.models // args.civitai_models)
    for i, model in enumerate(models):
        civitai.add(
            make_version(
                10_000 + i,
                1 + i // per_model,
                sha256=model.hashes.sha256,
                name=f"v{i % per_model}",
                trained_words=(f"{WORDS[i % len(WORDS)]} style",),
                images=[{"url": f"{cdn.url}/images/{i % 20}.png", "nsfwLevel": 1, "type": "image"}],
                created_at=f"2024-01-01T00:00:{i % per_model:02d}.000Z",
            )
        )
    civitai.faults.rate_limit = args.rate
    try:
        with tempfile.TemporaryDirectory(prefix="bench-enrich-") as tmp:
            config = load_config(
                Path(tmp) / "library",
                civitai_endpoint=civitai.url,
                hf_endpoint=hub.url,
                extra_allowed_hosts=(cdn.url,),
            )
            with Library.open(config) as library:
                library.repo.add_many(models)
                list_q, search_q = ModelQuery(limit=50), ModelQuery(q="detail", limit=50)
                before = measure(library, list_q, search_q, args.runs)
                api_before = len([p for p in civitai.paths() if p.startswith("/api/")])
                start = time.perf_counter()
                report = library.origins.enrich_many()
                took = time.perf_counter() - start
                api_requests = len([p for p in civitai.paths() if p.startswith("/api/")]) - api_before
                after = measure(library, list_q, search_q, args.runs)
                page = library.catalog.list_models(list_q)
                with_preview = sum(1 for m in page.items if m.preview is not None)
    finally:
        civitai.stop()
        cdn.stop()
        hub.stop()

    accepted = api_requests - civitai.rate_limited
    floor = accepted / args.rate
    print(
        f"{args.models} models, {args.civitai_models} Civitai models, limit {args.rate:g} requests/s: "
        f"{report.enriched} enriched, {report.found['civitai']} found, {report.previews} previews, "
        f"{len(report.pending)} pending, {len(report.failed)} failed"
    )
    print(
        f"Civitai API requests {api_requests} ({civitai.rate_limited} answered 429); "
        f"throughput {report.enriched / took:.1f} models/s ({args.models / floor:.1f} at the floor)"
    )
    print()
    print(
        ratio_table(
            "Enrich --all",
            {"floor at the rate limit": [floor], "enrich --all": [took]},
            "floor at the rate limit",
        )
    )
    print()
    print(f"{'p50 ms':<26}{'before':>10}{'after':>10}{'ratio':>8}")
    labels = ("list (page of 50)", "search 'detail'", "GET /models JSON", "GET /models?q= JSON")
    for label, b, a in zip(labels, before, after):
        print(f"{label:<26}{b:>10.3f}{a:>10.3f}{a / b:>7.2f}x")
    print(f"(first page after: {with_preview} of {len(page.items)} rows carry a preview)")
    print()
    ok = print_goals(
        [
            goal(
                "every model enriched, none failed",
                report.enriched == args.models and not report.failed,
                f"{report.enriched}",
            ),
            goal(
                f"enrich within {GOAL_FLOOR_RATIO}x the rate-limit floor",
                took <= GOAL_FLOOR_RATIO * floor,
                f"{took / floor:.2f}x",
            ),
            *(
                goal(f"{label} p50 within {GOAL_LIST_RATIO}x", a <= GOAL_LIST_RATIO * b, f"{a / b:.2f}x")
                for label, b, a in zip(labels[:2], before, after)
            ),
        ]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
