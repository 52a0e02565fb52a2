"""`ctx.kernel`: a neuro acts on the kernel it runs in, each operation granted by its policy's
``capabilities.control``, in-process and from a process sandbox alike.

The neuros here are shipped as this file's source into the sandbox, so the file imports only
the SDK, trio, msgspec and pytest."""

from __future__ import annotations

import shutil
import textwrap

import pytest
import trio

import neuro
from neuro import sdk
from neuro.kernel import Policy
from neuro.kernel._policy import CONTROL_OPERATIONS, Capabilities
from neuro.kernel._policyfiles import PolicyStore

BACKENDS = [
    "inproc",
    pytest.param("process", marks=pytest.mark.skipif(shutil.which("bwrap") is None,
                                                     reason="bubblewrap is not installed: apt-get install bubblewrap")),
]
ADMIN = Capabilities(control=("swap", "statistics", "ps", "versions", "spawn", "stop"))
POLICIES = {"admin": Policy(name="admin", capabilities=ADMIN), "plain": Policy(name="plain")}


class Ask(sdk.Message):
    n: int = 0


class Told(sdk.Message):
    text: str


class Order(sdk.Message):
    op: str
    target: str = ""
    arg: str = ""


class Target(sdk.Neuro):
    name = "target"
    input = Ask
    output = Told

    def handle(self, ctx, msg):
        return Told(text="v1")


class Admin(sdk.Neuro, abstract=True):
    """Does what the order says through ctx.kernel; a refusal comes back as its text."""

    name = "admin"
    input = Order
    output = Told

    async def handle(self, ctx, msg):
        k = ctx.kernel
        try:
            if msg.op == "swap":
                report = await k.swap(msg.target, msg.arg)
                return Told(text=f"{report.ok} {report.stage}")
            if msg.op == "swap-trusted":
                report = await k.swap(msg.target, msg.arg, trusted=True)
                return Told(text=f"{report.ok} {report.stage}")
            if msg.op == "statistics":
                return Told(text=str((await k.statistics()).processes))
            if msg.op == "ps":
                return Told(text=" ".join(sorted(p.name for p in await k.ps())))
            if msg.op == "stop":
                await k.stop(msg.target)
                return Told(text="stopped")
            if msg.op == "shutdown":
                await k.shutdown()
                return Told(text="shut down")
        except neuro.NeuroError as e:
            return Told(text=f"{type(e).__name__}: {e}")
        raise ValueError(f"no such order {msg.op!r}")


class Admin_inproc(Admin):
    policy = "admin"


class Admin_process(Admin):
    policy = "admin"
    sandbox = "process"


class Clerk_inproc(Admin):
    name = "clerk"
    policy = "plain"


class Clerk_process(Admin):
    name = "clerk"
    policy = "plain"
    sandbox = "process"


def neuros(backend):
    return {"inproc": (Admin_inproc, Clerk_inproc), "process": (Admin_process, Clerk_process)}[backend]


V2 = textwrap.dedent('''
    from neuro import sdk

    class Ask(sdk.Message):
        n: int = 0

    class Told(sdk.Message):
        text: str

    class Target(sdk.Neuro):
        name = "target"
        input = Ask
        output = Told

        def handle(self, ctx, msg):
            return Told(text="v2")
''')


def run(body, **options):
    async def main():
        async with neuro.Kernel(**{"policies": POLICIES, **options}) as k:
            return await body(k)

    return trio.run(main)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_neuro_granted_swap_swaps_another(backend, tmp_path):
    """A neuro whose policy grants `swap` swaps another neuro to a new version, which then serves."""
    path = tmp_path / "target_v2.py"
    path.write_text(V2)
    admin, _ = neuros(backend)

    async def body(k):
        await k.spawn(Target)
        await k.spawn(admin)
        before = (await k.call("target", Ask())).text
        done = (await k.call("admin", Order(op="swap", target="target", arg=str(path)), timeout=60)).text
        after = (await k.call("target", Ask())).text
        return before, done, after, [v.origin for v in k.versions("target")]

    assert ("v1", "True live", "v2", ["spawn", "admin"]) == run(body)


def test_a_neuro_cannot_have_a_file_imported_as_trusted(tmp_path):
    """Even with `swap` granted, a neuro cannot ask for a file to be trusted: that is a person's call."""
    path = tmp_path / "target_v2.py"
    path.write_text(V2)

    async def body(k):
        await k.spawn(Target)
        await k.spawn(Admin_inproc)
        refused = (await k.call("admin", Order(op="swap-trusted", target="target", arg=str(path)), timeout=60)).text
        return refused, (await k.call("target", Ask())).text

    refused, still = run(body)
    assert (True, "v1") == (refused.startswith("PolicyError: admin may not swap a file as trusted"), still)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_neuro_not_granted_swap_is_refused_with_the_key_to_grant(backend, tmp_path):
    """A neuro whose policy does not grant `swap` gets a PolicyError naming capabilities.control."""
    path = tmp_path / "target_v2.py"
    path.write_text(V2)
    _, clerk = neuros(backend)

    async def body(k):
        await k.spawn(Target)
        await k.spawn(clerk)
        refused = (await k.call("clerk", Order(op="swap", target="target", arg=str(path)), timeout=60)).text
        return refused, (await k.call("target", Ask())).text

    expected = ("PolicyError: clerk may not swap through ctx.kernel: its policy 'plain' does not grant it; "
                "grant it in that policy with capabilities.control = [\"swap\"]", "v1")
    assert expected == run(body)


