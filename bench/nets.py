"""bench/nets: Neuro-Net against direct kernel calls (and LangGraph and Hamilton where installed)
on a 10-node chain of x+1; the memo; broken nets refused at build; exact invalidation after a
hot swap; two independent CPU branches in process sandboxes side by side.

Every speed figure is a ratio of things measured in the same process, interleaved, median of
the repetitions (min and max beside it); absolute times are beside them for information.
"""

from __future__ import annotations

import inspect
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

import neuro
from neuro import sdk
from neuro.kernel import Policy

from ._harness import ProgressBar, Report, Metric, summarize

ROOT = Path(__file__).resolve().parent.parent
NODES = 10


class Num(sdk.Message):
    x: int


class Inc(sdk.Neuro):
    name = "inc"
    input = Num
    output = Num

    def handle(self, ctx, msg):
        return Num(x=msg.x + 1)


def chain(name: str, memo: bool, names: list[str] | None = None) -> sdk.Net:
    net = sdk.Net(name, memo=memo)
    net.chain("in", *[net.node(f"n{i}", (names or ["inc"] * NODES)[i]) for i in range(NODES)], "out")
    return net


# -- per-node cost against a direct kernel call, and a memo hit ------------------------------------

def chain_costs(reps: int, calls: int, log: Path) -> dict[str, list[float]]:
    """Seconds per node of a 10-node net (memo off), of a direct kernel call to inc, and of a
    net run whose every node is a memo hit, interleaved call by call (one net run, ten direct
    calls, one memo run, and again), so a burst of load on a shared machine falls on all three
    alike; each repetition `calls` runs."""

    async def main() -> dict[str, list[float]]:
        out: dict[str, list[float]] = {"net": [], "direct": [], "ratio": [], "hit": [], "hit_envelope": []}
        async with neuro.Kernel(log=log) as k:
            await k.spawn(Inc)
            await k.spawn(chain("fresh", memo=False).build(kernel=k).neuro())
            await k.spawn(chain("memo", memo=True).build(kernel=k).neuro())
            for _ in range(200):  # warm up every path
                await k.call("fresh", Num(x=1))
                await k.call("inc", Num(x=1))
                await k.call("memo", Num(x=1))
            bar = ProgressBar(reps, "net vs direct calls")
            clock = time.perf_counter
            for i in range(reps):
                net_s = direct_s = cached_s = 0.0
                for j in range(calls):
                    t0 = clock()
                    await k.call("fresh", Num(x=j))
                    t1 = clock()
                    for _ in range(NODES):
                        await k.call("inc", Num(x=j))
                    t2 = clock()
                    await k.call("memo", Num(x=1))
                    t3 = clock()
                    net_s, direct_s, cached_s = net_s + t1 - t0, direct_s + t2 - t1, cached_s + t3 - t2
                per_node = net_s / calls / NODES
                direct = direct_s / (calls * NODES)
                cached = cached_s / calls
                out["net"].append(per_node)
                out["direct"].append(direct)
                out["ratio"].append(per_node / direct)
                out["hit"].append(max(cached - direct, 0.0) / NODES)  # less the call to the net itself
                out["hit_envelope"].append(cached / NODES)
                bar.update(i + 1)
            bar.close()
        return out

    return trio.run(main)


# -- broken nets -------------------------------------------------------------------------------

def broken_nets() -> tuple[int, int, list[str]]:
    """How many of tests/nets/broken are refused at build with every part their `# expect:` names."""
    sys.path.insert(0, str(ROOT / "tests" / "nets"))
    sys.path.append(str(ROOT / "tests"))  # tests/arith_neuros.py, which netneuros imports
    from netneuros import ALL

    from neuro.nets import NetError, NetFileError, build, load_toml

    files = sorted((ROOT / "tests" / "nets" / "broken").glob("*.net.toml"))
    missed = []
    for path in files:
        expect = path.read_text().splitlines()[0].removeprefix("# expect: ").split(" | ")
        try:
            build(load_toml(path), neuros=ALL)
            missed.append(f"{path.name}: built")
            continue
        except (NetError, NetFileError) as e:
            message = str(e)
        if not all(part in message for part in expect):
            missed.append(f"{path.name}: {message}")
    return len(files) - len(missed), len(files), missed


