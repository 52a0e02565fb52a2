"""Labels that outlive the kernel, and the worker's view of them (issue 31, docs/privacy.md): a
durable message redelivered after a crash carries its labels and is checked again; an artifact a
tainted neuro stored is still labelled after a restart; the log's schema change keeps an old log;
and `ctx.labels` inside the sandbox is the process's taint."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import trio

import flow_neuros as f
import label_neuros as ln
import neuro
from flow_attempts import _cause
from flow_policies import POLICIES

HERE = Path(__file__).parent

# The kernel in a child process, so that it can be killed: `load` leaves one labelled durable
# message queued for each of two neuros (behind a minute-long one) and waits to be killed;
# `again` spawns them again, `leaky` now under a policy with the network, and prints their taint.
SCRIPT = textwrap.dedent("""
    import json, sys, trio, neuro
    sys.path.insert(0, sys.argv[3])
    from flow_neuros import Vault
    from flow_policies import POLICIES
    from neuro.testing import Slow, Ping

    async def main(path, mode):
        async with neuro.Kernel(log=path, policies=POLICIES) as k:
            if mode == "load":
                await k.spawn(Vault)
                router = k._router
                for name in ("cleared", "leaky"):
                    await k.spawn(Slow, name=name, policy="relay")
                    await k.send(name, Ping(n=60000))  # its one runner is busy for a minute
                    # A durable send with the vault's taint (a client's carries none).
                    await router.send("vault", name, Ping(n=1), None, durable=True, source=router.procs["vault"])
                print("sent", flush=True)
                await trio.sleep(60)
            else:
                await k.spawn(Slow, name="cleared", policy="relay")
                await k.spawn(Slow, name="leaky", policy="uploader")
                with trio.fail_after(20):
                    while k.info("cleared").handled < 1:
                        await trio.sleep(0.01)
                print(json.dumps({n: k.info(n).labels for n in ("cleared", "leaky")}), flush=True)

    trio.run(main, sys.argv[1], sys.argv[2])
