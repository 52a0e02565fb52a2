"""The replay gate is differential: the current version and the candidate answer the same logged
calls from the same state, in shadows that send nothing, and their answers are compared.

Each neuro here is a file, loaded trusted (it runs in the kernel's process) or untrusted (it
runs in the process sandbox), so the gate is checked on both backends; then `ctx.kernel.swap`,
and `neuro swap` through the real CLI against a real daemon.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import trio

import neuro
import neuro.neuros.counter
from neuro import sdk
from neuro.sandbox._inproc import InprocBackend

from ..daemon.conftest import daemon, home, neuro_cmd  # noqa: F401 - the daemon tests' fixtures

COUNTER = Path(neuro.neuros.counter.__file__)

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
BACKENDS = [pytest.param("inproc", id="inproc"), pytest.param("process", id="process", marks=needs_bwrap)]

GAUGE = '''
from neuro import sdk


class Read(sdk.Message):
    x: float
    text: str = ""


class Value(sdk.Message):
    y: float
    text: str = ""


class Gauge(sdk.Neuro):
    name = "gauge"
    input = Read
    output = Value
{extra}
    def handle(self, ctx, msg):
        return Value(y={expr}, text={text})
'''


def gauge(expr="msg.x * 2", text="msg.text", extra=""):
    return GAUGE.format(expr=expr, text=text, extra=extra)


async def load(k, path, backend):
    """A neuro file as the kernel loads it: trusted runs in-process, untrusted in the process sandbox."""
    loaded = await k.load(path, trusted=backend == "inproc")
    return loaded.cls, loaded.files


async def spawn_file(k, path, backend):
    cls, files = await load(k, path, backend)
    info = await k.spawn(cls, source=files)
    assert backend == info.sandbox
    return info


def write(folder, name, text):
    path = folder / name
    path.write_text(text)
    return path


def add(key, amount=1):
    return {"type": "add", "key": key, "amount": amount}


# -- identical code, state that changed ----------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_byte_identical_copy_of_counter_passes_the_gate_after_calls_changed_its_state(tmp_path, backend):
    """Counter's code under another version id agrees on every replayed call, and its totals move across."""
    live = write(tmp_path, "counter.py", COUNTER.read_text())
    copy = write(tmp_path, "counter_copy.py", COUNTER.read_text())

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k:
            await spawn_file(k, live, backend)
            for key in ("a", "a", "b"):
                await k.call("counter", add(key), timeout=10)
            cls, _ = await load(k, copy, backend)
            cls.__version_cache__ = "copy-of-counter"  # the same bytes, seen as another version
            report = await k.swap("counter", cls, replay=3)
            return report, await k.call("counter", {"type": "get", "key": "a"}, timeout=10)

    report, total = trio.run(main)
    assert (True, "live", 3, 3, []) == (
        report.ok, report.stage, report.replay.compared, report.replay.agreed, report.replay.differences)
    assert ("window", 3) == (report.replay.start, report.replay.reproduced)
    assert 2 == total.total


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_gate_after_a_swap_starts_from_the_state_that_swap_moved(tmp_path, backend):
    """The second swap replays from the totals the first swap restored, and reproduces the log."""
    live = write(tmp_path, "counter.py", COUNTER.read_text())

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k:
            await spawn_file(k, live, backend)
            await k.call("counter", add("a", 5), timeout=10)
            for tag in ("second", "third"):
                cls, _ = await load(k, live, backend)
                cls.__version_cache__ = tag
                report = await k.swap("counter", cls, replay=2)
                await k.call("counter", add("a"), timeout=10)
                await k.call("counter", add("a"), timeout=10)
            return report

    report = trio.run(main)
    assert ("window", 2, 2, 2) == (report.replay.start, report.replay.compared, report.replay.agreed,
                                   report.replay.reproduced)


