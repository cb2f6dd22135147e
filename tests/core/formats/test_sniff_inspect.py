"""Format by magic bytes; pickles are never unpickled; inspect reads only the header."""

from __future__ import annotations

import io
import os
import pickle
import struct
import tarfile
import zipfile

import pytest

from comfyui_model_library.core.errors import InvalidModelFile
from comfyui_model_library.core.formats import inspect_fd, inspect_path, sniff_bytes
from comfyui_model_library.core.formats.inspect import METADATA_VALUE_CAP
from comfyui_model_library.core.formats.pickle_scan import pickle_globals
from tests import synth


def test_sniff_by_magic_not_name():
    st = synth.safetensors_bytes({"w": ("F32", (1,))})
    assert sniff_bytes(st, len(st), "model.ckpt") == "safetensors"
    pk = pickle.dumps({"a": 1}, protocol=4)
    assert sniff_bytes(pk, len(pk), "model.safetensors") == "pickle"
    gg = synth.gguf_bytes()
    assert sniff_bytes(gg[:64], len(gg), "x.bin") == "gguf"


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_sniff_pickle_protocols(protocol):
    data = pickle.dumps([1], protocol=protocol)
    assert sniff_bytes(data, len(data)) == "pickle"


def test_sniff_zips():
    torch_zip = synth.zip_bytes({"archive/data.pkl": pickle.dumps({}), "archive/version": b"3"})
    assert sniff_bytes(torch_zip, len(torch_zip)) == "zip-pickle"
    top = synth.zip_bytes({"data.pkl": pickle.dumps({})})
    assert sniff_bytes(top, len(top)) == "zip-pickle"
    plain = synth.zip_bytes({"readme.txt": b"hi"})
    assert sniff_bytes(plain, len(plain)) == "unknown"


def test_sniff_onnx_needs_name_and_protobuf_start():
    proto = b"\x08\x07\x12\x07pytorch" + bytes(20)
    assert sniff_bytes(proto, len(proto), "model.onnx") == "onnx"
    assert sniff_bytes(proto, len(proto), "model.bin") == "unknown"
    assert sniff_bytes(b"hello world", 11, "model.onnx") == "unknown"


def test_sniff_torch_legacy_tar():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name in ("sys_info", "pickle"):
            data = pickle.dumps({})
            member = tarfile.TarInfo(name)
            member.size = len(data)
            tf.addfile(member, io.BytesIO(data))
    raw = buf.getvalue()
    assert sniff_bytes(raw[:4096], len(raw)) == "pickle"


def test_sniff_short_and_empty():
    assert sniff_bytes(b"", 0) == "unknown"
    assert sniff_bytes(b"\x80", 1) == "unknown"


def test_malicious_pickle_never_unpickled(tmp_path):
    target = tmp_path / "pwned"
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(synth.malicious_pickle_bytes(target))
    info = inspect_path(evil)
    assert (info.file_format, info.security) == ("pickle", "pickle")
    assert any("open" in w for w in info.warnings)
    ckpt = synth.write_malicious_ckpt(tmp_path / "evil.ckpt", target)
    info = inspect_path(ckpt)
    assert (info.file_format, info.security) == ("zip-pickle", "pickle")
    assert any("builtins.open" in w or "io.open" in w for w in info.warnings)
    assert not target.exists()


def test_plain_torch_checkpoints_are_pickle(tmp_path):
    info = inspect_path(synth.write_pickle_ckpt(tmp_path / "m.ckpt"))
    assert (info.file_format, info.security) == ("zip-pickle", "pickle")
    assert info.tensors == {} and info.detection.type == "unknown"
    assert "never unpickled" in info.detection.reason
    legacy = inspect_path(synth.write_legacy_pickle(tmp_path / "m.pt"))
    assert (legacy.file_format, legacy.security) == ("pickle", "pickle")
    assert not any("beyond" in w for w in legacy.warnings)  # a plain dict imports nothing


def test_zip_with_data_descriptor_found_by_central_directory(tmp_path):
    path = tmp_path / "streamed.pt"
    with zipfile.ZipFile(path, "w") as zf, zf.open("model/data.pkl", "w") as fh:
        fh.write(b"\x00" * 5000 + pickle.dumps({}))  # streamed write: sizes follow the data
    info = inspect_path(path)
    assert info.file_format == "zip-pickle"


def test_pickle_globals_lists_stack_global_imports():
    names, complete = pickle_globals(pickle.dumps(os.system, protocol=4))
    assert complete
    assert {"posix.system", "nt.system"} & set(names)
    names, complete = pickle_globals(b"\x80\x04garbage")
    assert complete is False


def test_unknown_file(tmp_path):
    path = tmp_path / "notes.bin"
    path.write_bytes(b"just some text, not a model")
    info = inspect_path(path)
    assert (info.file_format, info.security, info.detection.type) == ("unknown", "unknown", "unknown")


def test_inspect_refuses_symlinks_and_folders(tmp_path):
    real = synth.write_family(tmp_path / "real.safetensors", "clip_l")
    link = tmp_path / "link.safetensors"
    link.symlink_to(real)
    with pytest.raises(InvalidModelFile, match="symlinks are not followed"):
        inspect_path(link)
    with pytest.raises(InvalidModelFile, match="not a regular file"):
        inspect_path(tmp_path)
    with pytest.raises(InvalidModelFile):
        inspect_path(tmp_path / "missing.safetensors")


def test_inspect_reads_only_the_header(tmp_path):
    """A file whose data section is unreadable-large (sparse 4 GiB) is inspected instantly."""
    head, data_size = synth.safetensors_header({"w": ("F32", (2**30,))})
    path = tmp_path / "huge.safetensors"
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(len(head) + data_size)
    info = inspect_path(path)
    assert info.tensors["w"].shape == (2**30,)
    assert info.header_size == len(head) - 8


def test_metadata_kept_and_capped(tmp_path):
    meta = {
        "modelspec.title": "<img src=x onerror=alert(1)>",
        "ss_tag_frequency": "x" * (METADATA_VALUE_CAP + 10),
        "random_key": "dropped",
    }
    path = synth.write_safetensors(tmp_path / "m.safetensors", {"w": ("F16", (1,))}, meta)
    info = inspect_path(path)
    assert (
        info.metadata["modelspec.title"] == meta["modelspec.title"]
    )  # kept as text, escaping is the UI's job
    assert len(info.metadata["ss_tag_frequency"]) == METADATA_VALUE_CAP
    assert "random_key" not in info.metadata


def test_inspect_fd_with_name_hint(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(synth.safetensors_bytes(synth.FAMILIES["clip_g"]["tensors"]))
    fd = os.open(path, os.O_RDONLY)
    try:
        info = inspect_fd(fd, path.stat().st_size, "anything.gguf")
    finally:
        os.close(fd)
    assert info.file_format == "safetensors" and info.detection.subtype == "clip_g"


def test_file_named_safetensors_that_is_garbage(tmp_path):
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", 5) + b"hello")
    with pytest.raises(InvalidModelFile, match="not '\\{'"):
        inspect_path(path)
