"""The version store lives in the log: a kernel started on a log has the history, lineage and
sources of every version the log holds, so `versions`, `rollback`, `source` and `diff` work
after a restart; the CLI shows them (`neuro versions NAME [--source V]`, `neuro diff`)."""

from __future__ import annotations

import json

import pytest
import trio

import neuro
from neuro.kernel._versions import Lineage, VersionSource, diff_sources

from ..daemon.conftest import daemon, home, neuro_cmd  # noqa: F401 - fixtures for the CLI tests
from .neuros_for_tests import tutor_code


def write(tmp_path, answer, name="tutor.py"):
    folder = tmp_path / answer
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(tutor_code(answer).decode())
    return path


def kernel(tmp_path, **options):
    return neuro.Kernel(log=tmp_path / "run.db", **options)


async def ask(k, name="tutor"):
    return (await k.call(name, {"text": "?"}, timeout=5.0)).text


async def two_versions(tmp_path, trusted=True, **options):
    """A first kernel: tutor v1 spawned, then swapped to v2 (origin file); returns both versions."""
    async with kernel(tmp_path, **options) as k:
        v1 = await k.load(write(tmp_path, "first"), trusted=trusted)
        await k.spawn(v1.cls, source=v1.files)
        v2 = await k.load(write(tmp_path, "second"), trusted=trusted)
        await k.swap("tutor", v2.cls, source=v2.files, origin="file")
        return v1.version, v2.version


def test_a_restart_keeps_the_history_and_rollback_works(tmp_path):
    """A new kernel on the same log lists v1 and v2 before anything runs, and once v2 runs again
    `rollback` goes back to v1, which answers as v1 did."""

    async def second():
        async with kernel(tmp_path) as k:
            before = [(v.version, v.origin, v.parent, v.live) for v in k.versions("tutor")]
            v2 = await k.load(write(tmp_path, "second"), trusted=True)
            await k.spawn(v2.cls, source=v2.files)
            report = await k.rollback("tutor")
            return before, report.new_version, await ask(k), [(v.version, v.live) for v in k.versions("tutor")]

    v1, v2 = trio.run(two_versions, tmp_path)
    before, rolled_to, answer, after = trio.run(second)
    assert ([(v1, "spawn", None, False), (v2, "file", v1, False)], v1, "first", [(v1, True), (v2, False)]) == (
        before, rolled_to, answer, after)


def test_lineage_is_recorded_and_read_back(tmp_path):
    """Each version's lineage (origin, parents, trust, and what its maker added under
    __neuro_lineage__) is the same after a restart as when it was recorded."""

    async def first():
        async with kernel(tmp_path) as k:
            v1 = await k.load(write(tmp_path, "first"), trusted=True)
            await k.spawn(v1.cls, source=v1.files)
            v2 = await k.load(write(tmp_path, "second"), trusted=True)
            v2.cls.__neuro_lineage__ = {"teacher": v1.version, "traces": [10, 99], "gate": {"agreement": 0.98},
                                        "notes": {"by": "test"}}
            await k.swap("tutor", v2.cls, source=v2.files, origin="dream")
            return [v.lineage for v in k.versions("tutor")], v1.version

    async def second():
        async with kernel(tmp_path) as k:
            return [v.lineage for v in k.versions("tutor")]

    recorded, v1 = trio.run(first)
    expected = [Lineage(origin="spawn", trusted=True),
                Lineage(origin="dream", parents=[v1], trusted=True, teacher=v1, traces=[10, 99],
                        gate={"agreement": 0.98}, notes={"by": "test"})]
    assert (expected, expected) == (recorded, trio.run(second))


def test_a_lineage_with_an_unknown_key_is_refused_naming_it(tmp_path):
    """__neuro_lineage__ with a key Lineage does not have is a NeuroError listing the known keys."""

    async def main():
        async with kernel(tmp_path) as k:
            v1 = await k.load(write(tmp_path, "first"), trusted=True)
            v1.cls.__neuro_lineage__ = {"teachr": "abc"}
            with pytest.raises(neuro.NeuroError) as refused:
                await k.spawn(v1.cls, source=v1.files)
            return str(refused.value)

    assert str(trio.run(main)).startswith("tutor: its __neuro_lineage__ has unknown keys ['teachr']; known: origin, ")


def test_untrusted_code_stays_untrusted_after_a_restart(tmp_path):
    """Versions a sandbox described are recorded as such: after a restart, rolled back to, the
    old version is described in a sandbox again and runs there, never in the kernel."""

    async def second():
        async with kernel(tmp_path) as k:
            lineage = [(v.lineage.trusted, v.lineage.loader) for v in k.versions("tutor")]
            v2 = await k.load(write(tmp_path, "second"))
            await k.spawn(v2.cls, source=v2.files)
            await k.rollback("tutor")
            return lineage, k.info("tutor").sandbox, await ask(k)

    trio.run(two_versions, tmp_path, False)
    assert ([(False, "untrusted"), (False, "untrusted")], "process", "first") == trio.run(second)


