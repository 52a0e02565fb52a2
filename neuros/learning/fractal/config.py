"""The fractal learner's config: every knob and why it has its default. No torch."""

from __future__ import annotations

import msgspec

__all__ = ["FractalConfig", "RANGES"]


class FractalConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # The scaling windows Train tries (grid search): the share of pairs closer than r at the
    # window's low and high end. Below ~1e-4 too few pairs count at a few thousand points;
    # above ~0.3 the set's edges bend log C(r).
    q_lo_grid: tuple[float, ...] = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
    q_hi_grid: tuple[float, ...] = (3e-3, 1e-2, 3e-2, 1e-1, 3e-1)
    # Radii in the slope's least-squares fit, log-spaced across the window.
    radii: int = 12
    # At most this many points of a set are used (a random subset): the sum is over N^2 / 2 pairs.
    max_points: int = 4000
    # Unused by the estimator (numpy and scipy on the CPU); kept so every learner takes `device`.
    device: str = "cpu"
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.q_lo_grid or not self.q_hi_grid:
            raise ValueError("options q_lo_grid and q_hi_grid need at least one share each")
        if not all(0 < q <= 1 for q in [*self.q_lo_grid, *self.q_hi_grid]):
            raise ValueError("options q_lo_grid and q_hi_grid hold shares of pairs in (0, 1]")
        if min(self.q_lo_grid) >= max(self.q_hi_grid):
            raise ValueError("no window fits: some q_lo must be below some q_hi")
        if self.radii < 2 or self.max_points < 10:
            raise ValueError(f"options need radii >= 2 and max_points >= 10, got {self.radii}, {self.max_points}")
        from ..paradigmkit.torchstate import check_device

        check_device(self.device)


RANGES: dict[str, tuple[float | None, float | None]] = {"radii": (2, None), "max_points": (10, None)}
