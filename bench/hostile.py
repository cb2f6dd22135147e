"""How fast hostile headers are refused (THREATS.md #9): every hostile safetensors kind, a 100 MB header of
nested brackets, and every hostile GGUF, against reading a valid header of the same family in the same
run. Refusing must cost about what reading a real header costs, never a parse of the attacker's bytes.

    python -m bench.hostile
"""

from __future__ import annotations

import struct
import tempfile
import time
from pathlib import Path

from bench._table import goal, median, print_goals, ratio_table
from comfyui_model_library.core.errors import InvalidModelFile
from comfyui_model_library.core.formats import safetensors as sft
from comfyui_model_library.core.formats.inspect import inspect_path
from tests import synth
from tests.core.formats.test_gguf import HOSTILE as HOSTILE_GGUF

RUNS = 5


def _timed(action: object) -> float:
    start = time.perf_counter()
    try:
        action()  # type: ignore[operator]
    except InvalidModelFile:
        pass
    return time.perf_counter() - start


def main() -> bool:
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        valid = synth.write_family(Path(tmp) / "valid.safetensors", "sdxl_checkpoint")
        samples["valid sdxl header"] = [_timed(lambda: inspect_path(valid)) for _ in range(RUNS)]
        for kind in synth.HOSTILE_KINDS:
            data = synth.hostile_safetensors(kind)
            samples[f"safetensors {kind}"] = [
                _timed(lambda d=data: sft.validate_bytes(d)) for _ in range(RUNS)
            ]
        body = b'{"a":' + b"[" * (100_000_000 - 6) + b"}"
        big = Path(tmp) / "big.safetensors"
        big.write_bytes(struct.pack("<Q", len(body)) + body)
        samples["100 MB nested header"] = [_timed(lambda: inspect_path(big)) for _ in range(3)]
        for kind, (data, _reason) in sorted(HOSTILE_GGUF.items()):
            path = Path(tmp) / f"{kind}.gguf"
            path.write_bytes(data)
            samples[f"gguf {kind}"] = [_timed(lambda p=path: inspect_path(p)) for _ in range(RUNS)]
    print(ratio_table("Refusing hostile headers", samples, "valid sdxl header"))
    worst = max((median(v), k) for k, v in samples.items() if k != "valid sdxl header")
    big_s = median(samples["100 MB nested header"])
    return print_goals(
        [
            goal(
                "every small hostile header refused in < 1 s",
                worst[0] < 1.0,
                f"worst {worst[1]}: {worst[0]:.3f} s",
            ),
            goal("the 100 MB nested header refused in < 3 s", big_s < 3.0, f"{big_s / 3.0:.2f} of the goal"),
        ]
    )


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
