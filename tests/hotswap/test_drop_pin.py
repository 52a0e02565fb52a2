"""Drop folders remember what runs does not show: a broken file is in `ps` until it loads again
(`drop.fixed`), and a neuro a person stopped or rolled back is pinned until `unpin`."""

from __future__ import annotations

import pytest
import trio

import neuro
from neuro.kernel._dropstate import PinFileError, PinStore

from ..conftest import run
from .test_dropfolder import ask, source


def kernel(tmp_path, **kw):
    return neuro.Kernel(log=tmp_path / "run.db", trusted_dirs=[tmp_path / "drop"], **kw)


async def idle(k):
    for drop in k.drop_folders():
        await drop.wait_idle()


async def names(k, event):
    return [e.neuro for e in await k.log.events(name=event)]


def rows(k):
    return {r.name: (r.state, r.error) for r in k.ps()}


def test_a_file_that_never_loaded_is_a_broken_row_with_its_file_and_line(tmp_path):
    """A file with a syntax error, from which nothing runs, is a `broken` row whose error names file:line."""

    async def main():
        (tmp_path / "drop").mkdir()
        bad = tmp_path / "drop" / "bad.py"
        bad.write_text("from neuro import sdk\n\nclass Bad(sdk.Neuro)\n    name = 'bad'\n")
        async with kernel(tmp_path) as k:
            await idle(k)
            [row] = k.ps()
            assert ("bad.py", "broken", 0, True) == (row.name, row.state, row.pid, row.error.startswith(f"{bad}:3"))

    run(main)


def test_a_running_neuro_whose_file_breaks_keeps_serving_and_shows_the_error(tmp_path):
    """The last good version serves; its row carries the error; fixing the file clears it and logs drop.fixed."""

    async def main():
        (tmp_path / "drop").mkdir()
        path = tmp_path / "drop" / "echo.py"
        path.write_text(source("v1"))
        async with kernel(tmp_path) as k:
            await idle(k)
            path.write_text(source("v2") + "\n    def broken(:\n")
            await idle(k)
            state, error = rows(k)["echo"]
            assert ("running", "v1:hi", True) == (state, await ask(k), error.startswith(f"{path}:"))
            path.write_text(source("v3"))
            await idle(k)
            assert (("running", ""), "v3:hi", ["echo"]) == (rows(k)["echo"], await ask(k), await names(k, "drop.fixed"))

    run(main)


def test_stop_pins_a_drop_neuro_until_unpin(tmp_path):
    """After `stop`, a save of its file starts nothing (drop.held); `unpin` starts the file's version."""

    async def main():
        (tmp_path / "drop").mkdir()
        path = tmp_path / "drop" / "echo.py"
        path.write_text(source("v1"))
        async with kernel(tmp_path) as k:
            await idle(k)
            await k.stop("echo")
            path.write_text(source("v2"))
            await idle(k)
            assert ([], ["echo"], ["echo"]) == ([r.name for r in k.ps()], await names(k, "drop.pinned"),
                                                await names(k, "drop.held"))
            done = await k.unpin("echo")
            assert (("stopped", "running"), "v2:hi") == ((done.how, done.state), await ask(k))

    run(main)


def test_rollback_pins_the_old_version_and_unpin_loads_the_file(tmp_path):
    """After `rollback`, a save does not swap the file's version in; `unpin` does."""

    async def main():
        (tmp_path / "drop").mkdir()
        path = tmp_path / "drop" / "echo.py"
        path.write_text(source("v1"))
        async with kernel(tmp_path) as k:
            await idle(k)
            path.write_text(source("v2"))
            await idle(k)
            await k.rollback("echo")
            path.write_text(source("v3"))
            await idle(k)
            held = await ask(k)
            done = await k.unpin("echo")
            assert ("v1:hi", "rolled_back", "v3:hi") == (held, done.how, await ask(k))

    run(main)


def test_pins_last_across_a_restart_of_the_kernel(tmp_path):
    """With a pins file, a stopped neuro stays stopped and a rolled-back one restarts at its pinned version."""

    async def main():
        (tmp_path / "drop").mkdir()
        (tmp_path / "drop" / "echo.py").write_text(source("v1"))
        (tmp_path / "drop" / "other.py").write_text(source("o1", name="other"))
        pins = tmp_path / "pins.jsonl"
        async with kernel(tmp_path, drop_pins=pins) as k:
            await idle(k)
            (tmp_path / "drop" / "echo.py").write_text(source("v2"))
            await idle(k)
            await k.rollback("echo")
            await k.stop("other")
        async with kernel(tmp_path, drop_pins=pins) as k:
            await idle(k)
            assert (["echo"], "v1:hi") == ([r.name for r in k.ps()], await ask(k))
            await k.unpin("other")
            assert "o1:hi" == await ask(k, "other")

    run(main)


def test_unpin_of_a_neuro_that_is_not_pinned_names_the_pinned_ones(tmp_path):
    """`unpin` of a name without a pin is NoSuchNeuro, saying which are pinned."""

    async def main():
        async with kernel(tmp_path) as k:
            with pytest.raises(neuro.NoSuchNeuro, match="'echo' is not pinned \\(pinned: none\\)"):
                await k.unpin("echo")

    run(main)


def test_a_pins_file_that_does_not_read_names_its_line(tmp_path):
    """A damaged pins file is an error naming the file and the line, and how to recover."""
    pins = tmp_path / "pins.jsonl"
    pins.write_text('{"name": "a", "folder": "/x", "entry": "a.py", "how": "stopped"}\n{"name": 3}\n')
    with pytest.raises(PinFileError, match=f"{pins}:2: .*delete the file"):
        PinStore(pins).load()