def test_state_changed_by_sends_starts_both_shadows_from_one_snapshot_of_the_live_state(tmp_path):
    """A send changed the totals outside the logged calls: both shadows start from the live totals, and agree."""
    live = write(tmp_path, "counter.py", COUNTER.read_text())

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k:
            await spawn_file(k, live, "inproc")
            await k.call("counter", add("a"), timeout=10)
            await k.send("counter", add("a", 10))
            await k.call("counter", add("a"), timeout=10)
            cls, _ = await load(k, live, "inproc")
            cls.__version_cache__ = "copy"
            return await k.swap("counter", cls, replay=2)

    report = trio.run(main)
    assert ("live", 2, 2, 0) == (report.replay.start, report.replay.compared, report.replay.agreed,
                                 report.replay.reproduced)


# -- answers that differ ---------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_candidate_whose_answers_differ_is_refused_with_the_differences_named(tmp_path, backend):
    """Each difference names the input, the current version's answer and the candidate's; the old one serves on."""
    live = write(tmp_path, "counter.py", COUNTER.read_text())
    doubled = write(tmp_path, "doubled.py", COUNTER.read_text().replace("+ msg.amount", "+ 2 * msg.amount"))

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k:
            await spawn_file(k, live, backend)
            for key in ("a", "a", "b"):
                await k.call("counter", add(key), timeout=10)
            cls, _ = await load(k, doubled, backend)
            with pytest.raises(neuro.SwapFailed, match="3 of 3 replayed calls answered differently") as err:
                await k.swap("counter", cls, replay=3)
            total = await k.call("counter", {"type": "get", "key": "a"}, timeout=10)
            return err.value.report, total, await k.log.events(name="swap.failed")

    report, total, failed = trio.run(main)
    first = report.replay.differences[0]
    assert (False, "replay", "ReplayRefused") == (report.ok, report.stage, report.error.type)
    assert (add("a"), {"key": "a", "total": 1}, {"key": "a", "total": 2}, {"key": "a", "total": 1}) == (
        first.payload, first.current, first.candidate, first.logged)
    assert [1, 2, 1] == [d.current["total"] for d in report.replay.differences]
    assert (2, 1) == (total.total, len(failed))


@pytest.mark.parametrize("backend", BACKENDS)
def test_accept_takes_the_differences_and_the_candidate_goes_live_with_the_state(tmp_path, backend):
    """With accept=True the refused candidate goes live, its totals moved across."""
    live = write(tmp_path, "counter.py", COUNTER.read_text())
    doubled = write(tmp_path, "doubled.py", COUNTER.read_text().replace("+ msg.amount", "+ 2 * msg.amount"))

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k:
            await spawn_file(k, live, backend)
            await k.call("counter", add("a"), timeout=10)
            cls, _ = await load(k, doubled, backend)
            report = await k.swap("counter", cls, replay=1, accept=True)
            return report, await k.call("counter", add("a"), timeout=10), k.info("counter").version

    report, total, version = trio.run(main)
    assert (True, "live", 1, 0, 1) == (report.ok, report.stage, report.replay.compared, report.replay.agreed,
                                       len(report.replay.differences))
    assert (3, report.new_version) == (total.total, version)


@pytest.mark.parametrize("backend", BACKENDS)
def test_numbers_within_the_tolerance_agree_and_beyond_it_do_not(tmp_path, backend):
    """A candidate off by one part in a million is refused exactly and passes with tolerance 1e-3."""
    live = write(tmp_path, "gauge.py", gauge())
    close = write(tmp_path, "close.py", gauge("msg.x * 2 * (1 + 1e-6)"))

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k:
            await spawn_file(k, live, backend)
            for x in (1.0, 250.0, -3.5):
                await k.call("gauge", {"x": x}, timeout=10)
            cls, _ = await load(k, close, backend)
            with pytest.raises(neuro.SwapFailed) as err:
                await k.swap("gauge", cls, replay=3)
            report = await k.swap("gauge", cls, replay=3, tolerance=1e-3)
            return err.value.report.replay, report.replay

    exact, within = trio.run(main)
    assert ("exact", 0, 3) == (exact.judge, exact.agreed, len(exact.differences))
    assert ("tolerance", 1e-3, 3, 3) == (within.judge, within.tolerance, within.compared, within.agreed)


