"""A kernel that is not root: its sandbox is one of its user's subordinate uids, never its own.

Each test runs a real kernel as the ordinary user `neuro-test` (scripts/setup.sh makes it,
with a subordinate range) and spawns a process-sandboxed neuro (tests/sandbox/
nonroot_neuros.py); the test, as root, looks at the sandbox's processes from the host.

The kernel user must reach Python, the virtual environment and the checkout. Where one of
them lies under a folder that user cannot search (here Python is under /root, 0700), the
kernel runs in a private mount namespace where that folder is a tmpfs of mode 0750, group
neuro-test, holding only those paths: the kernel user reaches them and its subordinate uid
does not, as with a virtual environment in a 0700 home, so the backend must stage them.
Nothing of this is visible on the host.
"""

from __future__ import annotations

import json
import os
import pwd
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap

import pytest

from neuro.sandbox._hostuid import HostIds, can_write, reachable
from neuro.sandbox._subuid import ranges

USER = "neuro-test"
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def _user() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        return None


def _why_not() -> str:
    if os.geteuid() != 0:
        return "running a kernel as another user needs root"
    if not shutil.which("bwrap"):
        return "bubblewrap is not installed (scripts/setup.sh installs it)"
    entry = _user()
    if entry is None:
        return f"the test user {USER} does not exist (scripts/setup.sh, as root, makes it)"
    if not ranges("/etc/subuid", USER, entry.pw_uid) or not ranges("/etc/subgid", USER, entry.pw_gid):
        return f"{USER} has no subordinate range in /etc/subuid and /etc/subgid (scripts/setup.sh gives it one)"
    for tool in ("newuidmap", "newgidmap", "unshare", "setpriv"):
        if not shutil.which(tool):
            return f"{tool} is missing (scripts/setup.sh installs uidmap; util-linux has the rest)"
    return ""


needs_user = pytest.mark.skipif(bool(_why_not()), reason=_why_not() or "-")


def _subordinate() -> HostIds:
    """The ids the backend picks for neuro-test: the last of its first subuid and subgid range."""
    entry = _user()
    (ustart, ucount), (gstart, gcount) = ranges("/etc/subuid", USER, entry.pw_uid)[0], ranges(
        "/etc/subgid", USER, entry.pw_gid)[0]
    return HostIds(ustart + ucount - 1, gstart + gcount - 1)


KERNEL = textwrap.dedent("""
    # A kernel as the user neuro-test: spawn `peek` under the policy `granted`, report the
    # kernel's ids and the sandbox's processes, wait for the test, then try `tries` in it.
    import json, os, sys
    import trio, neuro
    sys.path.insert(0, sys.argv[1])
    from nonroot_neuros import Look, Peek
    from neuro.sandbox._process import ProcessBackend

    work, tries = sys.argv[2], json.loads(sys.argv[3])

    def descendants(pid):
        children = {}
        for name in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{name}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(name))
        found, todo = [], [pid]
        while todo:
            for child in children.get(todo.pop(), []):
                found.append(child)
                todo.append(child)
        return found

    async def main():
        seen = {"kernel_pid": os.getpid(), "kernel_uid": os.getuid(), "kernel_gid": os.getgid()}
        backend = ProcessBackend(pool_size=0)
        async with neuro.Kernel(log=os.path.join(work, "run.db"), policy_dirs=[os.path.join(work, "policies")],
                                backends={"process": backend}) as k:
            try:
                await k.spawn(Peek, policy="granted")
            except neuro.NeuroError as e:
                seen["spawn_error"] = str(e)
                print(json.dumps(seen), flush=True)
                return
            seen["unenforced"] = [e.data["limits"] for e in await k.log.events(name="quota.unenforceable")]
            seen["sandbox_pids"] = descendants(os.getpid())
            print(json.dumps(seen), flush=True)
            sys.stdin.readline()  # the test looks at the sandbox from the host meanwhile
            answers = []
            for kind, target in tries:
                target = target.replace("KERNEL_PID", str(os.getpid()))
                answers.append((await k.call("peek", Look(kind=kind, target=target), timeout=60)).detail)
            print(json.dumps(answers), flush=True)

    trio.run(main)
""")


