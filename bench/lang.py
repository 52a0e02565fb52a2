"""bench/lang: the Neuro-Lang compiler and what it compiles to.

- compile time of a 200-node program (parse, check, optimise, lower, build with the net
  checker) in a process that has compiled before (the daemon's `lang` neuro, a drop folder),
  over the time of `python -c pass` (goal <= 3, issue 30); the first compile in a fresh
  process (lark's grammar built, the compiler imported) beside it, for information;
- a compiled net's per-node cost over the same net built with the Python builder (`sdk.Net`),
  a 10-node chain of x+1 run interleaved in one kernel, memo off (goal <= 1.05);
- the broken programs of tests/lang/broken/ refused, each at its line (all of them), and the
  grammar's size.

Ratios of things measured in the same process, interleaved, median of the repetitions.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import trio

import neuro
from neuro import lang, sdk

from ._harness import Metric, ProgressBar, Report, summarize

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


def program(nodes: int) -> str:
    """A net of `nodes` nodes: calls of inc and lambdas, one after the other, with a branch every 20."""
    lines = ["use inc", "message N { x: int }", "net big(n: N) {", "    v0 = inc(n)"]
    for i in range(1, nodes):
        prev = f"v{i - 1}"
        if i % 20 == 0:
            lines += [f"    if {prev}.x > 0 {{", f"        v{i} = inc({prev})", "    } else {",
                      f"        v{i} = {prev}", "    }"]
        elif i % 2:
            lines.append(f"    v{i} = inc({prev})")
        else:
            lines.append(f"    v{i} = {{x: {prev}.x + 1}}")
    lines += [f"    return v{nodes - 1}", "}"]
    return "\n".join(lines) + "\n"


def _python_start() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - t0


def compile_times(reps: int, nodes: int) -> dict[str, list[float]]:
    text = program(nodes)
    lang.compile_source(text, "big.neuro", neuros=[Inc])  # warm: the grammar is built, the modules imported
    out: dict[str, list[float]] = {"compile": [], "python": [], "ratio": []}
    bar = ProgressBar(reps, "compile vs python -c pass")
    for i in range(reps):
        t0 = time.perf_counter()
        built = lang.compile_source(text, "big.neuro", neuros=[Inc])
        took = time.perf_counter() - t0
        start = _python_start()
        out["compile"].append(took)
        out["python"].append(start)
        out["ratio"].append(took / start)
        bar.update(i + 1)
    bar.close()
    out["nodes"] = [float(len(built.nets["big"].graph.nodes))]
    return out


def cold_compile(reps: int, nodes: int, folder: Path) -> list[float]:
    """Seconds of a fresh process that imports neuro.lang and compiles the program, over `python -c pass`."""
    path = folder / "big.neuro"
    path.write_text(program(nodes))
    code = ("import sys; sys.path.insert(0, %r); from bench.lang import Inc; from neuro import lang; "
            "lang.compile_file(%r, neuros=[Inc])" % (str(ROOT), str(path)))
    ratios = []
    for _ in range(reps):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        cold = time.perf_counter() - t0
        ratios.append(cold / _python_start())
    return ratios


CHAIN = "use inc\nnet lchain(n) memo false {\n    v0 = inc(n)\n" + "".join(
    f"    v{i} = inc(v{i - 1})\n" for i in range(1, NODES)) + f"    return v{NODES - 1}\n}}\n"


def per_node(reps: int, calls: int, log: Path) -> dict[str, list[float]]:
    """Seconds per node of the compiled chain and of the builder's chain, interleaved."""

    async def main() -> dict[str, list[float]]:
        out: dict[str, list[float]] = {"lang": [], "builder": [], "ratio": []}
        async with neuro.Kernel(log=log) as k:
            await k.spawn(Inc)
            compiled = lang.compile_source(CHAIN, "lchain.neuro", kernel=k).nets["lchain"]
            await k.spawn(compiled.neuro())
            net = sdk.Net("pchain", memo=False)
            net.chain("in", *[net.node(f"v{i}", "inc") for i in range(NODES)], "out")
            await k.spawn(net.build(kernel=k).neuro())
            for _ in range(200):
                await k.call("lchain", Num(x=1))
                await k.call("pchain", Num(x=1))
            bar = ProgressBar(reps, "compiled vs builder net")
            for i in range(reps):
                t0 = time.perf_counter()
                for j in range(calls):
                    await k.call("lchain", Num(x=j))
                ours = (time.perf_counter() - t0) / calls / NODES
                t0 = time.perf_counter()
                for j in range(calls):
                    await k.call("pchain", Num(x=j))
                theirs = (time.perf_counter() - t0) / calls / NODES
                out["lang"].append(ours)
                out["builder"].append(theirs)
                out["ratio"].append(ours / theirs)
                bar.update(i + 1)
            bar.close()
        return out

    return trio.run(main)


def broken_programs() -> tuple[int, int]:
    """(refused at the expected line, all) of tests/lang/broken/."""
    sys.path[:0] = [str(ROOT / "tests" / "lang"), str(ROOT / "tests")]  # (langneuros imports tests/arith_neuros)
    from langneuros import ALL  # type: ignore[import-not-found]

    files = sorted((ROOT / "tests" / "lang" / "broken").glob("*.neuro"))
    ok = 0
    for path in files:
        text = path.read_text()
        want = re.match(r"# expect: (\d+):", text)
        try:
            lang.compile_source(text, str(path), neuros=ALL)
        except lang.LangError as e:
            ok += bool(want) and any(d.line == int(want.group(1)) for d in e.diagnostics)
    return ok, len(files)


def grammar_size() -> dict[str, int]:
    text = lang.grammar_text()
    rules = [ln for ln in text.splitlines() if re.match(r"^[?!]?[a-z_]+\s*:", ln)]
    terminals = [ln for ln in text.splitlines() if re.match(r"^[A-Z_]+\s*:", ln)]
    code = [ln for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("//")]
    return {"rules": len(rules), "terminals": len(terminals), "lines": len(code)}


def run(quick: bool = False) -> Report:
    import tempfile

    reps = 5 if quick else 9
    with tempfile.TemporaryDirectory() as d:
        times = compile_times(reps, 200)
        cold = cold_compile(3 if quick else 5, 200, Path(d))
        costs = per_node(reps, 50 if quick else 300, Path(d) / "lang.db")
    ok, total = broken_programs()
    size = grammar_size()
    metrics: dict[str, Metric] = {
        "compile_200_nodes_over_python_start": summarize(times["ratio"], "ratio", goal=3, higher_is_better=False,
                                                         note="in a process that compiled before"),
        "cold_compile_200_nodes_over_python_start": summarize(cold, "ratio",
                                                              note="a fresh process: imports, grammar, compile"),
        "compile_200_nodes_ms": summarize([t * 1000 for t in times["compile"]], "ms"),
        "python_start_ms": summarize([t * 1000 for t in times["python"]], "ms"),
        "per_node_compiled_over_builder": summarize(costs["ratio"], "ratio", goal=1.05, higher_is_better=False),
        "compiled_per_node_us": summarize([x * 1e6 for x in costs["lang"]], "us"),
        "builder_per_node_us": summarize([x * 1e6 for x in costs["builder"]], "us"),
        "broken_programs_refused_at_their_line": Metric(value=ok / total if total else 0.0, unit="fraction", goal=1.0,
                                                        note=f"{ok} of {total}"),
    }
    return Report(metrics, extra={"grammar": size, "program_nodes": int(times["nodes"][0]),
                                  "broken_programs": total})