def test_a_tolerance_the_candidate_declares_is_used_when_none_is_given(tmp_path):
    """`replay_tolerance` in the candidate's manifest sets the gate's tolerance."""
    live = write(tmp_path, "gauge.py", gauge())
    close = write(tmp_path, "close.py", gauge("msg.x * 2 * (1 + 1e-6)", extra="    replay_tolerance = 1e-3\n"))

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k:
            await spawn_file(k, live, "inproc")
            await k.call("gauge", {"x": 4.0}, timeout=10)
            cls, _ = await load(k, close, "inproc")
            return (await k.swap("gauge", cls, replay=1)).replay

    gate = trio.run(main)
    assert ("tolerance", 1, 1) == (gate.judge, gate.compared, gate.agreed)


def test_a_replay_table_in_neuro_toml_runs_the_gate_with_its_tolerance(tmp_path):
    """`[replay] calls = 2, match = "tolerance"` in a package's neuro.toml: a plain swap runs the gate, within it."""
    live = write(tmp_path, "gauge.py", gauge())
    package = tmp_path / "gauge2"
    package.mkdir()
    write(package, "__init__.py", gauge("msg.x * 2 * (1 + 1e-6)"))
    write(package, "neuro.toml", '[replay]\ncalls = 2\nmatch = "tolerance"\ntolerance = 1e-3\n')

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k:
            await spawn_file(k, live, "inproc")
            for x in (1.0, 2.0, 3.0):
                await k.call("gauge", {"x": x}, timeout=10)
            cls, _ = await load(k, package, "inproc")
            return (await k.swap("gauge", cls)).replay

    gate = trio.run(main)
    assert ("tolerance", 1e-3, 2, 2) == (gate.judge, gate.tolerance, gate.compared, gate.agreed)


AGREE = '''
    def agree(self, old, new):
        return old["y"] == new["y"] and old["text"].lower() == new["text"].lower()
'''


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_candidates_agree_hook_decides_what_counts_as_the_same_answer(tmp_path, backend):
    """`agree(old, new)` lets a change of case through and refuses a change of number."""
    live = write(tmp_path, "gauge.py", gauge())
    shouting = write(tmp_path, "shouting.py", gauge(text="msg.text.upper()", extra=AGREE))
    off = write(tmp_path, "off.py", gauge("msg.x * 2 + 1", text="msg.text.upper()", extra=AGREE))

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k:
            await spawn_file(k, live, backend)
            for x, text in ((1.0, "hi"), (2.0, "there")):
                await k.call("gauge", {"x": x, "text": text}, timeout=10)
            wrong, _ = await load(k, off, backend)
            with pytest.raises(neuro.SwapFailed) as err:
                await k.swap("gauge", wrong, replay=2)
            right, _ = await load(k, shouting, backend)
            report = await k.swap("gauge", right, replay=2)
            return err.value.report.replay, report, await k.call("gauge", {"x": 1.0, "text": "a"}, timeout=10)

    refused, report, reply = trio.run(main)
    assert ("agree", 0, {"y": 2.0, "text": "hi"}, {"y": 3.0, "text": "HI"}) == (
        refused.judge, refused.agreed, refused.differences[0].current, refused.differences[0].candidate)
    assert (True, "agree", 2, 2) == (report.ok, report.replay.judge, report.replay.compared, report.replay.agreed)
    assert "A" == reply.text


