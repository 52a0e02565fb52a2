"""Artifacts in versions: files a neuro declares that are not code (weights, vocabularies, data)
are part of its version, stored in the log, exported once read-only to NEURO_HOME/artifacts,
and reached through ``ctx.artifact(path)``, in-process and in the sandboxes; the policy's
``artifact_bytes`` bounds them."""

from __future__ import annotations

import hashlib
import os
import stat
import textwrap

import pytest
import trio

import neuro
from neuro import sdk
from neuro.kernel import Capabilities, Policy
from neuro.kernel._policyfiles import PolicyStore
from neuro.sandbox._grants import GrantError, artifact_grant_path, close_grants, open_grants

from ..sandbox.docker_support import make_backends, require_backend

READER = textwrap.dedent('''
    import errno
    import os

    from neuro import sdk


    class Ask(sdk.Message):
        path: str
        look: list[str] = []  # other paths to try: a folder is listed, a file read


    class Got(sdk.Message):
        path: str
        text: str
        mode: int
        write: str
        seen: list[str] = []


    class Reader(sdk.Neuro):
        name = "reader"
        input = Ask
        output = Got
        ARTIFACTS_LINE

        def handle(self, ctx, msg):
            path = ctx.artifact(msg.path)
            with open(path, "rb") as f:
                text = f.read().decode()
            try:
                with open(path, "ab") as f:
                    f.write(b"changed")
                write = "written"
            except OSError as e:
                write = errno.errorcode.get(e.errno, str(e.errno))
            return Got(path=path, text=text, mode=os.stat(path).st_mode & 0o777, write=write,
                       seen=[look(p) for p in msg.look])


    def look(path):
        try:
            if os.path.isdir(path):
                return f"{path}: lists {sorted(os.listdir(path))}"
            with open(path, "rb") as f:
                return f"{path}: reads {len(f.read())} bytes"
        except OSError as e:
            return f"{path}: {errno.errorcode.get(e.errno, str(e.errno))}"
''')
WEIGHTS = b"0.5 0.25 0.125\n"
VOCAB = b"hello\nworld\n"


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """Each test its own NEURO_HOME, where artifacts are exported."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("NEURO_HOME", str(path))
    return path


def reader(where, *, declared='artifacts = ("weights.bin", "data/vocab.txt")', toml=None, weights=WEIGHTS):
    """A package folder `reader` in `where` with its artifacts beside its code."""
    folder = where / "reader"
    (folder / "data").mkdir(parents=True)
    (folder / "__init__.py").write_text(READER.replace("ARTIFACTS_LINE", declared))
    (folder / "weights.bin").write_bytes(weights)
    (folder / "data" / "vocab.txt").write_bytes(VOCAB)
    if toml is not None:
        (folder / "neuro.toml").write_text(toml)
    return folder


def exported(home, data):
    return str(home / "artifacts" / hashlib.sha256(data).hexdigest())


async def ask(k, path, look=()):
    return await k.call("reader", {"path": path, "look": list(look)}, timeout=30.0)


def test_an_artifact_reaches_an_in_process_neuro_read_only(tmp_path, home):
    """ctx.artifact gives the exported file: the declared bytes, mode 0444, named by their sha256."""

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k:
            loaded = await k.load(reader(tmp_path), trusted=True)
            await k.spawn(loaded.cls)
            got = await ask(k, "data/vocab.txt")
            return got.path, got.text, got.mode, k.versions("reader")[0].artifacts

    path, text, mode, artifacts = trio.run(main)
    assert (exported(home, VOCAB), VOCAB.decode(), 0o444) == (path, text, mode)
    assert {"weights.bin": hashlib.sha256(WEIGHTS).hexdigest(),
            "data/vocab.txt": hashlib.sha256(VOCAB).hexdigest()} == artifacts


def test_the_version_covers_the_artifacts_bytes(tmp_path):
    """The same code with other weights is another version; the same weights, the same version."""

    async def main():
        async with neuro.Kernel() as k:
            first = await k.load(reader(tmp_path / "a"), trusted=True)
            same = await k.load(reader(tmp_path / "b"), trusted=True)
            other = await k.load(reader(tmp_path / "c", weights=b"0.75\n"), trusted=True)
            return first.version, same.version, other.version

    first, same, other = trio.run(main)
    assert (first, True) == (same, other != first)


def test_artifacts_declared_in_neuro_toml_count_as_declared_in_the_class(tmp_path, home):
    """`artifacts = [...]` in neuro.toml is the class's `artifacts`: the same version, the same files."""

    async def main():
        async with neuro.Kernel() as k:
            in_class = await k.load(reader(tmp_path / "a"), trusted=True)
            in_toml = await k.load(reader(tmp_path / "b", declared="",
                                          toml='artifacts = ["weights.bin", "data/vocab.txt"]\n'), trusted=True)
            await k.spawn(in_toml.cls)
            return in_class.cls.artifacts, in_toml.cls.artifacts, (await ask(k, "weights.bin")).text

    assert (("weights.bin", "data/vocab.txt"),) * 2 + (WEIGHTS.decode(),) == trio.run(main)


