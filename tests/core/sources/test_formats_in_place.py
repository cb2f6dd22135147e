"""Sources sniff like imports: an old-protocol pickle catalogued in place is a pickle, a torch-named file
of no known format carries the warning the panel shows."""

from __future__ import annotations

import pickle
from pathlib import Path

from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import ModelQuery


def test_source_models_are_sniffed_by_structure_and_warn(library: Library, tmp_path: Path) -> None:
    folder = tmp_path / "ComfyUI" / "models" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / "old.ckpt").write_bytes(pickle.dumps({"state_dict": {"w": [0.0] * 50}}, protocol=1))
    (folder / "mystery.pth").write_bytes(b"\x07\x00not any format we know" * 50)
    library.sources.add(folder.parent)
    found = {m.name: m for m in library.catalog.list_models(ModelQuery(limit=10)).items}
    assert (found["old"].file_format, found["old"].security) == ("pickle", "pickle")
    assert found["mystery"].security == "unknown"
    assert any("format not recognised" in w for w in found["mystery"].warnings), "shown, as for an import"