def test_an_agree_hook_that_does_not_answer_a_bool_is_a_difference_that_says_so(tmp_path):
    """An `agree` that returns something else than True or False agrees with nothing."""
    live = write(tmp_path, "gauge.py", gauge())
    maybe = "    def agree(self, old, new):\n        return 'maybe'\n"
    vague = write(tmp_path, "vague.py", gauge("msg.x * 3", extra=maybe))

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k:
            await spawn_file(k, live, "inproc")
            await k.call("gauge", {"x": 1.0}, timeout=10)
            cls, _ = await load(k, vague, "inproc")
            with pytest.raises(neuro.SwapFailed) as err:
                await k.swap("gauge", cls, replay=1)
            return err.value.report.replay

    gate = trio.run(main)
    assert (0, "agree returned \"maybe\", not a bool") == (gate.agreed, gate.differences[0].note)


def test_a_candidate_that_raises_where_the_current_version_answers_is_a_difference(tmp_path):
    """The candidate's error is its answer: the difference carries it, the current answer beside it."""
    live = write(tmp_path, "gauge.py", gauge())
    broken = write(tmp_path, "broken.py", gauge("1 / (msg.x - 1.0)"))

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k:
            await spawn_file(k, live, "inproc")
            await k.call("gauge", {"x": 1.0}, timeout=10)
            cls, _ = await load(k, broken, "inproc")
            with pytest.raises(neuro.SwapFailed) as err:
                await k.swap("gauge", cls, replay=1)
            return err.value.report.replay.differences[0]

    difference = trio.run(main)
    assert ({"y": 2.0, "text": ""}, None, "ZeroDivisionError") == (
        difference.current, difference.candidate, difference.candidate_error.split(":")[0])


class Counting(InprocBackend):
    """The in-process backend, keeping the instances it started that were not stopped yet."""

    def __init__(self) -> None:
        self.running: list = []

    async def start(self, neuro_cls, policy):
        worker = await super().start(neuro_cls, policy)
        self.running.append(worker)
        stop = worker.stop

        async def stopped(grace):
            self.running.remove(worker)
            await stop(grace)

        worker.stop = stopped
        return worker


def test_both_shadows_are_stopped_when_the_gate_fails_part_way(tmp_path):
    """A candidate whose restore raises fails the gate; its shadow, the current one's and its instance all stop."""
    live = write(tmp_path, "counter.py", COUNTER.read_text())
    broken = write(tmp_path, "broken.py", COUNTER.read_text().replace(
        "self.totals = dict(state)", "raise RuntimeError('this version cannot take the state')"))
    backend = Counting()

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db", backends={"inproc": backend}) as k:
            await spawn_file(k, live, "inproc")
            await k.call("counter", add("a"), timeout=10)
            copy, _ = await load(k, write(tmp_path, "copy.py", COUNTER.read_text() + "# v2\n"), "inproc")
            await k.swap("counter", copy)  # the totals move across: the next gate restores them in its shadows
            await k.call("counter", add("a"), timeout=10)
            cls, _ = await load(k, broken, "inproc")
            with pytest.raises(neuro.SwapFailed, match="cannot take the state") as err:
                await k.swap("counter", cls, replay=1)
            return err.value.report.stage, len(backend.running), (await k.call("counter", add("a"))).total

    assert ("replay", 1, 3) == trio.run(main)


# -- dry runs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_dry_run_reports_the_gate_and_leaves_the_old_version_serving(tmp_path, backend):
    """dry_run=True loads, checks and replays, says it would go live, and changes nothing."""
    live = write(tmp_path, "counter.py", COUNTER.read_text())
    copy = write(tmp_path, "counter_copy.py", COUNTER.read_text() + "# the same code, another version\n")

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k:
            info = await spawn_file(k, live, backend)
            await k.call("counter", add("a"), timeout=10)
            cls, files = await load(k, copy, backend)
            report = await k.swap("counter", cls, replay=1, dry_run=True, source=files)
            total = await k.call("counter", add("a"), timeout=10)
            events = [e.name for e in await k.log.events(name="swap.*")]
            return info.version, report, k.info("counter").version, total, events, len(k.versions("counter"))

    old, report, running, total, events, versions = trio.run(main)
    assert (True, True, "replay", 1, 1) == (report.ok, report.dry_run, report.stage, report.replay.compared,
                                            report.replay.agreed)
    assert (old, 2, ["swap.replayed"], 1) == (running, total.total, events, versions)