def test_an_artifact_over_a_mebibyte_is_fine_where_source_is_not(tmp_path, home):
    """The 1 MiB limit is for source files: a 2 MiB artifact loads and is exported whole."""
    big = b"w" * (2 << 20)

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k:
            loaded = await k.load(reader(tmp_path, weights=big), trusted=True)
            await k.spawn(loaded.cls)
            return len((await ask(k, "weights.bin")).text)

    assert len(big) == trio.run(main)


def test_the_log_keeps_artifacts_for_a_rollback_after_a_restart(tmp_path, home):
    """With the neuro's folder and the exported files gone, a rollback in a new kernel exports
    v1's artifact again from the log, and v1 reads its own bytes (even when a kernel without a
    log had exported them first)."""
    v1_folder = reader(tmp_path / "v1")
    v2_folder = reader(tmp_path / "v2", weights=b"v2 weights\n")

    async def without_a_log():
        async with neuro.Kernel() as k:
            await k.load(v1_folder, trusted=True)

    async def first():
        async with neuro.Kernel(log=tmp_path / "run.db") as k:
            v1 = await k.load(v1_folder, trusted=True)
            await k.spawn(v1.cls)
            v2 = await k.load(v2_folder, trusted=True)
            await k.swap("reader", v2.cls)
            return v1.version

    async def second():
        async with neuro.Kernel(log=tmp_path / "run.db") as k:
            v2 = await k.load(v2_folder, trusted=True)
            await k.spawn(v2.cls)
            report = await k.rollback("reader")
            return report.new_version, (await ask(k, "weights.bin")).text

    trio.run(without_a_log)
    v1 = trio.run(first)
    for path in (home / "artifacts").iterdir():
        path.unlink()
    for path in (v1_folder / "weights.bin", v1_folder / "data" / "vocab.txt"):
        path.unlink()
    assert (v1, WEIGHTS.decode()) == trio.run(second)


def test_an_imported_neuro_declares_artifacts_too(tmp_path, home, monkeypatch):
    """A class imported as `module:Class` finds its artifacts beside its module; its version covers them."""
    folder = reader(tmp_path / "site")
    (folder / "__init__.py").rename(folder / "reader_mod.py")
    (folder / "reader_mod.py").replace(tmp_path / "site" / "reader_mod.py")
    for name in ("weights.bin", "data"):
        (folder / name).rename(tmp_path / "site" / name)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    from neuro.kernel._control_ops import resolve_neuro

    cls = resolve_neuro("reader_mod:Reader")

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(cls)
            return (await ask(k, "weights.bin")).text, k.info("reader").version

    text, version = trio.run(main)
    assert (WEIGHTS.decode(), cls.version()) == (text, version)


def test_a_too_large_artifact_is_refused_naming_the_policy_key(tmp_path):
    """Artifacts past the policy's artifact_bytes are refused at spawn, the error naming the key."""
    tight = {"tight": Policy(name="tight", artifact_bytes=8)}

    async def main():
        async with neuro.Kernel(policies=tight) as k:
            loaded = await k.load(reader(tmp_path), trusted=True)
            with pytest.raises(neuro.PolicyError) as refused:
                await k.spawn(loaded.cls, policy="tight")
            return str(refused.value), k.ps()

    message, ps = trio.run(main)
    assert ("reader: its artifacts hold 27 bytes (weights.bin (15 bytes), data/vocab.txt (12 bytes)), over the 8 "
            "that policy 'tight' allows (`artifact_bytes`); raise `artifact_bytes` in that policy, or ship "
            "smaller artifacts", []) == (message, ps)


def test_artifact_bytes_in_a_policy_file_takes_sizes_and_refuses_nonsense(tmp_path):
    """artifact_bytes = "1KiB" is 1024 bytes; a negative one is refused naming the key."""
    (tmp_path / "good.toml").write_text('inherit = "untrusted"\nartifact_bytes = "1KiB"\n')
    (tmp_path / "bad.toml").write_text('inherit = "untrusted"\nartifact_bytes = -1\n')
    store = PolicyStore([str(tmp_path)])
    assert (1024, 64 << 20, True) == (store.get("good").artifact_bytes, store.get("untrusted").artifact_bytes,
                                      "artifact_bytes" in str(store.errors["bad"]))


