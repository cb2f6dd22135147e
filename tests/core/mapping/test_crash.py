"""kill -9 in the middle of a mapping apply or a cascade remove, then restart: THREATS.md invariants."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from comfyui_model_library.core.health import link_problem
from comfyui_model_library.core.links.cascade import remove_model_links
from comfyui_model_library.core.links.platform import LinkMaker, inside_root
from comfyui_model_library.core.links.registry import LinkRegistry
from comfyui_model_library.core.mapping import service
from comfyui_model_library.core.mapping.config import MappingConfig
from comfyui_model_library.core.mapping.journal import pending_journal_count, resume_pending

from .support import Env

CHILD = """
import sys
from pathlib import Path
from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.catalog.repository import ModelRepository
from comfyui_model_library.core.health import link_problem
from comfyui_model_library.core.links.cascade import remove_model_links
from comfyui_model_library.core.mapping import apply as apply_mod, service
from comfyui_model_library.core.mapping.config import MappingConfig

root, comfy, what = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
db = Database(root / "catalog.sqlite")
repo = ModelRepository(db)
original = apply_mod.apply_plan
def small_batches(*a, **kw):
    kw["batch_size"] = 7
    return original(*a, **kw)
service.apply_plan = small_batches
print("ready", flush=True)
while True:
    if what == "apply":
        service.apply(db, repo, root, comfy, MappingConfig())
        service.apply(db, repo, root, comfy, MappingConfig(categories={}))
    else:
        for m in repo.iter_all():
            remove_model_links(db, m.id)
        service.apply(db, repo, root, comfy, MappingConfig())
"""


def check_invariants(env: Env, *, strict: bool = True) -> None:
    maker = LinkMaker()
    records = LinkRegistry(env.db).all()
    registered = {r.link_path for r in records}
    for r in records:
        assert inside_root(Path(r.link_path), Path(r.link_root)), r.link_path
        fine = maker.is_our_link(
            Path(r.link_path), Path(r.target), r.kind, r.inode, r.device
        ) and maker.resolves(Path(r.link_path))
        # Invariant 3: every registered link resolves to its model or is reported broken.
        assert fine or (not strict and link_problem(r, maker) is not None), r.link_path
    views = env.root / "views"
    for dirpath, dirnames, filenames in os.walk(views):
        for name in filenames + dirnames:
            path = os.path.join(dirpath, name)
            assert not name.endswith(".mlib-tmp"), f"temp link left behind: {path}"
            if os.path.islink(path):
                assert path in registered, f"unregistered link we made: {path}"
    for model in env.repo.iter_all():
        for f in model.files:
            assert (env.root / model.rel_dir / f.path).read_bytes()  # the library's files are intact


def run_and_kill(env: Env, what: str, rng: random.Random) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(env.root), str(env.comfy), what],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.stderr else ""
    time.sleep(rng.uniform(0.02, 0.4))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def test_kill_9_mid_apply_and_mid_remove(env: Env) -> None:
    for i in range(60):
        env.add(f"model{i:03d}", type="lora" if i % 2 else "checkpoint")
    env.add(
        "folder", type="checkpoint", files=("model_index.json", "unet/w.safetensors", "vae/w.safetensors")
    )
    user_file = env.root / "views" / "user-notes.txt"
    user_file.parent.mkdir(parents=True)
    user_file.write_text("mine")
    rng = random.Random(int(os.environ.get("CRASH_SEED", "4")))
    for round_no in range(4):
        what = "apply" if round_no % 2 == 0 else "remove"
        run_and_kill(env, what, rng)
        resume_pending(env.db)
        assert pending_journal_count(env.db) == 0
        check_invariants(env, strict=what == "apply")
        if what == "remove":  # restart: the interrupted cascade runs again and finishes
            for m in env.repo.iter_all():
                remove_model_links(env.db, m.id)
            check_invariants(env)
    report = service.apply(env.db, env.repo, env.root, env.comfy, MappingConfig())
    assert not report.failed
    check_invariants(env)
    plan = service.preview(env.db, env.repo, env.root, env.comfy, MappingConfig())
    assert (len(plan.create), len(plan.conflicts), len(plan.remove), len(plan.ok)) == (0, 0, 0, 63)
    for m in env.repo.iter_all():
        remove_model_links(env.db, m.id)
    assert LinkRegistry(env.db).all() == []
    assert user_file.read_text() == "mine"