def test_a_dry_run_the_gate_would_refuse_raises_with_the_report_and_logs_no_failure(tmp_path):
    """A dry run of a candidate that answers differently raises SwapFailed (dry_run in its report); no swap.failed."""
    live = write(tmp_path, "counter.py", COUNTER.read_text())
    doubled = write(tmp_path, "doubled.py", COUNTER.read_text().replace("+ msg.amount", "+ 2 * msg.amount"))

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db") as k:
            await spawn_file(k, live, "inproc")
            await k.call("counter", add("a"), timeout=10)
            cls, _ = await load(k, doubled, "inproc")
            with pytest.raises(neuro.SwapFailed) as err:
                await k.swap("counter", cls, replay=1, dry_run=True)
            return err.value.report, await k.log.events(name="swap.failed")

    report, failed = trio.run(main)
    assert (False, True, "replay", []) == (report.ok, report.dry_run, report.stage, failed)


def test_swap_refuses_a_dry_run_or_accept_that_is_not_a_bool(tmp_path):
    """dry_run="yes" is a TypeError naming the argument, before anything starts."""

    async def main():
        async with neuro.Kernel() as k:
            from neuro.neuros.counter import Counter

            await k.spawn(Counter)
            with pytest.raises(TypeError, match="dry_run must be True or False"):
                await k.swap("counter", Counter, dry_run="yes")
            with pytest.raises(TypeError, match="accept must be True or False"):
                await k.swap("counter", Counter, accept=1)

    trio.run(main)


# -- ctx.kernel -------------------------------------------------------------------------------------


class Order(sdk.Message):
    path: str


class Said(sdk.Message):
    text: str


class Operator(sdk.Neuro):
    """Dry-runs a swap of `counter` to the file an order names, through ctx.kernel."""

    name = "operator"
    input = Order
    output = Said
    policy = "operator"

    async def handle(self, ctx, msg):
        try:
            report = await ctx.kernel.swap("counter", msg.path, replay=1, tolerance=0.0, dry_run=True)
        except neuro.SwapFailed as e:
            report = e.report
        return Said(text=f"{report.ok} {report.dry_run} {report.replay.agreed}/{report.replay.compared}")


@needs_bwrap
def test_a_neuro_granted_swap_dry_runs_the_gate_through_ctx_kernel(tmp_path):
    """ctx.kernel.swap(..., dry_run=True) reports the gate to the neuro that asked; counter keeps its version."""
    from neuro.kernel import Policy
    from neuro.kernel._policy import Capabilities

    same = write(tmp_path, "same.py", COUNTER.read_text() + "# another version\n")
    doubled = write(tmp_path, "doubled.py", COUNTER.read_text().replace("+ msg.amount", "+ 2 * msg.amount"))
    policies = {"operator": Policy(name="operator", capabilities=Capabilities(control=("swap",)))}

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db", policies=policies) as k:
            before = (await k.spawn(neuro.neuros.counter.Counter)).version
            await k.spawn(Operator)
            await k.call("counter", add("a"), timeout=10)
            said = [(await k.call("operator", Order(path=str(p)), timeout=60)).text for p in (same, doubled)]
            return said, before == k.info("counter").version

    assert (["True True 1/1", "False True 0/1"], True) == trio.run(main)


# -- the command line, against a real daemon -------------------------------------------------------

def cli(*args, home, code=0):
    done = neuro_cmd(*args, home=home)
    assert (code, "") == (done.returncode, done.stderr), done.stdout
    return done.stdout


@pytest.mark.parametrize("flag, value", [("--replay", "-3"), ("--replay", "many"), ("--tolerance", "-0.1"),
                                         ("--tolerance", "nan")])