@pytest.mark.parametrize("declared, error", [
    ('artifacts = ("../outside.bin",)', "must be a plain path inside the neuro's folder"),
    ('artifacts = ("/etc/passwd",)', "must be a plain path inside the neuro's folder"),
    ('artifacts = ("helper.py",)', "is one of the neuro's code files"),
    ('artifacts = "weights.bin"', "`artifacts` must be a tuple of paths"),
])
def test_a_bad_artifact_declaration_is_a_manifest_error(tmp_path, declared, error):
    """An artifact path out of the folder, a code file, or a bare string is refused with the fix."""

    async def main():
        async with neuro.Kernel() as k:
            with pytest.raises(neuro.NeuroError) as refused:
                await k.load(reader(tmp_path, declared=declared), trusted=True)
            return str(refused.value)

    assert error in trio.run(main)


def test_a_symlinked_artifact_pointing_out_of_the_folder_is_refused(tmp_path):
    """weights.bin as a link to a file outside the neuro's folder is refused, naming it."""
    folder = reader(tmp_path / "n")
    (tmp_path / "secret").write_bytes(b"not yours\n")
    (folder / "weights.bin").unlink()
    os.symlink(tmp_path / "secret", folder / "weights.bin")

    async def main():
        async with neuro.Kernel() as k:
            with pytest.raises(neuro.NeuroError) as refused:
                await k.load(folder, trusted=True)
            return str(refused.value)

    assert "a symlink pointing outside the folder" in trio.run(main)


def test_a_missing_artifact_is_refused_naming_it(tmp_path):
    """A declared artifact that is not in the folder is a NeuroFileError saying which."""
    folder = reader(tmp_path)
    (folder / "weights.bin").unlink()

    async def main():
        async with neuro.Kernel() as k:
            with pytest.raises(neuro.NeuroError) as refused:
                await k.load(folder, trusted=True)
            return str(refused.value)

    assert "the declared artifact 'weights.bin' is not in the neuro's folder" in trio.run(main)


def test_ctx_artifact_of_an_undeclared_path_names_the_declared_ones(tmp_path):
    """Asking for a file the version does not declare is a RemoteError listing what it declares."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn((await k.load(reader(tmp_path), trusted=True)).cls)
            with pytest.raises(neuro.RemoteError) as refused:
                await ask(k, "other.bin")
            return str(refused.value)

    assert "has no artifact 'other.bin' (it declares: data/vocab.txt, weights.bin)" in trio.run(main)


def test_untrusted_code_declares_its_artifacts_as_data(tmp_path, home):
    """Described in a sandbox, untrusted code's artifact list crosses as data: it has the version
    the same folder has loaded trusted, and its artifacts are exported read-only."""
    require_backend("process")

    async def main():
        async with neuro.Kernel(backends=make_backends()) as k:
            trusted = await k.load(reader(tmp_path / "a"), trusted=True)
            untrusted = await k.load(reader(tmp_path / "b"))
            return trusted.version, untrusted.version, untrusted.cls.artifacts, "__neuro_described__" in vars(
                untrusted.cls)

    trusted, untrusted, declared, described = trio.run(main)
    assert (trusted, ("weights.bin", "data/vocab.txt"), True, 0o444) == (
        untrusted, declared, described, stat.S_IMODE(os.stat(exported(home, WEIGHTS)).st_mode))


def test_untrusted_artifacts_past_the_folders_policy_are_refused_at_load(tmp_path):
    """A drop of untrusted code whose artifacts pass its policy's artifact_bytes is refused as it
    loads, the error naming the file and the key."""
    require_backend("process")
    tight = {"tight": Policy(name="tight", sandbox="process", sandboxes=("process",), artifact_bytes=8)}

    async def main():
        async with neuro.Kernel(policies=tight, backends=make_backends()) as k:
            with pytest.raises(neuro.NeuroError) as refused:
                await k.load(reader(tmp_path), policy="tight")
            return str(refused.value)

    message = trio.run(main)
    assert (True, True) == (message.startswith(f"{tmp_path / 'reader'}: reader: its artifacts hold 27 bytes"),
                            "policy 'tight' allows (`artifact_bytes`)" in message)


def sandboxed(backend, **capabilities):
    """A policy `boxed` that runs in `backend`, with these capabilities."""
    return {"boxed": Policy(name="boxed", sandbox=backend, sandboxes=(backend,), artifact_bytes=1 << 20,
                            capabilities=Capabilities(**capabilities))}


def other_artifact(home):
    """An artifact of some other neuro, exported beside this one's: its name, which the sandbox must not see."""
    data = b"someone else's weights\n"
    (home / "artifacts").mkdir(exist_ok=True)
    path = home / "artifacts" / hashlib.sha256(data).hexdigest()
    path.write_bytes(data)
    path.chmod(0o444)
    return str(path)


