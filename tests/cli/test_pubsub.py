"""`neuro publish TOPIC PAYLOAD` and `neuro subscribe TOPIC` through the real CLI: messages
print as they arrive (--jsonl one per line), --count ends it, Ctrl-C exits 130 quietly."""

from __future__ import annotations

import json
import os
import signal
import subprocess

from .conftest import NEURO, REPO, neuro_cmd, wait_until


def subscriber(home, *args):
    return subprocess.Popen([str(NEURO), "subscribe", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "NEURO_HOME": str(home)})


def publish(home, topic, *payload) -> int:
    done = neuro_cmd("publish", topic, *payload, "--json", home=home)
    assert 0 == done.returncode, done.stdout + done.stderr
    return json.loads(done.stdout)["reached"]


def until_subscribed(home, topic) -> None:
    """Publish a `probe` until the subscriber has it (then it is live); it counts as one event."""
    assert wait_until(lambda: publish(home, topic, "probe=1") == 1, 20, every=0.05)


def test_subscribe_prints_each_event_as_a_json_line_and_ends_after_count(daemon):
    """--jsonl --count 3: the probe, then two payloads in order, each a line; exit 0."""
    home = daemon.home
    sub = subscriber(home, "alerts", "--jsonl", "--count", "3")
    until_subscribed(home, "alerts")
    reached = [publish(home, "alerts", "level=3", "text=disk full"), publish(home, "alerts", '{"level": 4}')]
    out, err = sub.communicate(timeout=30)
    lines = [json.loads(line) for line in out.splitlines()]
    assert (0, "", [1, 1], [{"probe": 1}, {"level": 3, "text": "disk full"}, {"level": 4}], {"alerts"}) == (
        sub.returncode, err, reached, [line["payload"] for line in lines], {line["topic"] for line in lines})


def test_publish_with_nobody_listening_reaches_none(daemon):
    """Publishing on a topic nobody subscribes to is no error: it reached 0."""
    done = neuro_cmd("publish", "nobody.listens", "x=1", home=daemon.home)
    assert (0, "published on nobody.listens: reached 0 subscribers") == (done.returncode, done.stdout.strip())


def test_ctrl_c_ends_subscribe_with_130_and_no_traceback(daemon):
    """SIGINT (Ctrl-C) ends `neuro subscribe` quietly with exit 130."""
    home = daemon.home
    sub = subscriber(home, "ticks")
    until_subscribed(home, "ticks")
    sub.send_signal(signal.SIGINT)
    out, err = sub.communicate(timeout=30)
    assert (130, "", 1) == (sub.returncode, err, len(out.splitlines()))


def test_a_prefix_subscription_gets_every_topic_under_it(daemon):
    """`subscribe 'jobs.*'` gets events published on jobs.a and jobs.b, with their topics."""
    home = daemon.home
    sub = subscriber(home, "jobs.*", "--jsonl", "--count", "2")
    until_subscribed(home, "jobs.a")
    publish(home, "jobs.b", "n=2")
    out, _ = sub.communicate(timeout=30)
    assert ["jobs.a", "jobs.b"] == [json.loads(line)["topic"] for line in out.splitlines()]