def test_a_negative_or_non_numeric_replay_or_tolerance_is_a_usage_error(daemon, tmp_path, flag, value):
    """`neuro swap ... --replay -3` exits 2 with a UsageError naming the flag; the running version serves on."""
    import json

    spawned = json.loads(cli("spawn", "neuro.neuros.counter:Counter", "--json", home=daemon.home))
    copy = write(tmp_path, "counter_copy.py", COUNTER.read_text() + "# another version\n")
    error = json.loads(cli("swap", "counter", str(copy), flag, value, "--json", home=daemon.home, code=2))["error"]
    running = json.loads(cli("ps", "--json", home=daemon.home))
    assert ("UsageError", 2, True) == (
        error["type"], error["exit_code"], f"argument {flag}: expected" in error["message"])
    assert [spawned["version"]] == [p["version"] for p in running]


def test_a_byte_identical_copy_of_counter_swaps_in_through_the_cli_after_calls(daemon, tmp_path):
    """`neuro swap counter COPY --replay 3`, COPY the built-in counter's bytes, exits 0 and keeps the totals."""
    import json

    cli("spawn", "neuro.neuros.counter:Counter", home=daemon.home)
    for key in ("a", "a", "b"):
        cli("call", "counter", "type=add", f"key={key}", home=daemon.home)
    copy = write(tmp_path, "counter_copy.py", COUNTER.read_text())
    report = json.loads(cli("swap", "counter", str(copy), "--replay", "3", "--json", home=daemon.home))
    total = json.loads(cli("call", "counter", "type=get", "key=a", "--json", home=daemon.home))["reply"]["total"]
    gate = report.get("replay") or {"compared": 3, "agreed": 3}  # an identical version is no swap at all
    assert (True, 3, 3, 2) == (report["ok"], gate["compared"], gate["agreed"], total)


def test_the_plain_output_shows_the_first_differences_as_a_table(daemon, tmp_path):
    """A refused swap prints the gate's figures and input, current and candidate of each difference; exit 1."""
    cli("spawn", "neuro.neuros.counter:Counter", home=daemon.home)
    cli("call", "counter", "type=add", "key=a", home=daemon.home)
    doubled = write(tmp_path, "doubled.py", COUNTER.read_text().replace("+ msg.amount", "+ 2 * msg.amount"))
    out = cli("swap", "counter", str(doubled), "--replay", "1", home=daemon.home, code=1)
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split() == ["input", "current", "candidate"])
    assert "refused at replay" in lines[0]
    assert "replay gate: 0 of 1 calls agreed (answers equal; from the state before the replayed calls)" in out
    assert ['{"type":"add","key":"a"}', '{"key":"a","total":1}', '{"key":"a","total":2}'] == \
        lines[header + 2].split()


def test_dry_run_then_accept_through_the_cli(daemon, tmp_path):
    """`--dry-run --accept` reports and changes nothing; `--accept` then takes the differences and goes live."""
    import json

    spawned = json.loads(cli("spawn", "neuro.neuros.counter:Counter", "--json", home=daemon.home))
    cli("call", "counter", "type=add", "key=a", home=daemon.home)
    doubled = write(tmp_path, "doubled.py", COUNTER.read_text().replace("+ msg.amount", "+ 2 * msg.amount"))
    dry = cli("swap", "counter", str(doubled), "--replay", "1", "--dry-run", "--accept", home=daemon.home)
    after_dry = json.loads(cli("ps", "--json", home=daemon.home))[0]["version"]
    live = json.loads(cli("swap", "counter", str(doubled), "--replay", "1", "--accept", "--json", home=daemon.home))
    after = json.loads(cli("call", "counter", "type=add", "key=a", "--json", home=daemon.home))["reply"]["total"]
    assert ("would go live (dry run; nothing changed)" in dry, spawned["version"]) == (True, after_dry)
    assert (True, False, 0, 3) == (live["ok"], live["dry_run"], live["replay"]["agreed"], after)
