"""Partial downloads keyed by the file's ETag in their name (core/io/partials.py), against the loopback Hub.

A changed ETag starts a fresh partial by construction; partials named by older versions
(``<file>.incomplete`` + ``<file>.incomplete.json``) are resumed only when their record names the same
content, and deleted otherwise.
"""

from __future__ import annotations

import json
import os
import random
import time

import pytest

from comfyui_model_library.core.errors import Cancelled, InsufficientSpace
from comfyui_model_library.core.hf.download import download_files
from comfyui_model_library.core.io.partials import (
    claim_partial,
    cleanup_stale_partials,
    partial_key,
    partial_path,
)
from tests.core.hf.conftest import BIG, digests
from tests.hub_server import make_repo

FILE = "flux1-dev-fp8.safetensors"
SHA = digests(BIG)[0]
KEYED = f"{FILE}.{partial_key(SHA, len(BIG))}.incomplete"


def fetch(hub, tmp_path, **kw):
    return download_files(hub, "acme/flux-dev", [FILE], None, tmp_path / "dl", **kw)


def cdn_gets(server):
    return [h for m, p, h in server.requests if m == "GET" and p.startswith("/cdn/")]


def cancel_after(n):
    calls = {"n": 0}

    def cancelled():
        calls["n"] += 1
        return calls["n"] > n

    return cancelled


def assert_done(result, data, tmp_path):
    (f,) = result.files
    assert f.digests.sha256 == digests(data)[0] and f.path.read_bytes() == data
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == [FILE]


def test_a_file_changed_on_the_hub_starts_a_fresh_partial(hub_server, make_hub, tmp_path):
    """Same name, same size, other bytes (a new commit on ``main``): the new ETag names another partial,
    so the old prefix is neither resumed nor left behind."""
    with pytest.raises(Cancelled):
        fetch(make_hub(hub_server), tmp_path, cancelled=cancel_after(3))
    assert [p.name for p in (tmp_path / "dl").iterdir()] == [KEYED]
    changed = random.Random(8).randbytes(len(BIG))
    hub_server.add(make_repo("acme/flux-dev", {FILE: changed, "README.md": b"# flux"}))
    before = len(cdn_gets(hub_server))
    assert_done(fetch(make_hub(hub_server), tmp_path), changed, tmp_path)
    (get,) = cdn_gets(hub_server)[before:]
    assert "Range" not in get


def test_the_same_etag_resumes_its_partial(hub_server, make_hub, tmp_path):
    with pytest.raises(Cancelled):
        fetch(make_hub(hub_server), tmp_path, cancelled=cancel_after(3))
    kept = (tmp_path / "dl" / KEYED).stat().st_size
    assert 0 < kept < len(BIG)
    assert_done(fetch(make_hub(hub_server), tmp_path), BIG, tmp_path)
    # A new call has no answer to take an If-Range from: the name is what vouches for the bytes.
    assert cdn_gets(hub_server)[-1]["Range"] == f"bytes={kept}-"


def write_legacy(tmp_path, data, record):
    """A partial as the code before the keyed names left it: ``<file>.incomplete`` and its record."""
    folder = tmp_path / "dl"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{FILE}.incomplete").write_bytes(data)
    if record is not None:
        (folder / f"{FILE}.incomplete.json").write_text(record, "utf-8")


def legacy_record(sha256=SHA, size=len(BIG)):
    # Byte for byte the shape transfer._Partial.record wrote: json.dumps of these four keys.
    return json.dumps({"sha256": sha256, "size": size, "etag": SHA, "url": f"http://127.0.0.1/cdn/{SHA}"})


def test_an_old_partial_of_the_same_content_is_resumed(hub_server, make_hub, tmp_path):
    write_legacy(tmp_path, BIG[:1_234_567], legacy_record())
    assert_done(fetch(make_hub(hub_server), tmp_path), BIG, tmp_path)
    (get,) = cdn_gets(hub_server)
    assert get["Range"] == "bytes=1234567-"