def test_a_stored_versions_source_and_diff(tmp_path):
    """`source` gives a stored version's files as text; `diff_sources` a unified diff of two,
    empty for a version against itself."""

    async def second():
        async with kernel(tmp_path) as k:
            v1, v2 = (v.version for v in k.versions("tutor"))
            return await k.source("tutor", v1[:6]), await k.source("tutor", v2)

    trio.run(two_versions, tmp_path)
    old, new = trio.run(second)
    diff = diff_sources(old, new)
    assert ({"tutor.py": tutor_code("first").decode()}, "", True, True) == (
        old.files, diff_sources(old, old), '-        return A(text="first")\n' in diff,
        '+        return A(text="second")\n' in diff)


def test_the_diff_of_two_modules_ignores_their_file_names():
    """Two single modules are compared as one file, whatever each was called; artifacts that
    changed are listed after the code."""
    old = VersionSource(neuro="n", version="a" * 16, files={"old.py": "x = 1\n"}, artifacts={"w.bin": "1" * 64})
    new = VersionSource(neuro="n", version="b" * 16, files={"new.py": "x = 2\n"}, artifacts={"w.bin": "2" * 64})
    assert ["--- n@aaaaaaaaaaaaaaaa/old.py", "+++ n@bbbbbbbbbbbbbbbb/new.py", "@@ -1 +1 @@", "-x = 1", "+x = 2",
            "artifact w.bin: 111111111111 -> 222222222222"] == diff_sources(old, new).splitlines()


def test_an_unknown_version_is_refused_listing_the_known_ones(tmp_path):
    """source() of a version the store does not have names the versions it has."""

    async def second():
        async with kernel(tmp_path) as k:
            with pytest.raises(neuro.NeuroError) as refused:
                await k.source("tutor", "ffff")
            return str(refused.value)

    v1, v2 = trio.run(two_versions, tmp_path)
    assert f"tutor has no versions matching 'ffff'; known: {v1}, {v2} (see `neuro versions tutor`)" == trio.run(second)


# -- through the CLI, against a real daemon --------------------------------------------------

def run_json(*args, home, code=0):
    done = neuro_cmd(*args, "--json", home=home)
    assert (code, "") == (done.returncode, done.stderr), done.stdout
    return json.loads(done.stdout)


def test_versions_source_and_diff_by_command_and_after_a_daemon_restart(daemon, tmp_path):  # noqa: F811
    """`neuro versions --source` prints v1's code, `neuro diff` the change, and after `neuro daemon
    restart` the history is still there and `neuro rollback` goes back to v1."""
    first, second = write(tmp_path, "first"), write(tmp_path, "second", "renamed.py")
    v1 = run_json("spawn", str(first), "--trusted", home=daemon.home)["version"]
    v2 = run_json("swap", "tutor", str(second), "--trusted", home=daemon.home)["new_version"]
    source = neuro_cmd("versions", "tutor", "--source", v1[:8], home=daemon.home)
    diff = neuro_cmd("diff", "tutor", v1[:8], v2[:8], home=daemon.home)
    assert 0 == neuro_cmd("daemon", "restart", home=daemon.home).returncode
    listed = run_json("versions", "tutor", home=daemon.home)
    run_json("spawn", str(second), "--trusted", home=daemon.home)
    back = run_json("rollback", "tutor", home=daemon.home)
    answer = run_json("call", "tutor", home=daemon.home)["reply"]["text"]
    assert (0, first.read_text()) == (source.returncode, source.stdout)
    assert (0, f"--- tutor@{v1}/tutor.py", f"+++ tutor@{v2}/renamed.py", True) == (
        diff.returncode, *diff.stdout.splitlines()[:2], '+        return A(text="second")' in diff.stdout.splitlines())
    assert ([(v1, "spawn", True), (v2, "api", True)], v1, "first") == (
        [(r["version"], r["origin"], r["lineage"]["trusted"]) for r in listed], back["new_version"], answer)


def test_a_swap_to_the_running_version_says_unchanged(daemon, tmp_path):  # noqa: F811
    """Swapping to the same code under another file name changes nothing and says so plainly."""
    first = write(tmp_path, "first")
    copy = tmp_path / "copy.py"
    copy.write_text(first.read_text())
    version = run_json("spawn", str(first), "--trusted", home=daemon.home)["version"]
    done = neuro_cmd("swap", "tutor", str(copy), "--trusted", home=daemon.home)
    listed = run_json("versions", "tutor", home=daemon.home)
    assert (0, f"unchanged: tutor is already {version}\n", [version]) == (
        done.returncode, done.stdout, [r["version"] for r in listed])


def test_a_log_from_before_lineage_gives_its_versions_back_as_untrusted_code(tmp_path):
    """A log written by a Neuro without lineage (schema 3) upgrades in place; its versions come
    back with their origins and parents, and their code counts as untrusted (never imported)."""
    import shutil
    from pathlib import Path

    path = tmp_path / "old.db"
    shutil.copy(Path(__file__).parent / "data" / "log_schema3.db", path)

    async def main():
        async with neuro.Kernel(log=path) as k:
            history = [(v.origin, v.parent is None, v.lineage.trusted) for v in k.versions("tutor")]
            first = k.versions("tutor")[0].version
            return history, k._store_versions.loader_policy("tutor", first), list((await k.source("tutor", first)).files)

    assert ([("spawn", True, False), ("file", False, False)], "untrusted", ["tutor.py"]) == trio.run(main)