@pytest.mark.parametrize("backend", ["process", "docker"])
def test_an_artifact_reaches_a_sandboxed_neuro_read_only(tmp_path, home, backend):
    """Untrusted code in a sandbox reads its artifact through ctx.artifact and cannot write it;
    of NEURO_HOME it sees only its own artifacts: not the log there, not another neuro's artifact;
    the exported file is unchanged."""
    require_backend(backend)
    other = other_artifact(home)
    log = home / "run.db"

    async def main():
        async with neuro.Kernel(log=log, policies=sandboxed(backend), backends=make_backends()) as k:
            loaded = await k.load(reader(tmp_path), policy="boxed")
            await k.spawn(loaded.cls, policy="boxed")
            return await ask(k, "weights.bin", look=[str(home / "artifacts"), str(log), other]), k.info(
                "reader").sandbox

    got, where = trio.run(main)
    with open(exported(home, WEIGHTS), "rb") as f:
        after = f.read()
    assert (backend, exported(home, WEIGHTS), WEIGHTS.decode(), True, WEIGHTS) == (
        where, got.path, got.text, got.write in ("EROFS", "EACCES", "EPERM"), after)
    mine = sorted(hashlib.sha256(d).hexdigest() for d in (WEIGHTS, VOCAB))
    assert [f"{home / 'artifacts'}: lists {mine}", f"{log}: ENOENT", f"{other}: ENOENT"] == got.seen


@pytest.mark.parametrize("backend", ["process", "docker"])
def test_a_grant_over_neuro_home_hides_it_but_not_the_artifacts(tmp_path, home, backend):
    """read=[a folder above NEURO_HOME]: the sandbox sees NEURO_HOME as an empty folder but for its
    own artifacts, which it reads; the log and another neuro's artifact stay out of sight."""
    require_backend(backend)
    for folder in (tmp_path, home):
        os.chmod(folder, 0o755)
    other = other_artifact(home)
    log = home / "run.db"
    (tmp_path / "notes.txt").write_text("granted")

    async def main():
        policies = sandboxed(backend, read=(str(tmp_path),))
        async with neuro.Kernel(log=log, policies=policies, backends=make_backends()) as k:
            loaded = await k.load(reader(tmp_path / "code"), policy="boxed")
            await k.spawn(loaded.cls, policy="boxed")
            return await ask(k, "data/vocab.txt", look=[str(home), str(home / "artifacts"), str(log), other,
                                                        str(tmp_path / "notes.txt")])

    got = trio.run(main)
    mine = sorted(hashlib.sha256(d).hexdigest() for d in (WEIGHTS, VOCAB))
    assert (VOCAB.decode(), True) == (got.text, got.write in ("EROFS", "EACCES", "EPERM"))
    assert [f"{home}: lists ['artifacts']", f"{home / 'artifacts'}: lists {mine}", f"{log}: ENOENT",
            f"{other}: ENOENT", f"{tmp_path / 'notes.txt'}: reads 7 bytes"] == got.seen


