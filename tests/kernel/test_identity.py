"""One content identity: the same neuro has one version however it arrives (imported, loaded by
path, dropped into a folder, sent as a ``source=`` dict, read back from the log), and its tests,
caches and file name are no part of it."""

from __future__ import annotations

import importlib
import itertools
import shutil
import sys
import textwrap

import trio

import neuro
from neuro._identity import canonical_files, hash_files, read_neuro_files
from neuro.kernel._dropfolder import DropFolder
from neuro.kernel._control_ops import resolve_neuro

SHOUT = textwrap.dedent('''
    from neuro import sdk

    from .helper import shout


    class In(sdk.Message):
        text: str


    class Out(sdk.Message):
        text: str


    class Shout(sdk.Neuro):
        name = "shout"
        input = In
        output = Out

        def handle(self, ctx, msg):
            return Out(text=shout(msg.text))
''')
HELPER = "def shout(text):\n    return text.upper()\n"
TEST = "from . import Shout\n\n\ndef test_it_has_a_name():\n    assert Shout.name == 'shout'\n"
MODULE = textwrap.dedent('''
    from neuro import sdk


    class In(sdk.Message):
        text: str


    class Whisper(sdk.Neuro):
        name = "whisper"
        input = In
        output = In

        def handle(self, ctx, msg):
            return In(text=msg.text.lower())
''')

_names = itertools.count()


def package(where, name="shout", tests=True):
    """A package folder `name` in `where`: the neuro, a helper and (with `tests`) a test file,
    a tests/ folder, a conftest and a bytecode cache beside them."""
    folder = where / name
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(SHOUT)
    (folder / "helper.py").write_text(HELPER)
    if tests:
        (folder / "test_shout.py").write_text(TEST)
        (folder / "helper_test.py").write_text(TEST)
        (folder / "conftest.py").write_text("")
        (folder / "tests").mkdir()
        (folder / "tests" / "test_more.py").write_text(TEST)
        (folder / "__pycache__").mkdir()
        (folder / "__pycache__" / "helper.cpython-311.pyc").write_bytes(b"\x00\x01cache")
        (folder / ".notes.py").write_text("x = 1\n")
    return folder


def imported(where, name):
    """Import package `name` from `where` as installed code is imported (`module:Class`)."""
    sys.path.insert(0, str(where))
    try:
        return resolve_neuro(f"{name}:Shout")
    finally:
        sys.path.remove(str(where))
        importlib.invalidate_caches()


def test_a_package_has_one_version_however_it_arrives(tmp_path):
    """Imported, loaded by path (trusted and untrusted), dropped (trusted and untrusted), sent as a
    source= dict in either layout, and read back from the log: one version."""
    bare = package(tmp_path / "bare", tests=False)
    full = package(tmp_path / "full")
    module_name = f"shout_{next(_names)}"
    shutil.copytree(full, tmp_path / "site" / module_name)
    files = read_neuro_files(str(bare), str(bare.parent))
    by_import = imported(tmp_path / "site", module_name).version()
    for name in ("trusted_drop", "untrusted_drop"):
        (tmp_path / name).mkdir()

    async def first():
        async with neuro.Kernel(log=tmp_path / "run.db") as k:
            trusted = await k.load(full, trusted=True)
            untrusted = await k.load(full)
            folder_relative = {rel.split("/", 1)[1]: data for rel, data in files.items()}
            renamed = {f"other/{rel.split('/', 1)[1]}": data for rel, data in files.items()}
            info = await k.spawn(trusted.cls, source=folder_relative)
            await k.spawn(trusted.cls, source=renamed, name="shout-renamed")
            async with neuro.connect(embedded=True) as client:  # the control socket's own path (Ops)
                over_ops = await client.spawn(f"{full}", trusted=True, name="shout-ops")
            return [trusted.version, untrusted.version, info.version, k.info("shout-renamed").version,
                    over_ops.version]

    async def dropped(trusted):
        drop_path = tmp_path / ("trusted_drop" if trusted else "untrusted_drop")
        async with neuro.Kernel() as k, trio.open_nursery() as nursery:
            drop = DropFolder(k, drop_path, trusted=trusted)
            await nursery.start(drop.run)
            shutil.copytree(full, drop_path / "shout")
            await drop.wait_idle()
            version = k.info("shout").version
            nursery.cancel_scope.cancel()
        return version

    async def after_restart(version):
        async with neuro.Kernel(log=tmp_path / "run.db") as k:
            info = await k.spawn("shout", version=version, as_name="shout-stored")
            return info.version

    versions = trio.run(first)
    versions += [trio.run(dropped, True), trio.run(dropped, False)]
    versions.append(trio.run(after_restart, versions[0]))
    assert [hash_files(files)] * 9 == [by_import, *versions]