def _blocker(path: str, ids: HostIds) -> str | None:
    """The topmost folder on `path` (itself included) that `ids` cannot search, or None."""
    parts = [p for p in path.split("/") if p]
    for n in range(1, len(parts) + 1):
        folder = "/" + "/".join(parts[:n])
        if not reachable(folder + "/-", ids):
            return folder
    return None


def _exposing(ids: HostIds, gid: int, spare: str) -> list[str]:
    """Shell lines, run as root in a private mount namespace, that let `ids` reach Python,
    the virtual environment and the checkout: each folder above them it cannot search
    becomes a tmpfs of mode 0750, group `gid`, holding only those paths (bound back)."""
    needed = sorted({os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, REPO)})
    needed = [p for p in needed if not any(p != q and p.startswith(q + "/") for q in needed)]
    lines: list[str] = []
    by_blocker: dict[str, list[str]] = {}
    for path in needed:
        blocker = _blocker(path, ids)
        if blocker is not None:
            by_blocker.setdefault(blocker, []).append(path)
    for n, (blocker, paths) in enumerate(sorted(by_blocker.items())):
        held = [f"{spare}/{n}-{i}" for i in range(len(paths))]
        lines += [f"mkdir -p {q}" for q in held]
        lines += [f"mount --rbind {shlex.quote(p)} {q}" for p, q in zip(paths, held)]
        lines.append(f"mount -t tmpfs -o mode=0750,uid=0,gid={gid} neuro-test-expose {shlex.quote(blocker)}")
        for path, q in zip(paths, held):
            lines += [f"mkdir -p {shlex.quote(path)}", f"mount --move {q} {shlex.quote(path)}"]
    return lines


class AsUser:
    """A kernel running as neuro-test (KERNEL), in a work folder that user owns."""

    def __init__(self, work: str, *, hide: tuple[str, ...] = ()) -> None:
        entry = _user()
        self.uid, self.gid = entry.pw_uid, entry.pw_gid
        self.work = work
        self.hide = hide  # host files the kernel's view of the machine lacks (/dev/null over them)
        self.spare = tempfile.mkdtemp(prefix="neuro-expose-")  # mount points, used only in the namespace

    def start(self, tries: list[tuple[str, str]]) -> subprocess.Popen:
        lines = ["set -e", *_exposing(HostIds(self.uid, self.gid), self.gid, self.spare)]
        lines += [f"mount --bind /dev/null {shlex.quote(path)}" for path in self.hide]
        env = {"PATH": "/usr/bin:/bin", "HOME": self.work, "NEURO_HOME": os.path.join(self.work, "home"),
               "PYTHONDONTWRITEBYTECODE": "1"}
        kernel = [sys.executable, "-c", KERNEL, HERE, self.work, json.dumps(tries)]
        lines.append("exec " + shlex.join(["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}",
                                           "--init-groups", "--", "env", "-i",
                                           *(f"{k}={v}" for k, v in env.items()), *kernel]))
        return subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
                                 "\n".join(lines)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=self.work)


@pytest.fixture
def work():
    """A folder the test user owns, with its NEURO_HOME and a policy folder in it."""
    entry = _user()
    path = tempfile.mkdtemp(prefix="neuro-nonroot-", dir="/tmp")
    for sub in ("home", "policies"):
        os.mkdir(os.path.join(path, sub), 0o700)
    for folder, _, files in os.walk(path):
        for name in [folder, *(os.path.join(folder, f) for f in files)]:
            os.chown(name, entry.pw_uid, entry.pw_gid)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _owned(path: str, mode: int, content: str | None = None) -> str:
    """Make `path` (a folder, or a file with `content`) owned by the test user with `mode`."""
    entry = _user()
    if content is None:
        os.mkdir(path)
    else:
        with open(path, "w") as f:
            f.write(content)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    os.chmod(path, mode)
    return path


