"""Learner jobs and their metric curves, from the `Progress` events learners publish on
``progress.<neuro>`` (`ctx.progress(job, done, total, loss=...)`): pure data, no textual.

`LearnerJobs.add(progress)` keeps each (neuro, job)'s latest progress and the last `POINTS`
values of each metric it reported; `rows()` is the jobs table, `curves()` one line per metric
with its sparkline, first, last, min and max.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ._model import sparkline

__all__ = ["LearnerJobs", "POINTS"]

POINTS = 60  # values kept per metric: the curve's width
JOBS = 50  # jobs kept, the newest


def progress_field(progress: Any, name: str, default: Any = None) -> Any:
    if isinstance(progress, dict):
        return progress.get(name, default)
    return getattr(progress, name, default)


class LearnerJobs:
    def __init__(self) -> None:
        self.latest: dict[tuple[str, str], Any] = {}
        self.series: dict[tuple[str, str], dict[str, deque[float]]] = {}

    def add(self, progress: Any) -> None:
        key = (str(progress_field(progress, "neuro", "")), str(progress_field(progress, "job", "")))
        self.latest.pop(key, None)
        self.latest[key] = progress  # the newest last
        series = self.series.setdefault(key, {})
        for name, value in (progress_field(progress, "metrics") or {}).items():
            if isinstance(value, (int, float)):
                series.setdefault(name, deque(maxlen=POINTS)).append(float(value))
        while len(self.latest) > JOBS:
            old = next(iter(self.latest))
            self.latest.pop(old)
            self.series.pop(old, None)

    def rows(self) -> list[tuple[str, ...]]:
        """(neuro, job, progress, note, latest metrics), newest first."""
        out = []
        for (neuro, job), p in reversed(self.latest.items()):
            done, total = float(progress_field(p, "done", 0) or 0), float(progress_field(p, "total", 0) or 0)
            share = f"{done:g}/{total:g} ({done / total:.0%})" if total > 0 else f"{done:g}"
            metrics = ", ".join(f"{k} {v:.4g}" for k, v in sorted((progress_field(p, "metrics") or {}).items()))
            out.append((neuro, job, share, str(progress_field(p, "note", "") or ""), metrics))
        return out

    def curves(self) -> list[str]:
        """One line per metric of each job, newest job first: its curve and figures."""
        lines = []
        for key in reversed(list(self.latest)):
            for name, xs in sorted(self.series.get(key, {}).items()):
                lo, hi = min(xs), max(xs)
                # shifted so the lowest point is a low bar, whatever the sign of the values
                curve = sparkline([x - lo + (hi - lo) / 8 or 1.0 for x in xs], POINTS)
                lines.append(f"{key[0]}/{key[1]} {name:>10} {curve} first {xs[0]:.4g} last {xs[-1]:.4g} "
                             f"min {lo:.4g} max {hi:.4g}")
        return lines