def test_an_imported_package_ships_its_version_into_the_sandbox_and_reads_its_artifact(tmp_path, home, monkeypatch):
    """A package imported as `module:Class` (trusted code) under a process policy: the Load
    frame carries its files as the one reader reads them (neuro.toml in, its test file out),
    and in the sandbox ctx.artifact gives its read-only artifact."""
    require_backend("process")
    folder = reader(tmp_path / "site", toml="replay = 0\n").rename(tmp_path / "site" / "reader_pkg")
    (folder / "test_reader.py").write_text("raise SystemExit('a test file is not part of the neuro')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    from neuro._manifest import source_files
    from neuro.sandbox._protocol import source_of
    from neuro.kernel._control_ops import resolve_neuro

    cls = resolve_neuro("reader_pkg:Reader")

    async def main():
        async with neuro.Kernel(policies=sandboxed("process"), backends=make_backends()) as k:
            await k.spawn(cls, policy="boxed")
            return await ask(k, "weights.bin"), k.info("reader").sandbox

    got, where = trio.run(main)
    shipped = source_of(cls)
    assert (["reader_pkg/__init__.py", "reader_pkg/neuro.toml"], source_files(cls)) == (sorted(shipped), shipped)
    assert ("process", exported(home, WEIGHTS), WEIGHTS.decode(), True) == (
        where, got.path, got.text, got.write in ("EROFS", "EACCES", "EPERM"))


def grants_of(**capabilities):
    """What open_grants makes of a policy with these capabilities: each grant's path and whether it writes."""
    opened = open_grants(Policy(name="p", capabilities=Capabilities(**capabilities)))
    close_grants(opened)
    return [(g.path, g.write) for g in opened]


def test_a_read_grant_of_an_exported_artifact_is_the_one_grant_let_into_neuro_home(home):
    """NEURO_HOME/artifacts/<sha256>, read-only: granted; the artifacts folder, a file of another
    name there, or the log beside it: refused as inside NEURO_HOME."""
    artifact = other_artifact(home)
    (home / "artifacts" / "notes").write_text("x")
    (home / "run.db").write_text("x")
    refused = []
    for path in (home / "artifacts", home / "artifacts" / "notes", home / "run.db",
                 home / "artifacts" / os.path.basename(artifact).upper()):
        with pytest.raises(GrantError) as e:
            grants_of(read=(str(path),))
        refused.append("it is inside NEURO_HOME" in str(e.value))
    assert ([(artifact, False)], [True] * 4) == (grants_of(read=(artifact,)), refused)


@pytest.mark.parametrize("how, error", [
    ("write", "is refused: it is an exported artifact in NEURO_HOME, which a sandbox may only read"),
    ("writable", "is refused: it is not a read-only regular file (mode -rw-r--r--)"),
    ("folder", "is refused: it is not a read-only regular file (mode dr-xr-xr-x)"),
    ("link", "is a symbolic link"),
])
def test_an_artifact_grant_that_could_write_or_is_not_the_exported_file_is_refused(home, tmp_path, how, error):
    """A write grant of an artifact, an artifact file someone made writable, a folder or a link
    in its place: each refused, saying why."""
    artifact = other_artifact(home)
    if how == "writable":
        os.chmod(artifact, 0o644)
    elif how in ("folder", "link"):
        os.unlink(artifact)
        if how == "folder":
            os.mkdir(artifact)
            os.chmod(artifact, 0o555)
        else:
            (tmp_path / "elsewhere").write_text("not an artifact")
            os.symlink(tmp_path / "elsewhere", artifact)
    with pytest.raises(GrantError) as refused:
        grants_of(**{"write" if how == "write" else "read": (artifact,)})
    assert error in str(refused.value)


def test_a_linked_neuro_home_grants_its_artifacts_where_the_link_leads(tmp_path, monkeypatch):
    """NEURO_HOME a link to another folder: an artifact is granted, and shown to a sandbox, at its real path."""
    real = tmp_path / "disk" / "neuro"
    real.mkdir(parents=True)
    monkeypatch.setenv("NEURO_HOME", str(tmp_path / "link"))
    os.symlink(real, tmp_path / "link")
    artifact = other_artifact(tmp_path / "link")
    at = str(real / "artifacts" / os.path.basename(artifact))
    assert ([(at, False)], at) == (grants_of(read=(artifact,)), artifact_grant_path(artifact))


class In(sdk.Message):
    n: int = 0


def test_a_class_with_no_file_cannot_declare_artifacts():
    """A neuro defined where no folder is (exec'd code) that declares artifacts is refused at spawn."""
    namespace: dict = {"sdk": sdk, "In": In, "__name__": "no_file_here"}
    exec(textwrap.dedent('''
        class Floating(sdk.Neuro):
            name = "floating"
            input = In
            artifacts = ("weights.bin",)

            def handle(self, ctx, msg):
                return None
    '''), namespace)

    async def main():
        async with neuro.Kernel() as k:
            with pytest.raises(neuro.NeuroError) as refused:
                await k.spawn(namespace["Floating"])
            return str(refused.value)

    assert "floating declares artifacts (weights.bin) but has no folder they could be in" in trio.run(main)


def test_exported_artifacts_are_read_only_files_named_by_their_hash(tmp_path, home):
    """Each exported file is 0444, and its name is the sha256 of its bytes."""

    async def main():
        async with neuro.Kernel() as k:
            await k.load(reader(tmp_path), trusted=True)

    trio.run(main)
    files = sorted((home / "artifacts").iterdir())
    assert (sorted(hashlib.sha256(d).hexdigest() for d in (WEIGHTS, VOCAB)), [0o444, 0o444]) == (
        [f.name for f in files], [stat.S_IMODE(f.stat().st_mode) for f in files])
