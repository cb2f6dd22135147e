"""Pickles crafted to slip past the sniffing, each one a stream ``pickle.load`` runs (checked here with a
harmless callable), and each one found by structure. Nothing is unpickled by the library.

Red team of the protocol 0/1 detection: ``pickle.load`` ignores what follows STOP, takes ``PROTO 0/1``
and any first opcode, and a long first argument pushes the gadget beyond the sniffed head.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import random
import tarfile
from pathlib import Path

import pytest

from comfyui_model_library.core.formats import inspect_path, sniff_bytes
from comfyui_model_library.core.formats.sniff import SNIFF_BYTES, looks_like_headless_pickle
from tests import synth

GADGET = b"cbuiltins\nlen\n(S'abc'\ntR."  # len("abc"): stands in for os.system
BIG = 5_000_000

EVASIONS = {
    "junk_after_stop": GADGET + b"\x00" * 8000,
    "text_after_stop": GADGET + b"readme: this file is a model\n" * 300,
    "proto_1_opcode": b"\x80\x01" + GADGET,
    "proto_0_opcode": b"\x80\x00" + GADGET + b" " * 5000,
    "float_first": b"F1.5\n0" + GADGET + b"\x00" * 5000,
    "newtrue_first": b"\x880" + GADGET + b"\x00" * 5000,
    "long_bytes_first": b"X" + BIG.to_bytes(4, "little") + b"a" * BIG + b"0" + GADGET,
    "long_line_first": b"S'" + b"a" * BIG + b"'\n0" + GADGET,
}


@pytest.mark.parametrize("kind", sorted(EVASIONS))
def test_evasive_streams_are_pickles(tmp_path: Path, kind: str) -> None:
    data = EVASIONS[kind]
    assert pickle.loads(data) == 3, "the stream really runs its callable"
    path = tmp_path / "innocent.ckpt"
    path.write_bytes(data)
    info = inspect_path(path)
    assert info.security == "pickle", kind
    assert any("builtins.len" in w for w in info.warnings), info.warnings


def _tar(members: dict[str, bytes], fmt: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for name, data in members.items():
            member = tarfile.TarInfo(name)
            member.size = len(data)
            tf.addfile(member, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_a_torch_tar_whose_first_member_is_not_torchs_is_a_pickle(tmp_path: Path, fmt: int) -> None:
    """torch's legacy loader extracts ``storages``, ``tensors`` and ``pickle`` by name, in any order."""
    target = tmp_path / "pwned"
    members = {
        "README.txt": b"a model\n" * 1000,
        "pickle": synth.malicious_pickle_bytes(target),
        "tensors": pickle.dumps([], protocol=2),
        "storages": bytes(1024),
    }
    path = tmp_path / "old.pt"
    path.write_bytes(_tar(members, fmt))
    info = inspect_path(path)
    assert (info.file_format, info.security) == ("pickle", "pickle")
    assert any("open" in w for w in info.warnings), "the pickle member's imports are listed"
    plain = tmp_path / "archive.bin"
    plain.write_bytes(_tar({"README.txt": b"hi", "data.bin": bytes(100)}, fmt))
    assert inspect_path(plain).security == "unknown"
    assert not target.exists()


STATE = collections.OrderedDict([("a.weight", [0.0] * 4), ("b.bias", [1.0] * 4)])


@pytest.mark.parametrize("protocol", [0, 1])
@pytest.mark.parametrize(
    "obj", [{"w": b"\x00" * 100_000}, [1, {"a": "b" * 9000}], {"state_dict": STATE, "blob": "x" * 20_000}]
)
def test_old_protocols_with_long_values_early_are_pickles(protocol: int, obj: object) -> None:
    """Few opcodes fit in the head before a long value: the head's start decides, not a count of 12."""
    data = pickle.dumps(obj, protocol=protocol)
    assert sniff_bytes(data[:SNIFF_BYTES], len(data)) == "pickle"


def test_short_text_that_is_a_tiny_pickle_followed_by_more_text_is_not_one() -> None:
    text = b"(t. is how this note begins, and it goes on as plain text for a while\n" * 3
    assert pickle.loads(text) == ()  # a tiny pickle indeed, but no tool writes that: it imports nothing
    assert not looks_like_headless_pickle(text, whole=True)


def test_random_bytes_are_seldom_pickles() -> None:
    rng = random.Random(13)
    heads = [bytes(rng.getrandbits(8) for _ in range(512)) for _ in range(3000)]
    found = [h for h in heads if h[0] != 0x80 and sniff_bytes(h, 10**9) == "pickle"]
    assert len(found) <= 1


def test_a_length_that_runs_past_the_end_of_the_file_is_no_pickle(tmp_path: Path) -> None:
    lying = tmp_path / "lying.ckpt"
    lying.write_bytes(b"X" + (10**9).to_bytes(4, "little") + os.urandom(5000))
    assert inspect_path(lying).security == "unknown"