def _open_to(path: str, uid: int) -> None:
    """Give `uid` rwx on the folder `path` by a POSIX ACL (what `setfacl -m u:UID:rwx` writes)."""
    mode = os.stat(path).st_mode
    owner, group, other = (mode >> 6) & 7, (mode >> 3) & 7, mode & 7
    entries = [(0x01, owner, 0xFFFFFFFF), (0x02, 7, uid), (0x04, group, 0xFFFFFFFF), (0x10, 7, 0xFFFFFFFF),
               (0x20, other, 0xFFFFFFFF)]
    os.setxattr(path, "system.posix_acl_access", struct.pack("<I", 2) + b"".join(
        struct.pack("<HHI", *e) for e in entries))


def _policy(work: str, read: list[str], write: list[str]) -> None:
    text = f'inherit = "untrusted"\n[capabilities]\nread = {json.dumps(read)}\nwrite = {json.dumps(write)}\n'
    path = os.path.join(work, "policies", "granted.toml")
    with open(path, "w") as f:
        f.write(text)
    entry = _user()
    os.chown(path, entry.pw_uid, entry.pw_gid)


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def _run(kernel: AsUser, tries: list[tuple[str, str]], look=None, *,
         refused: bool = False) -> tuple[dict, list[str]]:
    """Start the kernel, call `look(first report)` while the sandbox runs, then let it try `tries`.
    A spawn that is refused fails the test, saying why, unless the test expects it (`refused`)."""
    process = kernel.start(tries)
    try:
        line = process.stdout.readline()
        if not line:
            _, err = process.communicate(timeout=60)
            raise AssertionError(f"the kernel as {USER} reported nothing; its stderr:\n{err[-3000:]}")
        seen = json.loads(line)
        if "spawn_error" in seen:
            _, err = process.communicate(timeout=60)
            assert refused, f"the spawn as {USER} was refused: {seen['spawn_error']}\nits stderr:\n{err[-3000:]}"
            return seen, []
        assert not refused, f"the spawn as {USER} was expected to be refused, and it ran: {seen}"
        looked = look(seen) if look is not None else None
        out, err = process.communicate("go\n", timeout=120)
        assert 0 == process.returncode, err[-3000:]
        seen["looked"] = looked
        return seen, json.loads(out.strip().splitlines()[-1])
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        shutil.rmtree(kernel.spare, ignore_errors=True)


def _sandbox_processes(seen: dict) -> list[tuple[str, str, str, str]]:
    """(Name, Uid, Gid, Groups) of each process under the kernel, read on the host."""
    found = []
    for pid in seen["sandbox_pids"]:
        try:
            status = _status(pid)
        except OSError:
            continue  # gone since the kernel listed it
        found.append((status["Name"], status["Uid"], status["Gid"], status["Groups"].strip()))
    return sorted(found)


def _kind(name: str) -> str:
    """A process name with an interpreter's version cut off (`python3.11` -> `python`)."""
    return "python" if name.startswith("python") else name


def _as_ids(ids: HostIds, *command: str) -> subprocess.CompletedProcess:
    """Run `command` on the host with exactly the sandbox's host credentials."""
    return subprocess.run(["setpriv", f"--reuid={ids.uid}", f"--regid={ids.gid}", "--clear-groups", "--",
                           *command], capture_output=True, text=True, timeout=30)


# -- the subordinate uid ----------------------------------------------------------------------


