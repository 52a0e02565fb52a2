"""Where labels must fail closed (issue 31, docs/privacy.md): a stored label that cannot be read
never lets its data go unlabelled; data given to a neuro while a swap is checking its new
version counts against that version's policy; and a labelled message that waited in a mailbox
while a reload gave its neuro a way out is checked again before it is delivered."""

from __future__ import annotations

import sqlite3

import trio

import flow_neuros as f
import label_neuros as ln
import neuro
from flow_attempts import HOLDER, _cause
from flow_policies import POLICIES, PRIVATE, _policy
from neuro.kernel._governance import LabelRules
from neuro.kernel._artifacts import UNREADABLE_LABELS, _decode_labels
from neuro.kernel._logschema import open_database
from neuro.kernel._recovery import recover
from neuro.testing import Echo, Ping, Slow


def _durable_row(path, labels: str) -> None:
    conn = open_database(str(path))
    conn.execute("INSERT INTO messages (id, time, sender, recipient, kind, correlation, payload, durable, labels) "
                 "VALUES (7, 0, 'vault', 'echo', 'send', 7, x'80', 1, ?)", (labels,))
    conn.commit()
    conn.close()


def test_a_durable_message_whose_labels_cannot_be_read_is_dead_lettered_not_redelivered(tmp_path):
    for i, junk in enumerate(["not json", "[1, 2]", '"private"', "null"]):
        path = tmp_path / f"run{i}.db"
        _durable_row(path, junk)
        conn = sqlite3.connect(path)
        dead, durable = recover(conn)
        assert (dead, durable) == (1, {}), junk
        outcome, reason = conn.execute("SELECT outcome, reason FROM outcomes WHERE id = 7").fetchone()
        assert outcome == "dead" and "privacy labels are unreadable" in reason, (junk, reason)
        conn.close()

        async def main():
            async with neuro.Kernel(log=str(path)) as k:  # the log still opens
                await k.spawn(Echo)

        trio.run(main)


def test_an_artifact_label_row_that_cannot_be_read_fails_closed():
    assert _decode_labels('["private"]') == frozenset({"private"})
    for junk in ("not json", '"private"', "[1]", "null"):
        assert _decode_labels(junk) == UNREADABLE_LABELS, junk


def test_an_unreadable_artifact_label_keeps_its_bytes_from_an_uncleared_neuro(tmp_path):
    path = str(tmp_path / "run.db")

    async def main():
        async with neuro.Kernel(log=path, policies=POLICIES) as k:
            await k.spawn(f.Keeper)
            await k.spawn(f.Outsider)
            digest = (await k.call("keeper", f.Do(op="stash", text="diary"))).text  # unlabelled: no row
            assert (await k.call("outsider", f.Do(op="unstash", text=digest))).text == "diary"
            return digest

    digest = trio.run(main)
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO artifact_labels (hash, labels) VALUES (?, 'not json')", (digest,))
    conn.commit()
    conn.close()

    async def again():
        async with neuro.Kernel(log=path, policies=POLICIES) as k:
            await k.spawn(f.Outsider)
            try:
                await k.call("outsider", f.Do(op="unstash", text=digest))
            except neuro.NeuroError as e:
                return e
            return None

    refused = trio.run(again)
    assert refused is not None and _cause(refused) == "FlowRefused" and "'!unreadable-labels'" in str(refused), refused


def test_data_given_while_a_swap_checks_the_new_version_keeps_the_swap_from_going_live():
    async def main():
        async with neuro.Kernel(policies=POLICIES) as k:
            await k.spawn(f.Vault)
            await k.spawn(f.Holder)

            async def give_private_data():
                await trio.sleep(0.2)  # the new version's selfcheck runs for 3 s
                await k.call("vault", f.Do(op="pass", text="diary", path=["holder"], then="keep"))

            async with trio.open_nursery() as n:
                n.start_soon(give_private_data)
                try:
                    await k.swap("holder", ln.NetHolder)
                    failure = None
                except neuro.SwapFailed as e:
                    failure = e
            proc = k._router.procs["holder"]
            return failure, proc.policy.name, proc.labels, (await k.call("holder", f.Do(op="recall"))).text

    failure, policy, labels, note = trio.run(main)
    assert failure is not None and "private" in str(failure) and "drain" in str(failure), failure
    assert policy == "relay" and "private" in labels and note == "diary"


def test_a_labelled_message_queued_before_a_reload_that_gives_a_way_out_is_refused(tmp_path):
    (tmp_path / "holder.toml").write_text(HOLDER)

    async def main():
        async with neuro.Kernel(log=str(tmp_path / "run.db"), policies=POLICIES, policy_dirs=[str(tmp_path)]) as k:
            await k.spawn(f.Vault)
            await k.spawn(Slow, name="holder", policy="holder")
            await k.send("holder", Ping(n=3000))  # busy 3 s: what comes next waits in its mailbox
            router, got = k._router, []

            async def labelled():
                try:
                    await router.call("vault", "holder", Ping(n=1), None, source=router.procs["vault"])
                    got.append("delivered")
                except neuro.NeuroError as e:
                    got.append(e)

            async with trio.open_nursery() as n:
                n.start_soon(labelled)
                with trio.fail_after(10):
                    while k.info("holder").mailbox < 1:
                        await trio.sleep(0.01)
                # Nothing labelled has reached it yet, so the reload is not refused for it.
                (tmp_path / "holder.toml").write_text(HOLDER + "[capabilities]\nnetwork = true\n")
                await k.reload_policies()
                assert k._router.procs["holder"].policy.capabilities.network
            refusals = [e.data["rule"] for e in await k.log.events(name="flow.refused", limit=None)]
            return got, k.info("holder").labels, refusals

    got, labels, refusals = trio.run(main)
    assert isinstance(got[0], neuro.DeadLetter) and "labels.egress.network" in str(got[0]), got
    assert labels == () and refusals == ["egress.network"]


def test_a_labelled_call_waiting_for_its_rate_token_meets_the_policy_it_is_delivered_under(tmp_path):
    """Admitted, then waiting for the callee's rate token while its policy loses the clearance
    (what a reload leaves): it is checked again as it is delivered, whichever task sends it."""
    policies = {**POLICIES, "metered": _policy("metered", labels=PRIVATE, rate=1.0, burst=1, on_rate="delay")}
    tight = _policy("metered", labels=LabelRules(), rate=1.0, burst=1, on_rate="delay")

    async def main():
        async with neuro.Kernel(log=str(tmp_path / "run.db"), policies=policies) as k:
            await k.spawn(f.Vault)
            await k.spawn(f.Keeper, policy="metered")
            proc = k._router.procs["keeper"]
            await k.call("keeper", f.Do(op="echo", text="warm"))  # takes the one token: the next call waits

            async def tighten():
                await trio.sleep(0.3)
                proc.policy = tight

            got = None
            async with trio.open_nursery() as n:
                n.start_soon(tighten)
                try:
                    await k.call("vault", f.Do(op="pass", text="diary", path=["keeper"], then="keep"))
                except neuro.NeuroError as e:
                    got = e
            refusals = await k.log.events(name="flow.refused", limit=None)
            return got, proc.labels, (await k.call("keeper", f.Do(op="recall"))).text, len(refusals)

    got, labels, note, refusals = trio.run(main)
    assert got is not None and _cause(got) == "DeadLetter" and "labels.clearance" in str(got), got
    assert (frozenset(), "", 1) == (labels, note, refusals)
