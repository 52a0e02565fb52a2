"""A self-improving agent: it proposes new versions of a neuro and keeps only the better ones.

The neuro is `primes` (how many primes are below n). The agent searches over code templates
(trial division, trial division up to the square root, a sieve, and a wrong "improvement"),
writes each candidate as a neuro file, and hot-swaps it in with the replay gate: the new
version first answers the last logged calls in a shadow instance and goes live only if it
agrees. A candidate that goes live is timed; one that is not faster than the best so far is
rolled back. Every step is a message to `journal` (so `neuro logs --neuro journal` shows the
search), and every swap, refusal and rollback is an event in the log.

    neuro run examples/self_improving.py             # against the daemon
    python examples/self_improving.py --embedded --json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trio

import neuro
from neuro.client import connect

HEADER = '''"""`primes`: how many primes are below n. Version: {method}."""
from neuro import sdk


class Below(sdk.Message):
    n: int


class Count(sdk.Message):
    primes: int


class Primes(sdk.Neuro):
    name = "primes"
    input = Below
    output = Count

    def handle(self, ctx, msg):
        return Count(primes=count(msg.n))

'''

TEMPLATES = {
    "trial": '''
def count(n):
    return sum(1 for k in range(2, n) if all(k % d for d in range(2, k)))
''',
    "trial_sqrt": '''
def count(n):
    return sum(1 for k in range(2, n) if all(k % d for d in range(2, int(k ** 0.5) + 1)))
''',
    "off_by_one": '''
def count(n):  # "faster", and wrong: it counts 1 as a prime
    return sum(1 for k in range(1, n) if all(k % d for d in range(2, int(k ** 0.5) + 1)))
''',
    "sieve": '''
def count(n):
    if n < 3:
        return 0
    sieve = bytearray([1]) * n
    sieve[0:2] = b"\\x00\\x00"
    for k in range(2, int(n ** 0.5) + 1):
        if sieve[k]:
            sieve[k * k::k] = bytes(len(range(k * k, n, k)))
    return sum(sieve)
''',
}

JOURNAL = '''"""`journal`: records the agent's steps, so they are messages in the log."""
from neuro import sdk


class Note(sdk.Message):
    step: str
    detail: dict = {}


class Journal(sdk.Neuro):
    name = "journal"
    input = Note

    async def handle(self, ctx, msg):
        return None
'''


def write(folder: Path, method: str) -> str:
    path = folder / "primes.py"
    tmp = folder / ".primes.py.tmp"
    tmp.write_text(HEADER.format(method=method) + TEMPLATES[method])
    os.replace(tmp, path)
    return str(path)


async def measure(client, n: int, repeats: int) -> float:
    """Median seconds per call over `repeats` calls."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        await client.call("primes", {"n": n}, timeout=60.0)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


async def main(n: int, repeats: int, replay: int, folder: Path, say) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "journal.py").write_text(JOURNAL)
    async with connect() as client:
        async def note(step: str, **detail) -> None:
            await client.send("journal", {"step": step, "detail": detail})
            say(f"  {step}: {json.dumps(detail)}")

        for name in ("primes", "journal"):
            if name in {p.name for p in await client.ps()}:
                await client.stop(name)
        await client.spawn(str(folder / "journal.py"))
        await client.spawn(write(folder, "trial"))
        for k in range(2, 2 + replay):  # the logged calls the replay gate checks candidates against
            await client.call("primes", {"n": k * 7}, timeout=60.0)
        best_method, best_time = "trial", await measure(client, n, repeats)
        best_version = (await client.info("primes")).version
        await note("baseline", method="trial", seconds=best_time, version=best_version)
        outcomes = {}
        for method in ("trial_sqrt", "off_by_one", "sieve"):
            await note("propose", method=method)
            try:
                report = await client.swap("primes", write(folder, method), replay=replay)
            except neuro.SwapFailed as e:
                outcomes[method] = "refused by the replay gate"
                await note("refused", method=method, stage=e.report.stage,
                           error=e.report.error.message if e.report.error else "")
                continue
            seconds = await measure(client, n, repeats)
            if seconds < best_time:
                outcomes[method] = f"kept: {best_time / seconds:.1f}x faster"
                await note("kept", method=method, seconds=seconds, speedup=best_time / seconds,
                           version=report.new_version)
                best_method, best_time, best_version = method, seconds, report.new_version
            else:
                outcomes[method] = "rolled back: not faster"
                await client.rollback("primes", best_version)
                await note("rolled_back", method=method, seconds=seconds, to=best_version)
        live = (await client.info("primes")).version
        reply = await client.call("primes", {"n": 100})
        # A type from a dropped file comes back as plain data over the socket (the client
        # cannot import it); embedded, it is the neuro's own Struct.
        answer = reply["primes"] if isinstance(reply, dict) else reply.primes
        await note("done", best=best_method, version=live)
        steps = [m.payload["step"] for m in await client.messages(neuro="journal", limit=None)]
        swaps = [e.name for e in await client.events(name="swap.*", neuro="primes", limit=None)]
    ok = live == best_version and answer == 25 and outcomes.get("off_by_one") == "refused by the replay gate"
    return {"ok": ok, "best": best_method, "version": live, "seconds_per_call": best_time, "outcomes": outcomes,
            "journal": steps, "swap_events": swaps, "primes_below_100": answer}


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Propose new versions of a neuro; keep the better ones.")
    parser.add_argument("--n", type=int, default=3000, help="the workload: primes below N")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--replay", type=int, default=8, help="logged calls each candidate must agree with")
    parser.add_argument("--dir", help="where candidates are written (default: a new temporary folder)")
    parser.add_argument("--embedded", action="store_true", help="an embedded kernel (default: the daemon)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.embedded:
        os.environ["NEURO_SESSION"] = "embedded"
    folder = Path(args.dir or tempfile.mkdtemp(prefix="neuro-improve-"))
    say = (lambda _: None) if args.json else print
    result = trio.run(main, args.n, args.repeats, args.replay, folder, say)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"best: {result['best']} ({result['seconds_per_call'] * 1e3:.2f} ms per call); "
              f"{'ok' if result['ok'] else 'NOT ok'}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(cli())