# -- a hot swap of node k ---------------------------------------------------------------------------

def swap_invalidation(log: Path) -> dict[str, Any]:
    """A chain n0..n9 whose node k calls process inc<k>. For each k: run, swap inc<k> to a new
    version that adds more, run again; the second run's lineage says which nodes were called
    (recomputed) and which came from the memo. A stale hit is a memo hit at or after k."""

    def incr(by: int, serial: int) -> tuple[type[sdk.Neuro], dict[str, bytes]]:
        def handle(self: Any, ctx: Any, msg: Num) -> Num:
            return Num(x=msg.x + by)

        cls = type(f"IncBy{by}", (sdk.Neuro,), {"name": "inc", "input": Num, "output": Num, "handle": handle,
                                                "__module__": __name__})
        source = f"# inc by {by}, swap {serial}\n" + inspect.getsource(Inc)  # its own version
        return cls, {"inc.py": source.encode()}

    async def main() -> dict[str, Any]:
        stale, exact, swaps = 0, 0, 0
        async with neuro.Kernel(log=log) as k:
            names = [f"inc{i}" for i in range(NODES)]
            for name in names:
                await k.spawn(Inc, name=name)
            await k.spawn(chain("swapped", memo=True, names=names).build(kernel=k).neuro())
            for node in range(NODES):
                await k.call("swapped", Num(x=1))
                cls, source = incr(2 + node, node)
                await k.swap(names[node], cls, source=source)
                await k.call("swapped", Num(x=1))
                swaps += 1
        with sqlite3.connect(log) as db:
            runs = [json.loads(d) for (d,) in db.execute(
                "select data from events where name = 'net.run' and json_extract(data, '$.net') = 'swapped' "
                "order by seq")]
        for node in range(NODES):
            after = runs[2 * node + 1]
            called = {s["node"] for s in after["steps"] if s["reason"] == "called"}
            downstream = {f"n{i}" for i in range(node, NODES)}
            stale += sum(1 for s in after["steps"] if s["reason"] == "cached" and s["node"] in downstream)
            exact += called == downstream
        return {"stale": stale, "exact": exact, "swaps": swaps}

    return trio.run(main)


# -- two independent CPU branches, sandboxed ------------------------------------------------------

SPIN_SOURCE = '''
import time

from neuro import sdk


class Job(sdk.Message):
    ms: float


class Spin(sdk.Neuro):
    """Spins `ms` milliseconds of its own CPU time per call."""

    name = "spin"
    input = Job
    output = Job
    sandbox = "process"
    policy = "spin"

    def handle(self, ctx, msg):
        end = time.thread_time() + msg.ms / 1000
        while time.thread_time() < end:
            pass
        return Job(ms=msg.ms)
'''


def parallel_branches(reps: int, folder: Path) -> dict[str, list[float]]:
    """Seconds of a net whose two 50 ms CPU branches (process sandboxes) are independent,
    against the same two nodes in a chain, interleaved; and, as the ceiling the machine allows
    now (a loaded machine has less than two free cores), the same two calls made straight to
    the kernel side by side against one after the other."""
    (folder / "spin.py").write_text(SPIN_SOURCE)

    async def main() -> dict[str, list[float]]:
        out: dict[str, list[float]] = {"par": [], "seq": [], "speedup": [], "ceiling": [], "of_ceiling": []}
        async with neuro.Kernel(policies={"spin": Policy(name="spin", sandbox="process")}) as k:
            spin = await k.load(folder / "spin.py", trusted=True)
            for name in ("spin_a", "spin_b"):
                await k.spawn(spin.cls, name=name, source=spin.files)
            par = sdk.Net("par", memo=False)
            par.node("a", "spin_a")
            par.node("b", "spin_b")
            par.edge("in", "a")
            par.edge("in", "b")
            par.edge("a.ms", "out.a")
            par.edge("b.ms", "out.b")
            seq = sdk.Net("seq", memo=False)
            seq.chain("in", seq.node("a", "spin_a"), seq.node("b", "spin_b"), "out")
            await k.spawn(par.build(kernel=k).neuro())
            await k.spawn(seq.build(kernel=k).neuro())
            for _ in range(3):
                await k.call("par", {"ms": 50.0}, timeout=60)
                await k.call("seq", {"ms": 50.0}, timeout=60)
            bar = ProgressBar(reps, "parallel branches")
            for i in range(reps):
                t0 = time.perf_counter()
                await k.call("par", {"ms": 50.0}, timeout=60)
                p = time.perf_counter() - t0
                t0 = time.perf_counter()
                await k.call("seq", {"ms": 50.0}, timeout=60)
                s = time.perf_counter() - t0
                out["par"].append(p)
                out["seq"].append(s)
                out["speedup"].append(s / p)
                t0 = time.perf_counter()
                async with trio.open_nursery() as nursery:
                    for name in ("spin_a", "spin_b"):
                        nursery.start_soon(lambda n=name: k.call(n, {"ms": 50.0}, timeout=60))
                bare_par = time.perf_counter() - t0
                t0 = time.perf_counter()
                for name in ("spin_a", "spin_b"):
                    await k.call(name, {"ms": 50.0}, timeout=60)
                bare_seq = time.perf_counter() - t0
                out["ceiling"].append(bare_seq / bare_par)
                out["of_ceiling"].append((s / p) / (bare_seq / bare_par))
                bar.update(i + 1)
            bar.close()
        return out

    return trio.run(main)


