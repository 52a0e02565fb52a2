"""The demo's later acts: quotas, a sandboxed neuro, a hot swap from a drop folder, learning.

Each act is `async (kernel, folder) -> str` and says what happened in one line; one that
cannot run on this machine says why instead of failing the demo.
"""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path
from typing import Literal

import trio

import neuro
from neuro import sdk

from neuro.neuros.echo import EchoIn

from . import demo_compose as compose
from .demo_paradigms import paradigms
from .demo_privacy import privacy


class Slowpoke(sdk.Neuro):
    """Takes 200 ms per message, under a policy that allows 50 ms."""

    name = "slowpoke"
    input = EchoIn
    output = EchoIn
    policy_overrides = {"wall_time": 0.05}

    async def handle(self, ctx: sdk.Context, msg: EchoIn) -> EchoIn:
        await trio.sleep(0.2)
        return msg


async def quotas(k: neuro.Kernel, folder: Path) -> str:
    await k.spawn(Slowpoke)
    try:
        await k.call("slowpoke", EchoIn(text="too slow"), timeout=5)
    except neuro.CallTimeout:
        pass
    events = await k.log.events(name="quota.wall_time")
    return f"handler cancelled at its 50 ms wall time; {len(events)} quota event in the log"


SANDBOXED = '''
from neuro import sdk


class Path_(sdk.Message):
    path: str


class Seen(sdk.Message):
    pid: int
    readable: bool
    error: str = ""


class Prober(sdk.Neuro):
    """Reports its own pid and whether it can read a path."""

    name = "prober"
    input = Path_
    output = Seen
    policy = "untrusted"

    def handle(self, ctx, msg):
        import os
        try:
            with open(msg.path) as f:
                f.read(1)
            return Seen(pid=os.getpid(), readable=True)
        except OSError as e:
            return Seen(pid=os.getpid(), readable=False, error=type(e).__name__)
'''


async def sandbox(k: neuro.Kernel, folder: Path) -> str:
    if shutil.which("bwrap") is None:
        return "skipped: bubblewrap is not installed (bash scripts/setup.sh installs it)"
    secret = folder / "secret.txt"
    secret.write_text("the user's data")
    module = folder / "prober_neuro.py"
    module.write_text(SANDBOXED)
    loaded = await k.load(module)  # untrusted: imported only inside a sandbox, never here
    await k.spawn(loaded.cls, source=loaded.files)
    seen = await k.call("prober", {"path": str(secret)}, timeout=30)
    state = "BLOCKED" if not seen.readable else "READ (sandbox failed)"
    return f"untrusted neuro runs as pid {seen.pid} in its own namespace; reading the user's file: {state} ({seen.error})"


def _counter_source(step: int) -> str:
    return textwrap.dedent(f'''
        from neuro import sdk


        class Tick(sdk.Message):
            n: int = 1


        class Count(sdk.Message):
            total: int
            step: int


        class Stepper(sdk.Neuro):
            name = "stepper"
            input = Tick
            output = Count

            def __init__(self):
                self.total = 0

            def handle(self, ctx, msg):
                self.total += msg.n * {step}
                return Count(total=self.total, step={step})

            def snapshot(self):
                return {{"total": self.total}}

            def restore(self, state):
                self.total = state["total"]
    ''')


async def hot_swap(k: neuro.Kernel, folder: Path) -> str:
    if shutil.which("bwrap") is None:
        return "skipped: the drop folder is untrusted, so its neuros run sandboxed, and bubblewrap is not installed"
    drop = k.drop_folders()[0]
    path = Path(drop.path) / "stepper.py"
    path.write_text(_counter_source(1))
    await drop.wait_idle()
    for _ in range(3):
        await k.call("stepper", {"n": 1})
    before = k.info("stepper").version
    tmp = path.with_suffix(".tmp")
    tmp.write_text(_counter_source(10))
    os.replace(tmp, path)  # an atomic save, as editors do
    await drop.wait_idle()
    after = await k.call("stepper", {"n": 1})
    return (f"saved a new stepper.py: version {before[:8]} -> {k.info('stepper').version[:8]}, "
            f"state carried (total {after.total} = 3 + 10), no call lost; it runs in the "
            f"{k.info('stepper').sandbox} sandbox (the folder is untrusted)")