""")


def _sql(path: Path, query: str, *params: Any) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def redelivered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A kernel killed with labelled durable messages queued, then started again."""
    folder = tmp_path_factory.mktemp("durable")
    path, script = folder / "crash.db", folder / "kernel.py"
    script.write_text(SCRIPT)
    child = subprocess.Popen([sys.executable, str(script), str(path), "load", str(HERE)], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert "sent" == child.stdout.readline().strip()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    stored = _sql(path, "SELECT recipient, labels FROM messages WHERE durable = 1 ORDER BY recipient")
    again = subprocess.run([sys.executable, str(script), str(path), "again", str(HERE)], capture_output=True,
                           text=True, timeout=120, check=True)
    reader = neuro.LogReader(path)
    outcomes = {m.recipient: (m.outcome, m.reason) for m in reader.messages(limit=None) if m.sender == "vault"}
    events = [(e.name, e.neuro, e.data.get("label"), e.data.get("rule")) for e in reader.events(limit=None)
              if e.name == "flow.refused"]
    return {"stored": stored, "taint": json.loads(again.stdout.strip().splitlines()[-1]), "outcomes": outcomes,
            "events": events}


def test_a_durable_message_is_logged_with_its_labels(redelivered):
    """The durable row keeps the labels its envelope carried."""
    assert [("cleared", '["private"]'), ("leaky", '["private"]')] == redelivered["stored"]


def test_a_durable_message_redelivered_after_a_crash_taints_its_receiver(redelivered):
    """Redelivered to a neuro cleared for it: handled, and the receiver holds the label, as on first delivery."""
    assert (("handled", None), ["private"]) == (redelivered["outcomes"]["cleared"], redelivered["taint"]["cleared"])


def test_a_redelivered_durable_message_is_checked_against_the_policy_the_neuro_has_now(redelivered):
    """Its neuro came back with the network, which private data may not leave by: dead-lettered,
    naming the label and the rule, a flow.refused event, and the neuro stays clean."""
    outcome, reason = redelivered["outcomes"]["leaky"]
    assert ("dead", True, []) == (outcome, "'private'" in (reason or "") and "`labels.egress.network`" in reason,
                                  redelivered["taint"]["leaky"])
    assert ("flow.refused", "leaky", "private", "egress.network") in redelivered["events"]


def test_an_artifact_a_tainted_neuro_stored_is_still_labelled_after_a_restart(tmp_path):
    """The vault keeps a note as an artifact; in the next kernel on the same log, the uncleared
    neuro reading it is refused, and a cleared one is tainted by it."""
    path = tmp_path / "run.db"

    async def first() -> str:
        async with neuro.Kernel(log=path, policies=POLICIES) as k:
            await k.spawn(f.Vault)
            return (await k.call("vault", f.Do(op="stash", text="diary"))).text

    async def second(digest: str) -> tuple:
        async with neuro.Kernel(log=path, policies=POLICIES) as k:
            await k.spawn(f.Outsider)
            await k.spawn(f.Keeper)
            try:
                outsider = (await k.call("outsider", f.Do(op="unstash", text=digest))).text
            except neuro.NeuroError as e:
                outsider = _cause(e)
            kept = (await k.call("keeper", f.Do(op="unstash", text=digest))).text
            return outsider, k.info("outsider").labels, kept, k.info("keeper").labels

    digest = trio.run(first)
    assert [(digest, '["private"]')] == _sql(path, "SELECT hash, labels FROM artifact_labels")
    assert ("FlowRefused", (), "diary", ("private",)) == trio.run(second, digest)


def test_a_log_from_before_labels_were_kept_is_upgraded_in_place(tmp_path):
    """A schema-3 log gains the labels column (NULL for its rows) and the artifact_labels table."""
    path = tmp_path / "old.db"
    shutil.copyfile(HERE.parent / "kernel" / "data" / "log_schema3.db", path)
    count = _sql(path, "SELECT COUNT(*) FROM messages")[0][0]

    async def main():
        async with neuro.Kernel(log=path):
            pass

    trio.run(main)
    assert "labels" == _sql(path, "SELECT name FROM pragma_table_info('messages') ORDER BY cid DESC LIMIT 1")[0][0]
    assert [(count, 0)] == _sql(path, "SELECT COUNT(*), COUNT(labels) FROM messages")
    assert [(0,)] == _sql(path, "SELECT COUNT(*) FROM artifact_labels")


@pytest.fixture(scope="module")
def told() -> dict[str, Any]:
    """What ctx.labels said inside the sandbox, and the kernel's taint of each teller."""
    async def main() -> dict[str, Any]:
        async with neuro.Kernel(policies=POLICIES) as k:
            await k.spawn(ln.Source)
            for name, policy in (("given", "relay"), ("asker", "relay"), ("scrubbed", "scrubber")):
                await k.spawn(ln.Teller, name=name, policy=policy)
            out = {
                "clean": await k.call("given", ln.Ask()),
                "given": await k.call("source", ln.Ask(op="pass", to="given")),  # a labelled message (Call)
                "asker": await k.call("asker", ln.Ask(op="ask", to="source")),  # a labelled reply (CtxResult)
                "source": await k.call("source", ln.Ask()),  # its own policy's label
            }
            await k.call("source", ln.Ask(op="pass", to="scrubbed"))
            out["scrubbed"] = await k.call("scrubbed", ln.Ask(op="declassify"))
            out["kernel"] = {n: list(k.info(n).labels) for n in ("given", "asker", "scrubbed", "source")}
            return out

    return trio.run(main)


def test_ctx_labels_in_the_sandbox_is_empty_for_a_neuro_given_nothing_labelled(told):
    assert ln.Told(before=[], after=[]) == told["clean"]


def test_ctx_labels_in_the_sandbox_holds_the_label_of_the_message_being_handled(told):
    """A labelled message arrives: the handler sees its label from its first line, as the kernel does."""
    assert (ln.Told(before=["private"], after=["private"]), ["private"]) == (told["given"], told["kernel"]["given"])


def test_ctx_labels_in_the_sandbox_gains_the_label_of_a_reply_at_once(told):
    """A call inside the handler gets a labelled reply: ctx.labels has the label when the call returns."""
    assert (ln.Told(before=[], after=["private"]), ["private"]) == (told["asker"], told["kernel"]["asker"])


def test_ctx_labels_in_the_sandbox_holds_its_own_policys_labels(told):
    assert ln.Told(before=["private"], after=["private"]) == told["source"]


def test_ctx_labels_in_the_sandbox_loses_a_declassified_label(told):
    assert (ln.Told(before=["private"], after=[]), []) == (told["scrubbed"], told["kernel"]["scrubbed"])
