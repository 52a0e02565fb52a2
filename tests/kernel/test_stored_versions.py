"""A stored version under another name: `spawn(name, version=V, as_name=...)` starts any
version in the version store as a new process, so a teacher and its student serve side by side."""

from __future__ import annotations

import shutil

import pytest
import trio

import neuro
from neuro import sdk
from neuro.kernel import Policy
from neuro.kernel._policy import Capabilities
from neuro.kernel._versions import VersionStore

from .neuros_for_tests import tutor_code


def tutor_source(answer: str) -> dict[str, bytes]:
    return {"tutor.py": tutor_code(answer)}


async def load(k, tmp_path, answer, trusted=True):
    folder = tmp_path / answer
    folder.mkdir()
    path = folder / "tutor.py"
    path.write_bytes(tutor_source(answer)["tutor.py"])
    return await k.load(path, trusted=trusted)


def run(body, **options):
    async def main():
        async with neuro.Kernel(**options) as k:
            return await body(k)

    return trio.run(main)


async def teacher_and_student(k, tmp_path):
    """`tutor` at v2, its v1 spawned again as `student`; returns both answers and v1."""
    v1 = await load(k, tmp_path, "first")
    await k.spawn(v1.cls, source=v1.files)
    v2 = await load(k, tmp_path, "second")
    await k.swap("tutor", v2.cls, source=v2.files)
    return v1.version, v2.version


def test_a_teacher_and_its_student_serve_side_by_side(tmp_path):
    """The tutor's first version, spawned as `student`, answers beside the tutor's current one."""

    async def body(k):
        v1, v2 = await teacher_and_student(k, tmp_path)
        info = await k.spawn("tutor", version=v1[:8], as_name="student")
        teacher = await k.call("tutor", {"text": "?"})
        student = await k.call("student", {"text": "?"})
        return (teacher.text, student.text, info.version == v1,
                [(v.version == v1, v.live) for v in k.versions("student")])

    assert ("second", "first", True, [(True, True), (False, False)]) == run(body)


def test_a_version_that_is_not_stored_is_refused_listing_the_known_ones(tmp_path):
    """An unknown version is a NeuroError naming the versions there are."""

    async def body(k):
        v1, v2 = await teacher_and_student(k, tmp_path)
        with pytest.raises(neuro.NeuroError) as refused:
            await k.spawn("tutor", version="ffff", as_name="student")
        return str(refused.value), v1, v2

    message, v1, v2 = run(body)
    assert (f"tutor has no versions matching 'ffff'; known: {v1}, {v2} (see `neuro versions tutor`)") == message


def test_a_stored_version_whose_class_was_let_go_is_loaded_from_its_source(tmp_path, monkeypatch):
    """With old classes no longer kept, the student is loaded again from the source in the log."""
    monkeypatch.setattr(VersionStore, "KEEP_CLASSES", 1)

    async def body(k):
        v1, _ = await teacher_and_student(k, tmp_path)
        v3 = await load(k, tmp_path, "third")
        await k.swap("tutor", v3.cls, source=v3.files)  # v1's class is let go now
        await k.spawn("tutor", version=v1, as_name="student")
        return (await k.call("student", {"text": "?"})).text, k.info("student").version == v1

    assert ("first", True) == run(body, log=tmp_path / "run.db")


def test_the_embedded_client_spawns_a_stored_version(tmp_path):
    """client.spawn(name, version=V, as_name=...) does the same through the client API."""

    async def main():
        async with neuro.connect(embedded=True) as client:
            v1, _ = await teacher_and_student(client.kernel, tmp_path)
            info = await client.spawn("tutor", version=v1, as_name="student")
            return info.name, (await client.call("student", {"text": "?"})).text

    assert ("student", "first") == trio.run(main)


class Order(sdk.Message):
    version: str


class Done(sdk.Message):
    name: str


class Cascade(sdk.Neuro):
    """A system neuro that starts a stored version beside the live one through ctx.kernel."""

    name = "cascade"
    input = Order
    output = Done
    policy = "cascade"

    async def handle(self, ctx, msg):
        info = await ctx.kernel.spawn("tutor", version=msg.version, as_name="student")
        return Done(name=info.name)


def test_a_neuro_granted_spawn_starts_a_stored_version(tmp_path):
    """ctx.kernel.spawn(name, version=V, as_name=...) with `spawn` granted starts the student."""
    cascade = {"cascade": Policy(name="cascade", capabilities=Capabilities(control=("spawn",)))}

    async def body(k):
        v1, _ = await teacher_and_student(k, tmp_path)
        await k.spawn(Cascade)
        done = await k.call("cascade", Order(version=v1))
        return done.name, (await k.call("student", {"text": "?"})).text

    assert ("student", "first") == run(body, policies=cascade)


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed: apt-get install bubblewrap")
def test_an_untrusted_stored_version_is_described_in_a_sandbox_again(tmp_path, monkeypatch):
    """A stored version of untrusted code, its class let go, is described and run only in a sandbox."""
    monkeypatch.setattr(VersionStore, "KEEP_CLASSES", 1)

    async def body(k):
        v1 = await load(k, tmp_path, "first", trusted=False)
        await k.spawn(v1.cls, source=v1.files)
        v2 = await load(k, tmp_path, "second", trusted=False)
        await k.swap("tutor", v2.cls, source=v2.files)
        v3 = await load(k, tmp_path, "third", trusted=False)
        await k.swap("tutor", v3.cls, source=v3.files)
        info = await k.spawn("tutor", version=v1.version, as_name="student")
        answer = await k.call("student", {"text": "?"}, timeout=30)
        return answer.text, info.sandbox, info.policy

    assert ("first", "process", "untrusted") == run(body, log=tmp_path / "run.db")
