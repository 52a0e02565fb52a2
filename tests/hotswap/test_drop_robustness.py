"""Drop folders under hostile or careless file systems (issue 16): every way a file arrives is
seen, the folder may vanish and return, names need not be UTF-8, and one slow file holds up
no other. Trusted folders here: these are the folder's mechanics, not trust."""

from __future__ import annotations

import os
import shutil
import textwrap

import pytest
import trio

import neuro
from neuro import _identity  # the one reader of a neuro's files
from neuro.kernel._dropfolder import DropFolder
from neuro._neurofile import MAX_PACKAGE_FILES, NeuroFileError, read_neuro_files


def source(name="echo", tag="v1", top=""):
    return textwrap.dedent(top) + textwrap.dedent(f'''
        from neuro import sdk

        class Ping(sdk.Message):
            text: str

        class Pong(sdk.Message):
            text: str

        class Echo(sdk.Neuro):
            name = "{name}"
            input = Ping
            output = Pong

            def handle(self, ctx, msg):
                return Pong(text="{tag}:" + msg.text)
    ''')


async def start(k, nursery, path, **kw):
    kw.setdefault("trusted", True)
    drop = DropFolder(k, path, **kw)
    await nursery.start(drop.run)
    await drop.wait_idle()
    return drop


async def names(k, event):
    return [e for e in await k.log.events(name=event)]


def run(tmp_path, body, **kw):
    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k, trio.open_nursery() as n:
            drop = await start(k, n, tmp_path / "drop", **kw)
            await body(k, drop, tmp_path / "drop")
            n.cancel_scope.cancel()

    trio.run(main)


def test_a_file_name_that_is_not_utf8_is_an_error_not_a_crash(tmp_path):
    """A name with non-UTF-8 bytes is a drop.error showing it escaped; the kernel serves on."""

    async def body(k, drop, folder):
        with open(os.path.join(os.fsencode(folder), b"\xff\xfe-bytes.py"), "w") as f:
            f.write(source())
        (folder / "good.py").write_text(source("good"))
        await drop.wait_idle()
        errors = await names(k, "drop.error")
        assert errors and all("\\xff\\xfe-bytes.py" in e.data["file"] and "not valid UTF-8" in e.data["error"]
                              for e in errors)
        assert "v1:ok" == (await k.call("good", {"text": "ok"}, timeout=5)).text

    run(tmp_path, body)


def test_a_kernel_starts_whatever_the_folder_holds(tmp_path):
    """A folder that already holds a non-UTF-8 name when the kernel starts: it starts and reports it."""
    folder = tmp_path / "drop"
    folder.mkdir()
    with open(os.path.join(os.fsencode(folder), b"bad-\xff.py"), "w") as f:
        f.write(source())

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db", trusted_dirs=[folder]) as k:
            [drop] = k.drop_folders()
            await drop.wait_idle()
            errors = await names(k, "drop.error")
            assert errors and all("bad-\\xff.py" in e.data["file"] and "not valid UTF-8" in e.data["error"]
                                  for e in errors)

    trio.run(main)


def test_a_file_moved_in_from_another_folder_is_loaded(tmp_path):
    """`mv` from outside the folder (no close-write in it) spawns the neuro."""
    elsewhere = tmp_path / "elsewhere.py"
    elsewhere.write_text(source())

    async def body(k, drop, folder):
        os.rename(elsewhere, folder / "echo.py")
        await drop.wait_idle()
        assert "v1:moved" == (await k.call("echo", {"text": "moved"}, timeout=5)).text

    run(tmp_path, body)


def test_a_symlink_made_in_place_is_loaded_without_a_rescan(tmp_path):
    """`ln -s` of a file inside the folder gives an event and loads."""

    async def body(k, drop, folder):
        (folder / "_impl").mkdir()
        (folder / "_impl" / "real.py").write_text(source())
        os.symlink(folder / "_impl" / "real.py", folder / "echo.py")
        await drop.wait_idle()
        assert "v1:link" == (await k.call("echo", {"text": "link"}, timeout=5)).text
        assert 1 == drop.statistics().rescans  # only the start's

    run(tmp_path, body)


def test_the_folder_deleted_and_made_again_is_watched_again(tmp_path):
    """Deleting the folder is drop.folder_lost (its neuros stop); made again, its files load (drop.folder_back)."""

    async def body(k, drop, folder):
        (folder / "echo.py").write_text(source())
        await drop.wait_idle()
        shutil.rmtree(folder)
        with trio.fail_after(10):
            while not await names(k, "drop.folder_lost"):
                await trio.sleep(0.02)
        folder.mkdir()
        with trio.fail_after(10):
            while not await names(k, "drop.folder_back"):
                await trio.sleep(0.02)
        (folder / "echo.py").write_text(source(tag="v2"))
        await drop.wait_idle()
        assert "v2:back" == (await k.call("echo", {"text": "back"}, timeout=5)).text

    run(tmp_path, body)


def test_a_package_of_too_many_files_is_refused(tmp_path):
    """A package folder with more files than the limit is a drop.error naming the limit."""

    async def body(k, drop, folder):
        pkg = tmp_path / "pkg"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text(source())
        for i in range(MAX_PACKAGE_FILES + 1):
            (pkg / "data" / f"{i}.txt").write_bytes(b"")
        os.rename(pkg, folder / "pkg")
        await drop.wait_idle()
        errors = await names(k, "drop.error")
        assert errors and all(f"more than {MAX_PACKAGE_FILES} files" in e.data["error"] for e in errors)
        assert [] == k.ps()

    run(tmp_path, body)


def test_one_slow_import_holds_up_no_other_drop(tmp_path):
    """A file whose import takes a while does not delay a file dropped after it: the second spawns first."""

    async def body(k, drop, folder):
        (folder / "slow.py").write_text(source("slow", top="import time\ntime.sleep(1.5)\n"))
        await trio.sleep(0.2)  # the slow one is loading
        (folder / "quick.py").write_text(source("quick"))
        await drop.wait_idle()
        spawned = [e.neuro for e in await names(k, "drop.spawned")]
        assert ["quick", "slow"] == spawned

    run(tmp_path, body)


def test_the_file_read_is_the_file_checked(tmp_path, monkeypatch):
    """A symlink swapped to point outside between the check and the open is caught on the opened file."""
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "inside.py").write_text(source())
    outside = tmp_path / "outside.py"
    outside.write_text(source(tag="evil"))
    link = folder / "echo.py"
    os.symlink(folder / "inside.py", link)
    check = _identity._check_inside

    def check_then_swap(path, folder_real, shown):
        check(path, folder_real, shown)
        if os.path.islink(link):  # the race, won by the attacker every time
            os.unlink(link)
            os.symlink(outside, link)

    monkeypatch.setattr(_identity, "_check_inside", check_then_swap)
    with pytest.raises(NeuroFileError) as info:
        read_neuro_files(str(link), str(folder))
    assert "outside the folder" in str(info.value)
