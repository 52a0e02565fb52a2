"""`neuro demo`: an embedded kernel, the built-in neuros, and a scripted session.

The session ends by itself and prints what ran, every message's outcome, and timings, read
back from the event log, so the summary is what the log says, not what the script believes.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import msgspec
import trio

import neuro
from neuro.neuros import BUILTINS
from neuro.neuros.counter import Get
from neuro.neuros.echo import EchoIn
from neuro.neuros.flaky import Work
from neuro.neuros.wordcount import Text

TEXTS = [
    "the kernel schedules neuros and the neuros send messages",
    "a neuro that crashes is restarted by its supervisor and nothing is lost",
    "the dream daemon reads the log and the log records every message",
]


class Step(msgspec.Struct):
    what: str
    seconds: float
    result: str


class Summary(msgspec.Struct):
    log: str
    steps: list[Step]
    neuros: list[dict[str, Any]]
    events: dict[str, int]
    accepted: int
    with_one_outcome: int
    ok: bool


async def run_session(log_path: Path, echo_calls: int, say: Callable[[str], None], learn: bool = True) -> Summary:
    steps: list[Step] = []

    async def step(what: str, action: Any) -> Any:
        t0 = time.perf_counter()
        result = await action()
        steps.append(Step(what=what, seconds=time.perf_counter() - t0, result=str(result)))
        say(f"  {what:<52} {steps[-1].result}")
        return result

    from .demo_parts import ACTS
    from .demo_privacy import policy_folder

    drop_folder = log_path.parent / "neuros"
    async with neuro.Kernel(log=log_path, neuro_dirs=[drop_folder],
                            policy_dirs=[str(policy_folder(log_path.parent))]) as k:
        say(f"kernel up, log at {log_path}")
        for cls in BUILTINS:
            await k.spawn(cls)
        say(f"spawned {', '.join(p.name for p in k.ps())}")

        async def echoes() -> str:
            for i in range(echo_calls):
                await k.call("echo", EchoIn(text=f"ping {i}"), timeout=5.0)
            return f"{echo_calls} replies"

        await step(f"{echo_calls} calls to echo", echoes)

        async def count_words() -> str:
            words = adds = 0
            for text in TEXTS:
                counts = await k.call("wordcount", Text(text=text), timeout=10.0)
                words, adds = words + counts.words, adds + counts.distinct
            return f"{words} words counted; counter got {adds} adds (one per distinct word of each text)"

        await step("wordcount over 3 texts (it calls counter)", count_words)

        async def totals() -> str:
            got = [await k.call("counter", Get(key=w)) for w in ("the", "neuro", "log")]
            return ", ".join(f"{t.key}={t.total}" for t in got)

        await step("counter totals", totals)

        async def crashes() -> str:
            for n in range(10):
                await k.send("flaky", Work(n=n, crash=n in (3, 7)))
            replies = []
            for n in range(10, 13):
                replies.append(await k.call("flaky", Work(n=n), timeout=5.0))
            return f"2 crashes, {k.info('flaky').restarts} restarts, then served by instance {replies[-1].served_by_instance}"

        await step("flaky: 10 sends, 2 crash; supervisor restarts it", crashes)

        async def bad_input() -> str:
            try:
                await k.call("echo", {"text": 42})
            except neuro.InvalidPayload as e:
                return f"refused at {e.path}"
            return "accepted (unexpected)"

        await step("a payload of the wrong type", bad_input)

        async def unknown() -> str:
            try:
                await k.call("nobody", EchoIn(text="?"))
            except neuro.NoSuchNeuro:
                return "NoSuchNeuro"
            return "delivered (unexpected)"

        await step("a call to a neuro that does not exist", unknown)

        for what, act in ACTS:
            if act.__name__ == "learning" and not learn:
                continue

            async def run_act(act=act) -> str:
                try:
                    return await act(k, log_path.parent)
                except neuro.NeuroError as e:
                    return f"FAILED: {type(e).__name__}: {e}"

            await step(what, run_act)

        rows = k.ps()
        counts = await k.log.outcome_counts()
        latencies = await k.log._query("latencies")
        events = await k.log.events(limit=None)

    # The kernel is shut down: every accepted message must now have exactly one outcome.
    reader = neuro.LogReader(log_path)
    try:
        per_message = reader.outcomes_per_message()
        counts = reader.outcome_counts()
    finally:
        reader.close()
    table = []
    for p in rows:
        lat = sorted(latencies.get(p.name, []))
        c = counts.get(p.name, {})
        table.append({
            "neuro": p.name, "version": p.version[:8], "received": p.received,
            "handled": c.get("handled", 0), "error": c.get("error", 0), "dead": c.get("dead", 0),
            "restarts": p.restarts,
            "p50_ms": round(statistics.median(lat) * 1e3, 3) if lat else None,
            "p99_ms": round(lat[int(len(lat) * 0.99) - 1] * 1e3, 3) if len(lat) >= 100 else None,
        })
    tally: dict[str, int] = {}
    for e in events:
        tally[e.name] = tally.get(e.name, 0) + 1
    one = sum(1 for n in per_message.values() if n == 1)
    return Summary(log=str(log_path), steps=steps, neuros=table, events=tally, accepted=len(per_message),
                   with_one_outcome=one, ok=one == len(per_message))


def format_summary(s: Summary) -> str:
    cols = ["neuro", "version", "received", "handled", "error", "dead", "restarts", "p50_ms", "p99_ms"]
    rows = [cols] + [["-" if r[c] is None else str(r[c]) for c in cols] for r in s.neuros]
    widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
    lines = ["", "Summary (read back from the event log)", ""]
    for j, r in enumerate(rows):
        lines.append("  " + "  ".join(v.rjust(w) if j and i > 1 else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths))))
        if j == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    lines.append("")
    lines.append("  steps: " + "; ".join(f"{st.what.split(':')[0]} {st.seconds * 1e3:.0f} ms" for st in s.steps))
    lines.append("  events: " + ", ".join(f"{k} {v}" for k, v in sorted(s.events.items())))
    failed = [st.what for st in s.steps if st.result.startswith("FAILED")]
    verdict = "every one has exactly one outcome" if s.ok else "SOME DO NOT HAVE EXACTLY ONE OUTCOME"
    if failed:
        lines.append(f"  acts that failed: {', '.join(failed)}")
    lines.append(f"  messages accepted: {s.accepted}; {verdict}")
    lines.append(f"  log: {s.log}")
    return "\n".join(lines)


def main(log: str | None, echo_calls: int, as_json: bool, learn: bool = True) -> int:
    say = (lambda _: None) if as_json else (lambda line: print(line, flush=True))
    if log is None:
        folder = Path(tempfile.mkdtemp(prefix="neuro-demo-"))
        log_path = folder / "demo.db"
    else:
        log_path = Path(log)
    say("Neuro demo: an embedded kernel with the built-in neuros and a scripted session")
    summary = trio.run(run_session, log_path, echo_calls, say, learn)
    if as_json:
        sys.stdout.write(msgspec.json.encode(summary).decode() + "\n")
    else:
        print(format_summary(summary))
    failed = any(st.result.startswith("FAILED") for st in summary.steps)
    return 0 if summary.ok and not failed else 1
