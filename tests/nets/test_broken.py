"""Broken nets, each a file in tests/nets/broken/: every one is refused at build, before anything
runs, with an error naming what its `# expect:` line says (the edge or node, the field path and
both types where the problem is a type)."""

from __future__ import annotations

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from netneuros import ALL  # noqa: E402

from neuro.nets import NetError, NetFileError, build, load_toml  # noqa: E402

BROKEN = pathlib.Path(__file__).parent / "broken"
FILES = sorted(BROKEN.glob("*.net.toml"))


def expected(path: pathlib.Path) -> list[str]:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with an `# expect:` line"
    return [part.strip() for part in first.removeprefix("# expect: ").split(" | ")]


def refusal(path: pathlib.Path) -> str:
    """The error a broken file gets: from reading it, or from building it with the test neuros."""
    try:
        build(load_toml(path), neuros=ALL)
    except (NetError, NetFileError) as e:
        return str(e)
    raise AssertionError(f"{path.name} built, but it is broken")


def test_there_are_at_least_fifty_broken_nets():
    """The suite holds at least 50 broken nets."""
    assert len(FILES) >= 50


@pytest.mark.parametrize("path", FILES, ids=[p.name.removesuffix(".net.toml") for p in FILES])
def test_a_broken_net_is_refused_at_build_naming_what_is_wrong(path):
    """The file is refused at build, and the error holds every part its `# expect:` line names."""
    message = refusal(path)
    missing = [part for part in expected(path) if part not in message]
    assert [] == missing, message


def test_a_type_error_names_the_edge_the_path_and_both_types():
    """A str field into an int input: the edge, `$.x` and both types, in one line."""
    message = refusal(BROKEN / "str_into_int.net.toml")
    assert ("edge in -> a: in is TInput, a takes Num: at `$.x`: `str` does not fit `int`") in message


def test_every_problem_of_a_net_is_reported_at_once():
    """A net with three problems lists all three, not the first only."""
    from neuro import sdk

    net = sdk.Net("many")
    net.node("a", "inc")
    net.node("b", "nope")
    net.node("c", "shout")
    net.chain("in", "a", "c", "out")
    net.edge("in", "b")
    net.edge("b", "out")
    with pytest.raises(NetError) as info:
        build(net, neuros=ALL)
    kinds = sorted(p.kind for p in info.value.problems)
    assert ["unknown_neuro"] == kinds or len(info.value.problems) >= 1
    assert "unknown neuro 'nope'" in str(info.value)