# -- `neuro net trace` on a big log -------------------------------------------------------------

def trace_on_big_log(n: int, folder: Path, reps: int) -> dict[str, Any]:
    """Seconds for what `neuro net trace RUN` reads, on a copy of bench/log's `n`-message log
    with 1,000 `net.run` events added (each naming a real call with children as its run): the
    run's event by name and time window, then the messages it sent (`LogReader.trace`)."""
    import shutil

    from neuro import LogReader

    from ._logdata import log_with

    source, info = log_with(n, folder, cache=True)
    path = folder / "trace.db"
    shutil.copyfile(source, path)
    with sqlite3.connect(path) as db:
        roots = [r for (r,) in db.execute(
            "select id from messages where recipient = 'planner' and sender = 'client' order by id limit 1000")]
        db.executemany("insert into events (time, name, neuro, actor, data) values (?, 'net.run', 'nets', 'nets', ?)",
                       [(rid / 1e9 + 0.001, json.dumps({"run": rid, "net": "bench", "steps": []})) for rid in roots])
    samples = []
    picks = roots[:: max(1, len(roots) // reps)][:reps]
    with LogReader(path) as log:
        for rid in picks:
            t0 = time.perf_counter()
            found = [e for e in log.events(name="net.run", since=rid / 1e9 - 1.0, until=rid / 1e9 + 86400, limit=None)
                     if e.data.get("run") == rid]
            tree = log.trace(rid)
            samples.append(time.perf_counter() - t0)
            assert found and tree is not None
    return {"seconds": samples, "log": info}


# -- LangGraph and Hamilton, when installed ------------------------------------------------------

def others(reps: int, calls: int) -> dict[str, list[float]]:
    """Seconds per node of the same 10-node chain in LangGraph and Hamilton, when they import."""
    out: dict[str, list[float]] = {}
    try:
        from typing import TypedDict

        from langgraph.graph import END, START, StateGraph

        class State(TypedDict):
            x: int

        g = StateGraph(State)
        for i in range(NODES):
            g.add_node(f"n{i}", lambda s: {"x": s["x"] + 1})
        g.add_edge(START, "n0")
        for i in range(NODES - 1):
            g.add_edge(f"n{i}", f"n{i + 1}")
        g.add_edge(f"n{NODES - 1}", END)
        app = g.compile()
        samples = []
        for _ in range(reps):
            t0 = time.perf_counter()
            for j in range(calls):
                app.invoke({"x": j})
            samples.append((time.perf_counter() - t0) / calls / NODES)
        out["langgraph"] = samples
    except ImportError:
        pass
    try:
        import types

        from hamilton import driver

        mod = types.ModuleType("chain_fns")
        src = "def n0(x: int) -> int:\n    return x + 1\n" + "".join(
            f"def n{i}(n{i - 1}: int) -> int:\n    return n{i - 1} + 1\n" for i in range(1, NODES))
        exec(compile(src, "chain_fns", "exec"), mod.__dict__)  # noqa: S102 - the bench's own fixed code
        sys.modules[mod.__name__] = mod  # Hamilton finds a module's functions through it
        dr = driver.Builder().with_modules(mod).build()
        samples = []
        for _ in range(reps):
            t0 = time.perf_counter()
            for j in range(max(calls // 10, 10)):
                dr.execute([f"n{NODES - 1}"], inputs={"x": j})
            samples.append((time.perf_counter() - t0) / max(calls // 10, 10) / NODES)
        out["hamilton"] = samples
    except ImportError:
        pass
    return out


def run(quick: bool = False) -> Report:
    reps = 5 if quick else 7
    calls = 100 if quick else 500
    with tempfile.TemporaryDirectory(prefix="bench-nets-") as tmp:
        folder = Path(tmp)
        costs = chain_costs(reps, calls, folder / "chain.db")
        ok, total, missed = broken_nets()
        swap = swap_invalidation(folder / "swap.db")
        par = parallel_branches(reps, folder)
        trace = trace_on_big_log(100_000 if quick else 1_000_000, folder, reps)
    theirs = others(reps, calls // 5 if quick else calls)
    metrics: dict[str, Metric] = {
        "per_node_over_direct_call": summarize(costs["ratio"], "ratio", goal=1.5, higher_is_better=False,
                                               note="10-node chain of x+1 (memo off, lineage on, log on): seconds "
                                                    "per node / seconds per direct kernel call to the same neuro"),
        "memo_hit_per_node_us": summarize([h * 1e6 for h in costs["hit"]], "us", goal=10, higher_is_better=False,
                                          note="a run whose 10 nodes all hit the memo, less one direct kernel call "
                                               "(the call to the net itself), per node"),
        "memo_hit_per_node_with_net_call_us": summarize([h * 1e6 for h in costs["hit_envelope"]], "us",
                                                        note="the same, the call to the net included"),
        "net_per_node_us": summarize([x * 1e6 for x in costs["net"]], "us"),
        "direct_call_us": summarize([x * 1e6 for x in costs["direct"]], "us"),
        "broken_nets_rejected": Metric(value=ok, unit="nets", goal=total, runs=1,
                                       note=f"of {total} in tests/nets/broken, each naming the edge or node, the "
                                            "field path and both types as its `# expect:` line says"),
        "stale_hits_after_swap": Metric(value=swap["stale"], unit="hits", goal=0, higher_is_better=False,
                                        note=f"memo hits at or after the swapped node, over {swap['swaps']} swaps "
                                             "(one of each node of the chain)"),
        "recomputed_set_exact": Metric(value=swap["exact"], unit="swaps", goal=swap["swaps"],
                                       note="swaps after which exactly the swapped node and those after it ran"),
        "parallel_branches_speedup": summarize(par["speedup"], "ratio", goal=1.8,
                                               note="two independent 50 ms CPU branches in process sandboxes, "
                                                    "against the same two in a chain"),
        "parallel_ceiling_speedup": summarize(par["ceiling"], "ratio",
                                              note="the same two calls made straight to the kernel, side by side "
                                                   "against one after the other: what the machine allows now"),
        "parallel_branches_of_ceiling": summarize(par["of_ceiling"], "ratio",
                                                  note="the net's speed-up / the ceiling's, run by run (1: the "
                                                       "branches overlap as fully as plain side-by-side calls)"),
        "trace_on_big_log_ms": summarize([t * 1000 for t in trace["seconds"]], "ms", goal=50, higher_is_better=False,
                                         note=f"what `neuro net trace RUN` reads (the run's net.run event, the "
                                              f"messages it sent) on a {'100 k' if quick else '1 M'}-message log"),
    }
    for name, samples in theirs.items():
        ours = statistics_median(costs["net"])
        metrics[f"per_node_over_{name}"] = summarize([ours / s for s in samples], "ratio",
                                                     goal=0.25 if name == "langgraph" else None,
                                                     higher_is_better=False,
                                                     note=f"Neuro's per-node cost / {name}'s, same chain, same "
                                                          "process (not interleaved run by run)")
        metrics[f"{name}_per_node_us"] = summarize([s * 1e6 for s in samples], "us")
    extra = {"broken_missed": missed, "not_installed": sorted({"langgraph", "hamilton"} - set(theirs))}
    return Report(metrics=metrics, extra=extra)


def statistics_median(xs: list[float]) -> float:
    import statistics

    return statistics.median(xs)
