"""`neuro publish|subscribe`: events on topics; and the progress bar `neuro call` draws from
the callee's `progress.<name>` events (what `ctx.progress` publishes)."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from ._cliutil import Session
from ._output import output_of, print_value, when


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from .cli import add, positive_int

    publish = add(sub, "publish", common, help="publish an event on a topic; prints how many subscribers it reached",
                  description="Publish an event on TOPIC to every subscriber (neuros that subscribe to it in their "
                              "manifest, and clients such as `neuro subscribe`). The payload is one JSON document, "
                              "key=value pairs (a value is JSON when it is JSON, else a string: a topic has no "
                              "schema), - for stdin or @FILE. Nobody listening is not an error: it reached 0.",
                  example="neuro publish alerts level=high text='disk full'", run=_publish)
    publish.add_argument("topic", metavar="TOPIC")
    publish.add_argument("payload", nargs="*", metavar="PAYLOAD", help="JSON, key=value pairs, - (stdin) or @FILE")

    subscribe = add(sub, "subscribe", common, help="print each event published on a topic as it arrives",
                    description="Print each event published on TOPIC (a name, or a prefix ending in `*`; "
                                "`kernel.events` for the kernel's lifecycle events, `progress.NAME` for a neuro's "
                                "progress) as it arrives: time, topic, sender and payload, or with --jsonl (and "
                                "--json) one JSON object per line. Ctrl-C ends it (exit 130, quietly); --count N "
                                "ends it after N events.",
                    example="neuro subscribe 'progress.*' --jsonl --count 10", run=_subscribe)
    subscribe.add_argument("topic", metavar="TOPIC")
    subscribe.add_argument("--count", type=positive_int, metavar="N", help="exit after N events")


def _publish(args: argparse.Namespace) -> int:
    from ._payload import parse_payload

    payload = parse_payload(args.payload)
    with Session(args) as s:
        reached = s.publish(args.topic, payload)
    if output_of(args) in ("json", "jsonl"):
        print_value({"topic": args.topic, "reached": reached}, args)
    elif output_of(args) == "quiet":
        print(reached)
    else:
        print(f"published on {args.topic}: reached {reached} subscriber{'' if reached == 1 else 's'}")
    return 0


def _subscribe(args: argparse.Namespace) -> int:
    import json
    import time

    output = output_of(args)
    seen = 0
    try:
        with Session(args) as s:
            events = s.stream("subscribe", args.topic)
            if sys.stderr.isatty() and output == "table":
                print(f"listening on {args.topic} (Ctrl-C to stop)", file=sys.stderr, flush=True)
            for topic, sender, payload in events:
                now = time.time()
                if output in ("json", "jsonl"):
                    print(json.dumps({"time": now, "topic": topic, "sender": sender, "payload": payload},
                                     default=str), flush=True)
                elif output == "quiet":
                    print(json.dumps(payload, default=str), flush=True)
                else:
                    print(f"{when(now)}  {topic}  {sender}  {json.dumps(payload, default=str)}", flush=True)
                seen += 1
                if args.count is not None and seen >= args.count:
                    break
    except KeyboardInterrupt:
        return 130
    return 0


# -- `neuro call`'s progress bar -------------------------------------------------------------

def call_with_progress(args: argparse.Namespace, to: str, payload: Any, *, timeout: float | None,
                       durable: bool) -> Any:
    """Call `to` while drawing its `progress.<to>` events as a bar on stderr (a terminal);
    the bar is erased when the reply comes. Returns the reply as plain data."""
    import trio

    import neuro

    bar = ProgressBar(sys.stderr)

    async def main() -> Any:
        async with neuro.connect(home=args.home, raw=True, client="neuro-cli") as client:
            async with client.subscribe(f"progress.{to}") as events:  # live before the call is sent
                async with trio.open_nursery() as nursery:
                    async def show() -> None:
                        async for _topic, _sender, event in events:
                            bar.update(event)

                    nursery.start_soon(show)
                    try:
                        return await client.call(to, payload, timeout=timeout, durable=durable)
                    finally:
                        nursery.cancel_scope.cancel()

    try:
        return trio.run(main)
    except BaseExceptionGroup as group:  # the nursery wraps the call's error: give it back as it was
        raise _single(group) from None
    finally:
        bar.clear()


def _single(group: BaseExceptionGroup) -> BaseException:
    import trio

    errors = [e for e in group.exceptions if not isinstance(e, trio.Cancelled)]
    if len(errors) == 1:
        inner = errors[0]
        return _single(inner) if isinstance(inner, BaseExceptionGroup) else inner
    return group


class ProgressBar:
    """One line on `stream`, redrawn in place: ``job [#####-----] 5/10 50% note``."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.drawn = False

    def update(self, event: Any) -> None:
        if not isinstance(event, dict):
            return
        try:
            done, total = float(event.get("done", 0)), float(event.get("total", 0))
        except (TypeError, ValueError):
            return
        self.stream.write("\r\x1b[K" + self.line(str(event.get("job", "")), done, total, str(event.get("note", ""))))
        self.stream.flush()
        self.drawn = True

    def line(self, job: str, done: float, total: float, note: str) -> str:
        import os

        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            columns = 0
        if columns <= 0:  # a terminal that reports no size (a bare pty): $COLUMNS, else 80
            env = os.environ.get("COLUMNS", "")
            columns = int(env) if env.isdigit() and int(env) > 0 else 80
        share = min(max(done / total, 0.0), 1.0) if total > 0 else 0.0
        width = 30
        filled = round(share * width)
        count = f"{done:g}/{total:g}" if total > 0 else f"{done:g}"
        text = f"{job} [{'#' * filled}{'-' * (width - filled)}] {count} {share * 100:3.0f}%"
        if note:
            text += f" {note}"
        return text[:max(columns - 1, 10)]

    def clear(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = False