@pytest.mark.parametrize("backend", BACKENDS)
def test_granted_reads_return_the_kernels_own_types(backend):
    """`statistics` and `ps` through ctx.kernel answer what the kernel's own methods answer."""
    admin, _ = neuros(backend)

    async def body(k):
        await k.spawn(Target)
        await k.spawn(admin)
        stats = (await k.call("admin", Order(op="statistics"), timeout=30)).text
        names = (await k.call("admin", Order(op="ps"), timeout=30)).text
        return stats, names

    assert ("2", "admin target") == run(body)


def test_a_neuro_cannot_stop_itself_through_ctx_kernel():
    """Stopping itself would wait for its own handler: refused, saying who to ask instead."""

    async def body(k):
        await k.spawn(Admin_inproc)
        return (await k.call("admin", Order(op="stop", target="admin"))).text

    assert ("NeuroError: admin cannot stop itself through ctx.kernel: the kernel would wait for the very handler "
            "that asked; ask another neuro (or a client) to do it") == run(body)


def test_a_granted_neuro_stops_another():
    """With `stop` granted, a neuro stops another neuro, which leaves the process table."""

    async def body(k):
        await k.spawn(Target)
        await k.spawn(Admin_inproc)
        said = (await k.call("admin", Order(op="stop", target="target"))).text
        return said, [p.name for p in k.ps()]

    assert ("stopped", ["admin"]) == run(body)


def test_ctx_kernel_offers_no_shutdown():
    """Even with every operation granted, a neuro cannot shut the kernel down."""
    everything = {"root": Policy(name="root", capabilities=Capabilities(control=("*",)))}

    class Root(Admin):
        name = "root"
        policy = "root"

    async def body(k):
        await k.spawn(Root)
        return (await k.call("root", Order(op="shutdown"))).text

    assert "NeuroError: ctx.kernel does not offer Shutdown: a neuro cannot shut down the kernel it runs in" == run(
        body, policies={**POLICIES, **everything})


def test_every_control_operation_is_a_request_the_control_server_serves():
    """The operations a policy may grant are exactly those the client API's requests map to."""
    from neuro.kernel._control_ops import OPERATIONS

    assert sorted(CONTROL_OPERATIONS) == sorted(set(OPERATIONS.values()) - {"ping"})


def test_only_the_dream_policy_grants_control():
    """Of the shipped policies only `dream` (the dream daemon, a system neuro) grants ctx.kernel
    operations, and never `shutdown`; every other policy grants none by default."""
    granting = {name: p.capabilities.control for name, p in PolicyStore([]).policies.items()
                if p.capabilities.control}
    assert (["dream"], False) == (sorted(granting), "shutdown" in granting["dream"])


def test_an_untrusted_policy_file_that_grants_control_is_refused(tmp_path):
    """A policy file named untrusted that grants `control` is a PolicyError naming the key."""
    (tmp_path / "untrusted.toml").write_text('sandbox = "process"\nsandboxes = ["process"]\n'
                                             '[capabilities]\ncontrol = ["swap"]\n')
    errors = PolicyStore([str(tmp_path)]).errors
    assert (f"policy file {tmp_path}/untrusted.toml: `capabilities.control` cannot be granted by the 'untrusted' "
            "policy: code nobody vouched for never acts on the kernel; remove the key, or run the neuro under a "
            "policy of its own") == str(errors["untrusted"])


def test_an_unknown_control_operation_is_refused_naming_the_known_ones(tmp_path):
    """A misspelt operation in capabilities.control is an error that lists the known ones."""
    (tmp_path / "sys.toml").write_text('[capabilities]\ncontrol = ["swpa"]\n')
    errors = PolicyStore([str(tmp_path)]).errors
    assert (f"policy file {tmp_path}/sys.toml: `capabilities.control` names an unknown operation 'swpa'; known: "
            f"{', '.join(CONTROL_OPERATIONS)}, or \"*\" for all") == str(errors["sys"])


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed: apt-get install bubblewrap")
def test_untrusted_code_is_refused_a_policy_that_grants_control(tmp_path):
    """An untrusted file cannot be spawned under a policy granting `control`, even a sandboxed one."""
    path = tmp_path / "target_v2.py"
    path.write_text(V2)
    boxed = {"boxed_admin": Policy(name="boxed_admin", sandbox="process", sandboxes=("process",),
                                   capabilities=Capabilities(control=("ps",)))}

    async def body(k):
        loaded = await k.load(path)
        with pytest.raises(neuro.PolicyError) as refused:
            await k.spawn(loaded.cls, policy="boxed_admin")
        return str(refused.value), [p.name for p in k.ps()]

    assert ("target: its code is not trusted, so it cannot run under policy 'boxed_admin', which grants "
            "capabilities.control (ps): untrusted code never acts on the kernel; give it a policy without `control`",
            []) == run(body, policies={**POLICIES, **boxed})
