"""The lean path's msgpack codec agrees with msgspec on every value the control protocol
can carry, and refuses what it does not handle with ValueError (the lean path then hands
over to the full client)."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuro.shell import _minipack

_scalars = (st.none() | st.booleans() | st.integers(min_value=-(1 << 63), max_value=(1 << 64) - 1)
            | st.floats(allow_nan=False) | st.text() | st.binary())
values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=5)
                      | st.dictionaries(st.text(max_size=10), inner, max_size=5), max_leaves=30)


@settings(max_examples=400, deadline=None)
@given(values)
def test_decodes_what_msgspec_encodes(value):
    assert _minipack.decode(msgspec.msgpack.encode(value)) == value


@settings(max_examples=400, deadline=None)
@given(values)
def test_msgspec_decodes_what_it_encodes(value):
    assert msgspec.msgpack.decode(_minipack.encode(value)) == value


@pytest.mark.parametrize("n", [0, 31, 32, 255, 256, 65535, 65536])
def test_every_length_header(n):
    for value in ("x" * n, b"x" * n, [1] * n, {str(i): i for i in range(n)}):
        assert _minipack.decode(msgspec.msgpack.encode(value)) == value
        assert msgspec.msgpack.decode(_minipack.encode(value)) == value


@pytest.mark.parametrize("data", [b"", b"\x92\x01", b"\xd9\x05ab", b"\xcb\x00", b"\xc7\x01\x01x",
                                  b"\x01\x02", b"\x81\x90\x01"])
def test_bad_input_is_a_value_error(data):
    with pytest.raises(ValueError):
        _minipack.decode(data)


def test_unencodable_values_are_a_value_error():
    for value in (object(), 1 << 64, -(1 << 63) - 1):
        with pytest.raises(ValueError):
            _minipack.encode(value)