async def learning(k: neuro.Kernel, folder: Path) -> str:
    try:
        from neuro.neuros.learning.eqprop.neuro import EqPropNeuro
        from neuro.neuros.learning.protocol import Evaluate, Train
    except ImportError as e:
        return f"skipped: {e} (bash scripts/setup.sh installs the learning extra)"
    await k.spawn(EqPropNeuro)
    trained = await k.call("learning.eqprop", Train(dataset="digits", epochs=3, seed=0, wait=True), timeout=600)
    result = await k.call("learning.eqprop", Evaluate(dataset="digits"), timeout=600)
    accuracy = result.metrics.get("accuracy", float("nan"))
    return (f"equilibrium propagation on digits, {trained.epochs} epochs in {trained.seconds:.1f} s "
            f"(no backprop): test accuracy {accuracy:.1%}")


class Tally(sdk.Message):
    x: float
    a: float = 1.0


class Sum(sdk.Message):
    y: float
    size: Literal["small", "large"]


class SlowTeacher(sdk.Neuro):
    """A slow iterative numeric routine (2x + 3a, added up in 3,000 small steps) that opts in to dreaming."""

    name = "slow-teacher"
    input = Tally
    output = Sum
    dream = {"agreement": 0.9, "speedup": 2, "min_traces": 60, "student": "linear", "replay": 10}

    def handle(self, ctx: sdk.Context, msg: Tally) -> Sum:
        y = 0.0
        for _ in range(3000):
            y += (2.0 * msg.x + 3.0 * msg.a) / 3000
        return Sum(y=y, size="large" if msg.a > 1.0 else "small")


async def dream(k: neuro.Kernel, folder: Path) -> str:
    import random

    from neuro.dream import DreamRun, start

    os.environ.setdefault("NEURO_DREAM_DIR", str(folder / "dream"))
    await k.spawn(SlowTeacher)
    teacher = k.info("slow-teacher").version
    rng = random.Random(0)
    for _ in range(120):
        await k.call("slow-teacher", Tally(x=rng.uniform(0, 3), a=rng.uniform(0.5, 2)))
    await start(k)
    job = (await k.call("dream", DreamRun(name="slow-teacher"), timeout=300)).job
    if job.state != "shipped":
        return f"FAILED: the dream of slow-teacher was {job.state} at {job.stage}: {job.reason}"
    live = next(v for v in k.versions("slow-teacher") if v.live)
    return (f"distilled slow-teacher from {job.figures['traces']:.0f} calls: the student is "
            f"{job.figures['speedup']:.0f}x faster, agrees on {job.figures['agreement']:.0%} of held-out calls, "
            f"live as {live.version[:8]} (origin {live.origin}, teacher {teacher[:8]}, traces "
            f"{live.lineage.traces[0] % 10**6}..{live.lineage.traces[1] % 10**6}, data set "
            f"{live.lineage.notes['dataset'][:8]})")


ACTS = [
    ("a handler past its policy's wall time", quotas),
    ("an untrusted neuro in the process sandbox", sandbox),
    ("hot swap: rewrite a neuro file in the drop folder", hot_swap),
    ("learning: train EqProp as a neuro service", learning),
    ("dream: distil a slow teacher into a student", dream),
    ("nets: compose neuros into a typed graph", compose.net),
    ("Neuro-Lang: compile a program into a net", compose.lang),
    ("privacy: a labelled answer and a neuro not cleared", privacy),
    ("paradigms: MARBLE's learners, one trained", paradigms),
]