@pytest.mark.parametrize(
    "record",
    [
        legacy_record(sha256="0" * 64),  # a prefix of other content
        legacy_record(size=len(BIG) + 1),
        None,  # no record: nothing says what the bytes are
        "{not json",
        "[1, 2]",
    ],
    ids=["other-sha256", "other-size", "no-record", "corrupt", "not-an-object"],
)
def test_an_old_partial_that_cannot_be_vouched_for_is_deleted(hub_server, make_hub, tmp_path, record):
    write_legacy(tmp_path, b"\0" * 1_000_000, record)
    assert_done(fetch(make_hub(hub_server), tmp_path), BIG, tmp_path)
    (get,) = cdn_gets(hub_server)
    assert "Range" not in get


def test_an_old_partial_longer_than_the_file_is_deleted(hub_server, make_hub, tmp_path):
    write_legacy(tmp_path, BIG + b"more", legacy_record())
    assert_done(fetch(make_hub(hub_server), tmp_path), BIG, tmp_path)
    assert "Range" not in cdn_gets(hub_server)[0]


def test_partial_names_carry_the_etag_and_size():
    assert partial_key("abc", 10) == partial_key("abc", 10)
    assert len({partial_key("abc", 10), partial_key("abd", 10), partial_key("abc", 11)}) == 3
    assert len({partial_key(None, 10), partial_key(None, None), partial_key("", None)}) == 2
    key = partial_key("x", 1)
    assert len(key) == 16 and int(key, 16) >= 0


def test_a_long_name_keeps_its_key_and_fits_the_filesystem(tmp_path):
    key = partial_key(SHA, 1)
    target = tmp_path / ("é" * 120 + "x.safetensors")  # 253 bytes in UTF-8
    path = partial_path(target, key)
    assert path.name.endswith(f".{key}.incomplete") and len(path.name.encode()) <= 255
    path.write_bytes(b"1")  # the filesystem takes it
    assert claim_partial(target, key, sha256=None, size=None) == path and path.exists()
    claim_partial(target, partial_key(SHA, 2), sha256=None, size=None)
    assert not path.exists()  # another version of the same long name


def test_claiming_deletes_only_the_same_files_other_versions(tmp_path):
    target = tmp_path / "model.safetensors"
    mine = partial_path(target, partial_key("new", 5))
    other_version = partial_path(target, partial_key("old", 5))
    neighbours = [
        partial_path(tmp_path / "model.safetensors.index.json", partial_key("old", 5)),
        tmp_path / "model.safetensors.0123456789abcdef.incomplete.json",
        tmp_path / "model.safetensors.notakey.incomplete",
        tmp_path / "model.safetensors",
    ]
    for p in (mine, other_version, *neighbours):
        p.write_bytes(b"1")
    assert claim_partial(target, partial_key("new", 5), sha256=None, size=None) == mine
    assert mine.exists() and not other_version.exists()
    assert all(p.exists() for p in neighbours)


def test_a_missing_folder_claims_nothing(tmp_path):
    target = tmp_path / "not-yet" / "a.safetensors"
    assert claim_partial(target, "0" * 16, sha256=None, size=None) == partial_path(target, "0" * 16)


def test_cleanup_sweeps_keyed_partials_and_old_records(tmp_path):
    old = [tmp_path / KEYED, tmp_path / f"{FILE}.incomplete", tmp_path / f"{FILE}.incomplete.json"]
    fresh = tmp_path / f"b.{partial_key('x', 1)}.incomplete"
    for p in (*old, fresh):
        p.write_bytes(b"1")
    past = time.time() - 10 * 86400
    for p in old:
        os.utime(p, (past, past))
    assert sorted(cleanup_stale_partials(tmp_path, older_than_days=7)) == sorted(old)
    assert fresh.exists()


def test_other_versions_go_before_the_free_space_check(hub_server, make_hub, tmp_path):
    """A partial of the file's previous version is useless: it is deleted before free space is counted."""
    stale = tmp_path / "dl" / f"{FILE}.{partial_key('an older etag', len(BIG))}.incomplete"
    stale.parent.mkdir()
    stale.write_bytes(b"\0" * 1000)
    config = type("C", (), {"free_space_margin": 1 << 60})()
    with pytest.raises(InsufficientSpace):
        fetch(make_hub(hub_server), tmp_path, config=config)
    assert not stale.exists() and cdn_gets(hub_server) == []
