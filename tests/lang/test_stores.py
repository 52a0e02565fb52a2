"""The global context: `store NAME: T = default` is a named store of the kernel, shared by every
run of every net; `get` and `put` are calls of the `lang.store` system neuro (never memoised),
kept across a kernel restart where the kernel keeps a log."""

from __future__ import annotations

import json

import pytest
import trio

import neuro
from neuro import lang
from neuro.lang._store import StoreHost

from conftest import neuro_cmd
from langneuros import ALL
from running import docs_example, events, formatted_once

COUNT = docs_example("stores")  # the net `count` of docs/lang.md


def _counting(log, then):
    """`await then(k)` in a kernel (on `log`, or none) running the store neuro and the net `count`."""

    async def main():
        async with neuro.Kernel(log=log) as k:
            await k.spawn(StoreHost)
            program = lang.compile_source(COUNT, "count.neuro", kernel=k)
            await k.spawn(program.nets["count"].neuro())
            return await then(k)

    return trio.run(main)


async def _count(k, key):
    return (await k.call("count", {"key": key})).count


def _counts(log, keys):
    async def then(k):
        return [await _count(k, key) for key in keys]

    return _counting(log, then)


def test_runs_share_the_store_and_a_restart_keeps_it(tmp_path):
    """Each run reads what the runs before it put, per key; a new kernel on the same log goes on counting."""
    log = tmp_path / "run.db"
    assert [1, 2, 1, 3] == _counts(log, "aaba")
    assert [4, 2] == _counts(log, "ab")
    runs = events(log, "net.run")
    assert all(r["cached"] == 0 for r in runs)  # a store's answers are never taken from the memo


def test_without_a_log_the_store_lives_in_memory():
    """An embedded kernel with no log keeps the store for as long as it runs."""
    assert [1, 2, 3] == _counts(None, "aaa")


def test_a_program_that_uses_a_store_names_the_store_neuro():
    """`Program.system` lists the store neuro, which a drop folder and `neuro lang run` start."""
    assert [StoreHost] == lang.compile_source(COUNT, "count.neuro", neuros=ALL).system
    assert [] == lang.compile_source("use inc\nnet f(n) {\n    return inc(n)\n}\n", "f.neuro", neuros=ALL).system


@pytest.mark.parametrize("src, at, words", [
    ("store counts: int = 0\nnet f(k) {\n    c = get count[k.key]\n    return {n: c}\n}\n", (3, 5),
     "unknown store `count`: declare it, `store count: Type` (the stores here: counts)"),
    ('store counts: int = "zero"\nnet f(k) {\n    c = get counts[k.key]\n    return {n: c}\n}\n', (1, 21),
     "store `counts`: its default 'zero' is not a int"),
    ("store counts: int = 0\nstore counts: str\nnet f(k) {\n    c = get counts[k.key]\n    return {n: c}\n}\n",
     (2, 1), "store `counts` is declared twice, differently (line 1); keep one"),
])
def test_a_wrong_store_is_refused_at_its_place(src, at, words):
    """An unknown store, a default of another type, a store declared twice: each at its line and column."""
    with pytest.raises(lang.LangError) as caught:
        lang.compile_source(src, "f.neuro", neuros=ALL)
    matching = [d for d in caught.value.diagnostics if d.message.startswith(words)]
    assert matching, str(caught.value)
    assert at == (matching[0].line, matching[0].column)


def test_get_and_put_round_trip_through_the_formatter():
    """The formatted text parses to the same tree, and formatting it again changes nothing."""
    text = "store seen:list[str]=[]\nnet f(k){s=get seen[k.key]\nput seen[k.key+\"!\"]=s+[k.key] return {n: len(s)}}"
    once = formatted_once(text)
    assert '    s = get seen[k.key]\n    put seen[k.key + "!"] = s + [k.key]\n' in once


def test_neuro_lang_run_starts_the_store_and_counts(daemon, home, tmp_path):
    """`neuro lang run` on a file with a store spawns `lang.store` in the daemon; two runs count 1, then 2."""
    program = tmp_path / "count.neuro"
    program.write_text(COUNT)
    got = []
    for _ in range(2):
        done = neuro_cmd("lang", "run", program, "key=a", "--json", home=home)
        assert 0 == done.returncode, done.stderr
        got.append(json.loads(done.stdout)["output"]["count"])
    assert [1, 2] == got


class NewerStore(StoreHost):
    """Another version of the store neuro (its source differs): what a swap brings in."""


def test_a_swap_of_the_store_neuro_keeps_its_tables():
    """After `lang.store` is swapped to a new version, the count goes on (snapshot -> restore)."""

    async def then(k):
        got = [await _count(k, "a")]
        before = k.info("lang.store").version
        await k.swap("lang.store", NewerStore)
        got.append(await _count(k, "a"))
        return got, before != k.info("lang.store").version

    assert ([1, 2], True) == _counting(None, then)
