"""What every benchmark shares: metrics with goals, repetition, the JSON file, the table.

A benchmark module `bench/NAME.py` defines ``run(quick: bool) -> Report``. Speed figures are
ratios of two things measured in the same process, interleaved, median of >= 5 repetitions.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

RESULTS = Path(__file__).parent / "results"


@dataclass
class Metric:
    """One figure with its goal. `goal=None` means reported only."""

    value: float
    unit: str
    goal: float | None = None
    higher_is_better: bool = True
    min: float | None = None
    max: float | None = None
    runs: int = 1
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.goal is None:
            return None
        return self.value >= self.goal if self.higher_is_better else self.value <= self.goal

    def to_json(self) -> dict[str, Any]:
        d = {
            "value": self.value,
            "min": self.min if self.min is not None else self.value,
            "max": self.max if self.max is not None else self.value,
            "runs": self.runs,
            "unit": self.unit,
            "goal": self.goal,
            "higher_is_better": self.higher_is_better,
            "met": self.met,
        }
        if self.note:
            d["note"] = self.note
        return d


@dataclass
class Report:
    """What a benchmark returns: its metrics, plus any extra facts and files it wrote."""

    metrics: dict[str, Metric]
    extra: dict[str, Any] = field(default_factory=dict)
    plots: list[str] = field(default_factory=list)


def summarize(samples: Iterable[float], unit: str, goal: float | None = None,
              higher_is_better: bool = True, note: str = "") -> Metric:
    """The median of repeated samples, with their min and max."""
    xs = list(samples)
    return Metric(
        value=statistics.median(xs), min=min(xs), max=max(xs), runs=len(xs), unit=unit,
        goal=goal, higher_is_better=higher_is_better, note=note,
    )


def interleaved(a: Callable[[], float], b: Callable[[], float], repeats: int,
                label: str = "", alternate: bool = False) -> tuple[list[float], list[float], list[float]]:
    """Run `a` and `b` alternately `repeats` times; return a's, b's samples and a/b ratios.
    `alternate`: every other pair runs `b` first, so a drift of the machine, or what one
    leaves behind for the next, weighs on both sides alike."""
    xs, ys, ratios = [], [], []
    bar = ProgressBar(repeats, label)
    for i in range(repeats):
        if alternate and i % 2:
            y = b()
            x = a()
        else:
            x = a()
            y = b()
        xs.append(x)
        ys.append(y)
        ratios.append(x / y if y else float("inf"))
        bar.update(i + 1)
    bar.close()
    return xs, ys, ratios


class ProgressBar:
    """A one-line progress bar on stderr (silent when stderr is not a terminal and CI is set)."""

    def __init__(self, total: int, label: str = "") -> None:
        self.total = max(total, 1)
        self.label = label
        self.start = time.perf_counter()
        self.enabled = bool(label) and (sys.stderr.isatty() or not os.environ.get("CI"))

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        width = 24
        filled = int(width * done / self.total)
        elapsed = time.perf_counter() - self.start
        sys.stderr.write(f"\r  {self.label:<28} [{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} {elapsed:5.1f}s")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


def write_result(name: str, quick: bool, report: Report) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    doc = {
        "name": name,
        "quick": quick,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "when": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "metrics": {k: m.to_json() for k, m in report.metrics.items()},
    }
    if report.extra:
        doc["extra"] = report.extra
    if report.plots:
        doc["plots"] = report.plots
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)
    return path


def format_table(rows: list[tuple[str, str, dict[str, Any]]]) -> str:
    """rows: (bench, metric, metric-json). One line each: value [min..max], goal, met."""
    head = ("bench", "metric", "value", "min..max", "runs", "goal", "met")
    lines = [head]
    for bench, metric, m in rows:
        goal = m.get("goal")
        sign = ">=" if m.get("higher_is_better", True) else "<="
        met = {True: "yes", False: "NO", None: "-"}[m.get("met")]
        lines.append((
            bench, metric, f"{_fmt(m['value'])} {m.get('unit', '')}".strip(),
            f"{_fmt(m.get('min'))}..{_fmt(m.get('max'))}", str(m.get("runs", 1)),
            "-" if goal is None else f"{sign} {_fmt(goal)}", met,
        ))
    widths = [max(len(str(r[i])) for r in lines) for i in range(len(head))]
    out = []
    for j, r in enumerate(lines):
        out.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        if x != 0 and (abs(x) >= 1e5 or abs(x) < 1e-3):
            return f"{x:.3g}"
        return f"{x:.3f}" if abs(x) < 100 else f"{x:,.0f}"
    return str(x)
