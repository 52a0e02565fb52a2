"""Drop folders: drop a file in and it serves, change it and it swaps, delete it and it stops."""

from __future__ import annotations

import os
import textwrap

import trio

import neuro
from neuro.kernel._dropfolder import DropFolder

from ..conftest import run

NEURO = """\
import trio
from neuro import sdk

class Ping(sdk.Message):
    text: str

class Echo(sdk.Neuro):
    name = "{name}"
    input = Ping
    output = Ping

    async def handle(self, ctx, msg):
        await trio.sleep({delay})
        return Ping(text="{tag}:" + msg.text)
"""


def source(tag="v1", name="echo", delay=0):
    return textwrap.dedent(NEURO.format(tag=tag, name=name, delay=delay))


def Ping(text):
    """The message type as the running version declares it (each version has its own class)."""

    class _Ping(neuro.sdk.Message):
        text: str

    return _Ping(text=text)


async def ask(k, name="echo", text="hi"):
    return (await k.call(name, Ping(text), timeout=5.0)).text


async def events(k, name):
    return [e for e in await k.log.events(name=name)]


class Folder:
    """A kernel on a real SQLite log with one or more drop folders running."""

    def __init__(self, k, nursery, *drops):
        self.k, self.nursery, self.drops = k, nursery, drops


async def start(k, nursery, path, **kw):
    kw.setdefault("trusted", True)  # the folder's mechanics; tests/hotswap/test_untrusted_drop.py covers trust
    drop = DropFolder(k, path, **kw)
    await nursery.start(drop.run)
    await drop.wait_idle()
    return drop


def test_dropped_file_is_spawned_and_serves(tmp_path):
    """A file dropped into the folder is spawned under its manifest's name and serves."""

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k, trio.open_nursery() as n:
            drop = await start(k, n, tmp_path / "drop")
            (tmp_path / "drop" / "whatever.py").write_text(source("v1"))
            await drop.wait_idle()
            assert "v1:hi" == await ask(k)
            spawned = await events(k, "drop.spawned")
            assert [("echo", str(tmp_path / "drop" / "whatever.py"))] == [(e.neuro, e.data["file"]) for e in spawned]
            n.cancel_scope.cancel()

    run(main)


def test_file_present_at_start_is_spawned(tmp_path):
    """A file already in the folder when it starts is spawned by the first scan."""

    async def main():
        (tmp_path / "drop").mkdir()
        (tmp_path / "drop" / "echo.py").write_text(source("v1"))
        async with neuro.Kernel(log=tmp_path / "run.db") as k, trio.open_nursery() as n:
            await start(k, n, tmp_path / "drop")
            assert "v1:hi" == await ask(k)
            n.cancel_scope.cancel()

    run(main)


