"""A scripted session: several neuros work toward one goal, and the script checks it was met.

The goal: index a small corpus. `wordcount` counts each text's words and records every word
in `counter`; `flaky` checks each text and crashes on some (its supervisor restarts it, and
the script retries). The goal is met when counter's totals equal a count made here, and
every crash was followed by a restart seen on ``kernel.events``.

    neuro run examples/orchestrate.py              # against the daemon
    neuro run examples/orchestrate.py --embedded   # an embedded kernel
    python examples/orchestrate.py --embedded --texts 50 --json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter

import trio

import neuro
from neuro.client import connect

WORDS = "kernel neuro message supervisor mailbox log swap replay dream policy sandbox trace".split()


def corpus(n: int) -> list[str]:
    return [" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(5 + i % 7)) for i in range(n)]


def crashes(i: int, every: int) -> bool:
    """Two crashes at most: the root supervisor allows 3 restarts in 5 s before it gives up."""
    return i % every == 0 and i // every < 2


async def ensure(client, spec: str, name: str) -> None:
    try:
        await client.spawn(spec)
    except neuro.AlreadyRunning:
        pass  # a daemon that ran this before: reuse it
    assert name in {p.name for p in await client.ps()}


async def main(texts: int, crash_every: int, say) -> dict:
    docs = corpus(texts)
    expected = Counter(w for d in docs for w in re.findall(r"[a-z']+", d))
    async with connect() as client:
        for spec, name in (("neuro.neuros.counter:Counter", "counter"), ("neuro.neuros.wordcount:WordCount", "wordcount"),
                           ("neuro.neuros.flaky:Flaky", "flaky")):
            await ensure(client, spec, name)
        before = {w: (await client.call("counter", {"type": "get", "key": w})).total for w in expected}
        restarts: list[str] = []
        retries = 0

        async with client.subscribe("kernel.events") as events, trio.open_nursery() as nursery:
            async def watch() -> None:
                async for _, _, event in events:
                    if event.name == "neuro.restarted" and event.neuro == "flaky":
                        restarts.append(event.neuro)

            nursery.start_soon(watch)
            limit = trio.CapacityLimiter(4)
            first_id: list[int] = []

            async def index(i: int, text: str) -> None:
                nonlocal retries
                async with limit:
                    for attempt in range(3):  # flaky crashes on request; its supervisor restarts it
                        try:
                            await client.call("flaky", {"n": i, "crash": attempt == 0 and crashes(i, crash_every)})
                            break
                        except neuro.RemoteError:
                            retries += 1
                    reply = await client.call("wordcount", {"text": text}, timeout=30.0)
                    assert reply.words == len(text.split())

            async with trio.open_nursery() as workers:
                for i, text in enumerate(docs):
                    workers.start_soon(index, i, text)
            with trio.move_on_after(5):  # the restarts' events arrive after the calls' errors
                while len(restarts) < retries:
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()

        after = {w: (await client.call("counter", {"type": "get", "key": w})).total for w in expected}
        counted = {w: after[w] - before[w] for w in expected}
        calls = await client.messages(neuro="wordcount", kind="call", limit=1, newest_first=True)
        trace = await client.trace(calls[0].id) if calls else None
    ok = counted == dict(expected) and len(restarts) >= retries
    summary = {"goal": "index the corpus", "ok": ok, "texts": texts, "words": sum(expected.values()),
               "distinct": len(expected), "crashes_retried": retries, "restarts_seen": len(restarts),
               "trace_fanout": len(trace.children) if trace else 0}
    say(f"indexed {texts} texts: {summary['words']} words, {summary['distinct']} distinct; "
        f"{retries} crashes retried, {len(restarts)} restarts seen; goal {'met' if ok else 'NOT met'}")
    return summary


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Orchestrate several neuros toward a goal.")
    parser.add_argument("--texts", type=int, default=20)
    parser.add_argument("--crash-every", type=int, default=5)
    parser.add_argument("--embedded", action="store_true", help="an embedded kernel (default: the daemon)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.embedded:
        import os

        os.environ["NEURO_SESSION"] = "embedded"
    say = (lambda _: None) if args.json else print
    summary = trio.run(main, args.texts, args.crash_every, say)
    if args.json:
        print(json.dumps(summary))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(cli())
