"""Structural type fit: fields, optionality, unions and tags, lists, dicts, literals."""

from __future__ import annotations

from typing import Literal

import msgspec
import pytest

from neuro.nets._types import misfit, type_name

from netneuros import Both, MaybeNum, Num, Other, Start, Stop


class NumAgain(msgspec.Struct):
    """Num's shape under another class (as a sandbox's description rebuilds it)."""

    x: int


class Optional(msgspec.Struct):
    x: int
    note: str = ""


@pytest.mark.parametrize("src, dst", [
    (Num, NumAgain), (NumAgain, Num), (Num, Optional), (int, float), (Start, Start | Stop),
    (list[int], list[float]), (dict[str, int], dict[str, float]), (Literal["a"], Literal["a", "b"]),
    (Literal["a"], str), (int, int | None), (Num, Num | None),
])
def test_a_type_fits_what_decodes_every_value_of_it(src, dst):
    """A value of each source type decodes as its target: no misfit."""
    assert misfit(src, dst) is None


@pytest.mark.parametrize("src, dst, why", [
    (str, int, "at `$`: `str` does not fit `int`"),
    (MaybeNum, Num, "at `$.x`: `int | None` may be None, and `int` does not take None"),
    (Both, Num, "at `$.y`: `Both` has field `y`, which `Num` does not know and refuses"),
    (Num, Both, "at `$.y`: `Both` requires field `y` (int), which `Num` does not have"),
    (Num, Start | Stop, "`Num` has no tag"),
    (Other, Start | Stop, "has tag type='other', which no member of `Start | Stop` has"),
    (list[str], list[int], "at `$[]`: `str` does not fit `int`"),
    (str, Literal["a"], "may be any value"),
    (float, int, "`float` does not fit `int`"),
])
def test_a_misfit_names_the_path_and_both_types(src, dst, why):
    """Each misfit says where and which two types."""
    assert why in (misfit(src, dst) or "")


def test_type_names_read_as_written():
    """Unions, lists and dicts are named as an author writes them."""
    assert ["int | None", "list[Num]", "dict[str, float]", "Start | Stop"] == [
        type_name(t) for t in (int | None, list[Num], dict[str, float], Start | Stop)]