@needs_user
def test_the_sandbox_of_a_non_root_kernel_is_a_subordinate_uid_on_the_host(work):
    """Every process of the sandbox is, on the host, the user's subordinate uid: not the kernel's uid, not root."""
    _policy(work, [], [])
    sub = _subordinate()

    seen, answers = _run(AsUser(work), [("ids", "")], _sandbox_processes)
    expected = (f"{sub.uid}\t{sub.uid}\t{sub.uid}\t{sub.uid}", f"{sub.gid}\t{sub.gid}\t{sub.gid}\t{sub.gid}", "")
    # the worker's name is its interpreter's file name: python, python3 or python3.11 by venv
    assert {"bwrap", "python"} == {_kind(name) for name, *_ in seen["looked"]}
    assert {expected} == {tuple(ids) for _, *ids in seen["looked"]}
    assert str(seen["kernel_uid"]) != str(sub.uid) != "0"
    assert "65534:65534" == answers[0]
    assert [] == [limits for limits in seen["unenforced"] if "host_uid" in limits]


@needs_user
def test_the_sandbox_cannot_read_a_0600_file_of_the_kernel_user_in_its_read_grant(work):
    """A 0600 file of the kernel's user, inside a read grant, gives the sandbox EACCES; a 0644 one is read."""
    folder = _owned(os.path.join(work, "papers"), 0o755)
    secret = _owned(os.path.join(folder, "secret"), 0o600, "the user's own")
    public = _owned(os.path.join(folder, "public"), 0o644, "anyone's")
    _policy(work, [folder], [])
    _, answers = _run(AsUser(work), [("read", secret), ("read", public)])
    assert ["EACCES", "read: anyone's"] == answers


@needs_user
def test_the_sandbox_cannot_signal_or_trace_the_kernel(work):
    """Neither from inside (no pid of the host is in its pid namespace) nor with its host credentials can it signal or ptrace the kernel."""
    _policy(work, [], [])

    def look(seen):
        [(uid, gid)] = {(u.split("\t")[0], g.split("\t")[0]) for name, u, g, _ in _sandbox_processes(seen)
                        if _kind(name) == "python"}
        ids, pid = HostIds(int(uid), int(gid)), str(seen["kernel_pid"])
        kill = _as_ids(ids, "kill", "-0", pid)
        trace = _as_ids(ids, "cat", f"/proc/{pid}/environ")
        return [kill.returncode != 0 and "not permitted" in kill.stderr,
                trace.returncode != 0 and "Permission denied" in trace.stderr]

    seen, answers = _run(AsUser(work), [("kill", "KERNEL_PID")], look)
    assert [True, True] == seen["looked"]
    assert answers[0] in ("ESRCH", "EPERM"), answers


@needs_user
def test_a_write_grant_opened_to_the_subordinate_uid_by_an_acl_is_written_as_that_uid(work):
    """A write grant inside a 0700 folder of the user, opened to the subordinate uid by an ACL, is staged and written; the file is that uid's."""
    sub = _subordinate()
    private = _owned(os.path.join(work, "private"), 0o700)
    box = _owned(os.path.join(private, "box"), 0o755)
    _open_to(box, sub.uid)
    _policy(work, [], [box])
    _, answers = _run(AsUser(work), [("write", box)])
    assert ["wrote"] == answers
    st = os.stat(os.path.join(box, "from-the-sandbox"))
    assert (sub.uid, sub.gid) == (st.st_uid, st.st_gid)


@needs_user
def test_a_write_grant_the_subordinate_uid_cannot_write_is_refused_with_the_fix(work):
    """A write grant that only the kernel's user may write is refused at spawn, naming the uid and the setfacl fix (no chown)."""
    sub = _subordinate()
    box = _owned(os.path.join(work, "box"), 0o755)
    _policy(work, [], [box])
    seen, _ = _run(AsUser(work), [], refused=True)
    error = seen["spawn_error"]
    assert f"setfacl -m u:{sub.uid}:rwx {box}" in error, error
    assert f"uid {sub.uid}, gid {sub.gid}" in error
    assert "chown" not in error