def test_tests_caches_and_dot_files_are_no_part_of_a_neuro(tmp_path):
    """A package read with its tests, conftest, tests/ folder, bytecode and dot-files beside it
    reads as the package without them."""
    bare = package(tmp_path / "bare", tests=False)
    full = package(tmp_path / "full")
    assert (["shout/__init__.py", "shout/helper.py"], read_neuro_files(str(bare), str(tmp_path / "bare"))) == (
        list(read_neuro_files(str(full), str(tmp_path / "full"))), read_neuro_files(str(full), str(tmp_path / "full")))


def test_a_source_dict_with_tests_is_the_version_without_them():
    """source= dicts lose their tests and caches in the one layout, so their version is the same."""
    code = {"__init__.py": SHOUT.encode(), "helper.py": HELPER.encode()}
    noisy = {**code, "test_shout.py": TEST.encode(), "tests/test_x.py": b"", "__pycache__/a.pyc": b"\0"}
    assert (list(canonical_files(code, "shout")), hash_files(code)) == (
        list(canonical_files(noisy, "shout")), hash_files(noisy))


def test_the_same_module_under_another_file_name_is_the_same_version(tmp_path):
    """whisper.py and quiet.py holding the same bytes load as one version; a changed byte is another."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "whisper.py").write_text(MODULE)
    (tmp_path / "b" / "quiet.py").write_text(MODULE)
    (tmp_path / "b" / "changed.py").write_text(MODULE + "\n# changed\n")

    async def main():
        async with neuro.Kernel() as k:
            return [(await k.load(p, trusted=True)).version
                    for p in (tmp_path / "a" / "whisper.py", tmp_path / "b" / "quiet.py", tmp_path / "b" / "changed.py")]

    first, second, changed = trio.run(main)
    assert (first, True) == (second, changed != first)


def test_a_module_and_a_package_of_the_same_bytes_are_different_versions():
    """A single module is not the package folder whose __init__.py holds the same bytes."""
    code = MODULE.encode()
    assert hash_files({"whisper.py": code}) != hash_files({"whisper/__init__.py": code})


def test_editing_the_test_beside_a_dropped_neuro_does_not_touch_it(tmp_path):
    """Saving test_shout.py (and a bytecode cache) beside a neuro in a drop folder loads nothing
    and swaps nothing; saving the neuro's own code still swaps it."""
    drop_path = tmp_path / "drop"
    drop_path.mkdir()

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k, trio.open_nursery() as nursery:
            drop = DropFolder(k, drop_path, trusted=True)
            await nursery.start(drop.run)
            folder = package(drop_path)
            await drop.wait_idle()
            version, loads = k.info("shout").version, drop.statistics().loads
            (folder / "test_shout.py").write_text(TEST + "\n\ndef test_another():\n    pass\n")
            (folder / "__pycache__" / "test_shout.cpython-311-pytest.pyc").write_bytes(b"\0cache")
            (folder / "tests" / "test_more.py").write_text(TEST + "# more\n")
            await drop.wait_idle()
            after_tests = (k.info("shout").version, drop.statistics().loads)
            (folder / "helper.py").write_text(HELPER.replace("upper()", "upper() + '!'"))
            await drop.wait_idle()
            reply = await k.call("shout", {"text": "hi"}, timeout=5.0)
            swaps = [e.data["version"] for e in await k.log.events(name="drop.swapped")]
            nursery.cancel_scope.cancel()
        return version, loads, after_tests, reply.text, swaps, k.versions("shout")

    version, loads, after_tests, reply, swaps, history = trio.run(main)
    assert ((version, loads), "HI!", [history[-1].version]) == (after_tests, reply, swaps)
