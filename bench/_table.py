"""Tiny helpers every benchmark shares: medians, a ratio table against a baseline, PASS/FAIL goals.

samples = {"baseline": [1.0, 1.1], "ours": [0.5, 0.6]}
print(ratio_table("Import, 2 GiB", samples, baseline="baseline", size_bytes=2 << 30))
ok = print_goals([goal("ours <= 1.2x baseline", ratio <= 1.2, f"{ratio:.2f}x")])
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ratio_table(
    title: str,
    samples: Mapping[str, Sequence[float]],
    baseline: str,
    *,
    size_bytes: int | None = None,
    cpu_seconds: Mapping[str, Sequence[float]] | None = None,
) -> str:
    """A table of median seconds per row, its ratio to the baseline's median, and MiB/s if sized.

    ``cpu_seconds`` (per row, like ``samples``) adds the median CPU time the process used: with wall
    time it tells a step that waited on the disk from one that was short of CPU on a busy machine.
    """
    base = median(samples[baseline])
    width = max(len(name) for name in samples) + 2
    head = f"{'':<{width}}{'median s':>10}{'x baseline':>12}{'min s':>9}{'max s':>9}"
    if size_bytes:
        head += f"{'MiB/s':>9}"
    if cpu_seconds:
        head += f"{'cpu s':>8}"
    lines = [title, head, "-" * len(head)]
    for name, values in samples.items():
        mid = median(values)
        line = f"{name:<{width}}{mid:>10.3f}{mid / base:>11.2f}x{min(values):>9.3f}{max(values):>9.3f}"
        if size_bytes:
            line += f"{size_bytes / (1 << 20) / mid:>9.0f}"
        if cpu_seconds:
            line += f"{median(cpu_seconds[name]):>8.2f}"
        if name == baseline:
            line += "  (baseline)"
        lines.append(line)
    return "\n".join(lines)


@dataclass(frozen=True)
class Goal:
    label: str
    ok: bool
    detail: str


def goal(label: str, ok: bool, detail: str) -> Goal:
    return Goal(label, ok, detail)


def print_goals(goals: Sequence[Goal]) -> bool:
    """Print one PASS/FAIL line per goal; True when all pass."""
    for item in goals:
        print(f"{'PASS' if item.ok else 'FAIL'}  {item.label}: {item.detail}")
    return all(item.ok for item in goals)