@needs_user
def test_under_the_subordinate_uid_the_other_layers_still_hold(work):
    """No new privileges, the seccomp filter, no capabilities, no user namespace of its own, a read-only /proc/sys."""
    _policy(work, [], [])
    _, answers = _run(AsUser(work), [("status", ""), ("userns", ""), ("sysctl", "")])
    status, userns, sysctl = answers
    assert "NoNewPrivs: 1; Seccomp: 2" in status and "CapPrm: 0000000000000000" in status, status
    assert "CapEff: 0000000000000000" in status, status
    assert userns in ("ENOSPC", "EPERM"), userns
    assert "EROFS" == sysctl


# -- without subordinate ids ------------------------------------------------------------------


@needs_user
@pytest.mark.parametrize("hide, fix", [
    (("/etc/subuid", "/etc/subgid"), "`sudo usermod --add-subuids"),
    (("/usr/bin/newuidmap", "/usr/bin/newgidmap"), "`sudo apt-get install -y uidmap`"),
], ids=["no-range", "no-newuidmap"])
def test_without_subordinate_ids_the_spawn_says_the_sandbox_is_the_kernels_uid_and_the_fix(work, hide, fix):
    """With no subordinate range (or no newuidmap) the sandbox stays the kernel's uid, and `host_uid` says so and what to run."""
    hide = tuple(p for p in hide if os.path.exists(p))
    _policy(work, [], [])

    seen, _ = _run(AsUser(work, hide=hide), [], _sandbox_processes)
    [limits] = [limits for limits in seen["unenforced"] if "host_uid" in limits]
    note = limits["host_uid"]
    assert "the sandbox shares the kernel's uid on the host" in note
    assert fix in note, note
    if "usermod" in fix:
        assert note.split("`sudo usermod ", 1)[1].split("`")[0].endswith(f" {USER}")
    kernel = str(seen["kernel_uid"])
    assert {kernel} == {uid.split("\t")[0] for _, uid, _, _ in seen["looked"]}


# -- reading the ranges and the ACLs (no other user needed) -----------------------------------


def test_ranges_are_the_users_lines_by_name_or_uid_in_file_order(tmp_path):
    """`ranges` returns the user's (start, count) lines, named by name or uid, skipping others and malformed ones."""
    path = tmp_path / "subuid"
    path.write_text("alice:100000:65536\nbob:165536:65536\n# a comment\n1000:300000:10\nalice:x:1\n"
                    "alice:400000:0\n")
    assert [(100000, 65536), (300000, 10)] == ranges(str(path), "alice", 1000)
    assert [] == ranges(str(tmp_path / "missing"), "alice", 1000)


def _acl_stat(uid: int, gid: int, mode: int) -> os.stat_result:
    return os.stat_result((0o040000 | mode, 0, 0, 2, uid, gid, 0, 0, 0, 0))


def test_a_named_user_acl_entry_opens_a_folder_only_as_far_as_its_mask(tmp_path):
    """`u:165535:rwx` lets that uid write a 0755 folder of another user, unless the mask takes the write bit."""
    st = _acl_stat(1000, 1000, 0o755)
    sub = HostIds(165535, 165535)
    entries = lambda mask: [(0x01, 7, 0), (0x02, 7, 165535), (0x04, 5, 0), (0x10, mask, 0), (0x20, 5, 0)]  # noqa: E731
    assert (False, True, False) == (can_write(st, sub), can_write(st, sub, entries(7)), can_write(st, sub, entries(5)))


def test_an_acl_that_names_another_uid_leaves_the_sandbox_uid_to_the_other_entry(tmp_path):
    """An ACL entry for some other uid gives the sandbox's uid nothing: the `other` entry decides."""
    st = _acl_stat(1000, 1000, 0o755)
    acl = [(0x01, 7, 0), (0x02, 7, 4242), (0x04, 5, 0), (0x10, 7, 0), (0x20, 5, 0)]
    assert (False, True) == (can_write(st, HostIds(165535, 165535), acl), can_write(st, HostIds(4242, 4242), acl))
