"""An untrusted teacher keeps its `dream` settings: described in its sandbox, checked again here."""

from __future__ import annotations

import pytest
import trio

import neuro

TEACHER = '''
from neuro import sdk


class Tally(sdk.Message):
    x: float


class Sum(sdk.Message):
    y: float


class Teacher(sdk.Neuro):
    name = "teacher"
    input = Tally
    output = Sum
    dream = {DREAM}

    def handle(self, ctx, msg):
        return Sum(y=2 * msg.x)
'''


def _load(tmp_path, dream: str):
    path = tmp_path / "teacher.py"
    path.write_text(TEACHER.replace("{DREAM}", dream))

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k:
            return (await k.load(path)).cls

    return trio.run(main)


def test_a_file_teachers_dream_settings_cross_the_boundary_as_data(tmp_path):
    """Loaded from a file (untrusted, described in a sandbox), it still says what to dream."""
    cls = _load(tmp_path, '{"agreement": 0.9, "min_traces": 60, "student": "linear"}')
    manifest = cls.__manifest__
    assert "__neuro_described__" in vars(cls) and "untrusted" == manifest.policy
    assert (0.9, 60, "linear") == (manifest.dream["agreement"], manifest.dream["min_traces"],
                                   manifest.dream["student"])


def test_bad_dream_settings_in_a_file_are_a_clear_load_error(tmp_path):
    """An agreement above 1 is refused where the class is made, with the file and the key named."""
    with pytest.raises(neuro.NeuroError, match="agreement"):
        _load(tmp_path, '{"agreement": 2.0}')
