"""Naming a neuro to spawn: `module:Class`, a file, or `file:Class` for a file with several."""

from __future__ import annotations

import textwrap

import pytest

from neuro._errors import ManifestError
from neuro.kernel._neurofile import NeuroFileError
from neuro.shell._ops import resolve_neuro

TWO = textwrap.dedent("""
    from neuro import sdk

    class Ping(sdk.Message):
        n: int

    class First(sdk.Neuro):
        name = "first"
        input = Ping
        def handle(self, ctx, msg):
            return msg

    class Second(sdk.Neuro):
        name = "second"
        input = Ping
        def handle(self, ctx, msg):
            return msg
""")


def test_path_colon_class_picks_one_of_several_neuros_in_a_file(tmp_path):
    path = tmp_path / "two.py"
    path.write_text(TWO)
    assert "second" == resolve_neuro(f"{path}:Second").__manifest__.name
    assert "first" == resolve_neuro(f"{path}:First").__manifest__.name


def test_a_file_with_several_neuros_and_no_class_named_says_how_to_pick(tmp_path):
    path = tmp_path / "two.py"
    path.write_text(TWO)
    with pytest.raises(NeuroFileError, match="defines 2 neuros"):
        resolve_neuro(str(path))
    with pytest.raises(NeuroFileError, match="'Third' names no neuro class .*First, Second.*PATH:Class"):
        resolve_neuro(f"{path}:Third")


def test_module_colon_class_still_resolves():
    assert "echo" == resolve_neuro("neuro.neuros.echo:Echo").__manifest__.name
    with pytest.raises(ManifestError, match="give `module:Class`"):
        resolve_neuro("neuro.neuros.echo")