def test_in_place_edit_swaps_and_the_half_written_file_never_serves(tmp_path):
    """Truncate-then-write, like editors: the empty and half-written states never go live."""

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k, trio.open_nursery() as n:
            drop = await start(k, n, tmp_path / "drop")
            path = tmp_path / "drop" / "echo.py"
            path.write_text(source("v1"))
            await drop.wait_idle()
            new = source("v2").encode()
            with open(path, "r+b") as f:
                f.truncate(0)
                f.flush()
                await drop.wait_idle()
                assert "v1:hi" == await ask(k)  # empty file on disk: still v1
                f.write(new[: len(new) // 2])
                f.flush()
                await drop.wait_idle()
                await trio.sleep(drop.debounce * 2)  # past the quiet period, still open
                assert "v1:hi" == await ask(k)  # half a file on disk: still v1
                f.write(new[len(new) // 2:])
            await drop.wait_idle()
            assert "v2:hi" == await ask(k)
            assert [] == await events(k, "drop.error")
            assert drop.statistics().swapped == 1
            n.cancel_scope.cancel()

    run(main)


def test_atomic_save_swaps_to_the_new_version(tmp_path):
    """Write a temp file and rename it over the neuro: the new version serves."""

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k, trio.open_nursery() as n:
            drop = await start(k, n, tmp_path / "drop")
            path = tmp_path / "drop" / "echo.py"
            path.write_text(source("v1"))
            await drop.wait_idle()
            tmp = tmp_path / "drop" / ".echo.py.tmp"
            tmp.write_text(source("v2"))
            os.replace(tmp, path)
            await drop.wait_idle()
            assert "v2:hi" == await ask(k)
            swapped = await events(k, "drop.swapped")
            assert [("echo", k.info("echo").version)] == [(e.neuro, e.data["version"]) for e in swapped]
            n.cancel_scope.cancel()

    run(main)


def test_broken_save_is_an_error_event_and_the_old_version_keeps_serving(tmp_path):
    """A syntax error in a saved file is a drop.error event with file and line; v1 serves on."""

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k, trio.open_nursery() as n:
            drop = await start(k, n, tmp_path / "drop")
            path = tmp_path / "drop" / "echo.py"
            path.write_text(source("v1"))
            await drop.wait_idle()
            path.write_text(source("v2").replace('return Ping(text="v2:" + msg.text)', "return Ping(text="))
            await drop.wait_idle()
            assert "v1:hi" == await ask(k)
            [error] = await events(k, "drop.error")
            assert ("echo", str(path), 14) == (error.neuro, error.data["file"], error.data["line"])
            assert f"{path}:14: syntax error: '(' was never closed: return Ping(text=" == error.data["error"]
            n.cancel_scope.cancel()

    run(main)


def test_deleted_file_stops_its_neuro_and_queued_messages_die_as_removed(tmp_path):
    """Deleting the file stops the neuro; messages still queued end as dead letters `removed`."""

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k, trio.open_nursery() as n:
            drop = await start(k, n, tmp_path / "drop", stop_timeout=0.05)
            path = tmp_path / "drop" / "slow.py"
            path.write_text(source("v1", name="slow", delay=10))
            await drop.wait_idle()
            ids = [await k.send("slow", Ping(str(i))) for i in range(5)]
            path.unlink()
            await drop.wait_idle()
            assert "slow" not in [p.name for p in k.ps()]
            records = {m.id: m for m in await k.log.messages(neuro="slow")}
            queued = [records[i] for i in ids[1:]]  # the first was in the handler, and was cancelled
            assert [("dead", "removed")] * 4 == [(m.outcome, m.reason) for m in queued]
            assert ["slow"] == [e.neuro for e in await events(k, "drop.removed")]
            n.cancel_scope.cancel()

    run(main)


def test_symlink_escaping_the_folder_is_an_error_and_spawns_nothing(tmp_path):
    """A symlink pointing outside the folder is refused with an error event; nothing spawns."""

    async def main():
        outside = tmp_path / "outside.py"
        outside.write_text(source("v1"))
        async with neuro.Kernel(log=tmp_path / "run.db") as k, trio.open_nursery() as n:
            drop = await start(k, n, tmp_path / "drop")
            os.symlink(outside, tmp_path / "drop" / "echo.py")  # seen without a rescan (issue 16)
            await drop.wait_idle()
            assert [] == k.ps()
            [error] = await events(k, "drop.error")
            assert "a symlink pointing outside the folder" in error.data["error"]
            n.cancel_scope.cancel()

    run(main)


def test_name_clash_across_two_folders_is_an_error_and_changes_nothing(tmp_path):
    """A second folder's neuro with a name the first folder already runs is refused."""

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k, trio.open_nursery() as n:
            one = await start(k, n, tmp_path / "one")
            two = await start(k, n, tmp_path / "two")
            (tmp_path / "one" / "echo.py").write_text(source("one"))
            await one.wait_idle()
            (tmp_path / "two" / "echo.py").write_text(source("two"))
            await two.wait_idle()
            assert "one:hi" == await ask(k)
            [error] = await events(k, "drop.error")
            assert (f"{tmp_path / 'two' / 'echo.py'}: a neuro named 'echo' is already running, started by the drop "
                    f"folder entry {tmp_path / 'one'}/echo.py; rename this one (its manifest's name) or stop that "
                    "one first") == error.data["error"]
            n.cancel_scope.cancel()

    run(main)


def test_name_clash_with_a_neuro_spawned_by_the_api_is_an_error(tmp_path):
    """A dropped neuro whose name an API-spawned neuro runs under is refused; the API one serves."""

    async def main():
        (tmp_path / "mine").mkdir()
        (tmp_path / "mine" / "echo.py").write_text(source("api"))
        from neuro._neurofile import load_neuro_path

        async with neuro.Kernel(log=tmp_path / "run.db") as k, trio.open_nursery() as n:
            await k.spawn(load_neuro_path(tmp_path / "mine" / "echo.py").cls)
            drop = await start(k, n, tmp_path / "drop")
            (tmp_path / "drop" / "echo.py").write_text(source("drop"))
            await drop.wait_idle()
            assert "api:hi" == await ask(k)
            [error] = await events(k, "drop.error")
            assert "started by the API (or a supervisor)" in error.data["error"]
            n.cancel_scope.cancel()

    run(main)


def test_package_folder_with_neuro_toml_spawns_and_swaps_on_a_submodule_edit(tmp_path):
    """A package folder named by its neuro.toml spawns; editing one of its modules swaps it."""

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k, trio.open_nursery() as n:
            drop = await start(k, n, tmp_path / "drop")
            staging = tmp_path / "staging"
            staging.mkdir()
            (staging / "__init__.py").write_text("from .impl import Echo\n")
            (staging / "impl.py").write_text(source("pkg1").replace('    name = "echo"\n', ""))
            (staging / "neuro.toml").write_text('name = "packaged"\n')
            os.rename(staging, tmp_path / "drop" / "pkg")  # the folder arrives whole
            await drop.wait_idle()
            assert "pkg1:hi" == await ask(k, "packaged")
            (tmp_path / "drop" / "pkg" / "impl.py").write_text(source("pkg2").replace('    name = "echo"\n', ""))
            await drop.wait_idle()
            assert "pkg2:hi" == await ask(k, "packaged")
            assert (1, 1) == (drop.statistics().spawned, drop.statistics().swapped)
            n.cancel_scope.cancel()

    run(main)


def test_queue_overflow_rescans_the_folder(tmp_path):
    """When inotify reports an overflow (events were lost), the folder is scanned again."""

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k, trio.open_nursery() as n:
            drop = await start(k, n, tmp_path / "drop")
            report = drop._report
            drop._report = lambda kind, paths: None if "echo.py" in str(paths) else report(kind, paths)
            (tmp_path / "drop" / "echo.py").write_text(source("v1"))  # the kernel drops its events...
            await drop.wait_idle()
            del drop._report
            assert [] == k.ps()  # ...so nothing knows of the file yet
            [emitter] = drop._observer.emitters
            await trio.to_thread.run_sync(emitter._inotify.on_queue_overflow)  # ...and says so
            await drop.wait_idle()
            assert "v1:hi" == await ask(k)
            assert 2 == drop.statistics().rescans  # at start, and on the overflow
            n.cancel_scope.cancel()

    run(main)


def test_renamed_file_keeps_its_neuro_running(tmp_path):
    """Renaming a neuro file inside the folder leaves its neuro running (the name is the manifest's)."""

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k, trio.open_nursery() as n:
            drop = await start(k, n, tmp_path / "drop")
            (tmp_path / "drop" / "a.py").write_text(source("v1"))
            await drop.wait_idle()
            os.rename(tmp_path / "drop" / "a.py", tmp_path / "drop" / "b.py")
            await drop.wait_idle()
            assert "v1:hi" == await ask(k)
            assert [] == await events(k, "drop.error")
            n.cancel_scope.cancel()

    run(main)


def test_editor_temp_and_hidden_files_are_ignored(tmp_path):
    """Hidden files, `~` backups and `.swp` files are never loaded."""

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k, trio.open_nursery() as n:
            drop = await start(k, n, tmp_path / "drop")
            for name in (".echo.py", "echo.py~", ".echo.py.swp", "notes.txt"):
                (tmp_path / "drop" / name).write_text(source("v1"))
            await drop.wait_idle()
            assert ([], 0) == (k.ps(), drop.statistics().loads)
            n.cancel_scope.cancel()

    run(main)
