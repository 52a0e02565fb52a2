"""A neuro's `dream = {...}` is checked when its class is defined, with errors that name the key."""

from __future__ import annotations

import pytest

from neuro import sdk
from neuro.dream import check_dream
from neuro.dream._settings import parse_duration
from tests.dream.teachers import Area, Point


def test_defaults_fill_every_key():
    """An empty dict (or True) is the defaults, every key filled in."""
    settings = check_dream({}, "here")
    assert settings == check_dream(True, "here")
    assert 0.98 == settings["agreement"]
    assert 600.0 == settings["every"]


def test_durations_read_as_seconds():
    """`every` and `idle` take seconds or "90s", "10m", "2h"."""
    assert 600.0 == check_dream({"every": "10m"}, "here")["every"]
    assert 5400.0 == parse_duration("1.5h", "every")
    assert 30.0 == check_dream({"idle": 30}, "here")["idle"]


def test_unknown_key_names_the_known_ones():
    """A misspelt key is refused, listing the keys there are."""
    with pytest.raises(sdk.ManifestError, match=r"unknown key\(s\) agrement; known: agreement"):
        check_dream({"agrement": 0.9}, "here")


def test_out_of_range_names_the_key():
    """An agreement over 1 or a speed-up under 1 says which key and what it takes."""
    with pytest.raises(sdk.ManifestError, match=r"`dream.agreement` is a fraction"):
        check_dream({"agreement": 1.5}, "here")
    with pytest.raises(sdk.ManifestError, match=r"`dream.speedup` is how many times faster"):
        check_dream({"speedup": 0.5}, "here")


def test_wrong_type_names_the_key():
    """A value of the wrong type names its key."""
    with pytest.raises(sdk.ManifestError, match=r"`dream.min_traces`"):
        check_dream({"min_traces": "many"}, "here")
    with pytest.raises(sdk.ManifestError, match=r"`dream.every` must be seconds or a duration"):
        check_dream({"every": "soon"}, "here")


def test_bad_settings_fail_when_the_class_is_defined():
    """The manifest checks `dream` at class definition, naming the neuro."""
    with pytest.raises(sdk.ManifestError, match=r"\(bad-dream\): `dream` is not valid"):
        class Bad(sdk.Neuro):
            name = "bad-dream"
            input = Point
            output = Area
            dream = {"held_out": 2.0}

            def handle(self, ctx, msg):
                return None


def test_manifest_carries_the_checked_settings():
    """A neuro's manifest holds its settings, checked and filled in; one without has None."""
    from tests.dream.teachers import Summer

    assert 60 == Summer.__manifest__.dream["min_traces"]
    assert 0.05 == Summer.__manifest__.dream["tolerance"]

    class Plain(sdk.Neuro):
        name = "plain"
        input = Point

        def handle(self, ctx, msg):
            return None

    assert Plain.__manifest__.dream is None
