"""Flow attempts: labelled data tries every route out, and each is refused and logged, while the
allowed routes still work. The labelled neuros run in the process sandbox (a policy that uses
labels refuses the in-process backend). Sandboxes take a while to start, so one kernel runs
every attempt in turn (each on neuros of its own where taint would carry over) and each test
checks one attempt's outcome and the `flow.*` events it left in the log."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
import trio

import flow_neuros as f
import neuro
from flow_attempts import got_through, run_all
from flow_policies import POLICIES


@pytest.fixture(scope="module")
def flows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return trio.run(run_all, tmp_path_factory.mktemp("flows") / "run.db")


def refused(neuro_name: str, rule: str) -> tuple[str, str, str, str]:
    return ("flow.refused", neuro_name, "private", rule)


def test_private_data_passed_along_a_chain_never_reaches_a_neuro_with_network(flows):
    """vault -> relay -> relay2 -> uploader: the last hop is refused by egress.network, and logged."""
    assert "FlowRefused" == flows["chain"]
    assert refused("uploader", "egress.network") in flows["events"]
    assert 0 == flows["received"]["uploader"]


def test_a_neuro_whose_egress_allows_the_label_receives_it_along_the_chain(flows):
    """vault -> relay -> courier (network; egress.network allows private): the call goes through."""
    assert "reply: diary" == flows["chain_allowed"]


def test_an_uncleared_neuro_is_never_given_labelled_data(flows):
    """vault -> outsider: refused by clearance; the outsider receives nothing labelled in the whole run."""
    assert "FlowRefused" == flows["uncleared"]
    assert refused("outsider", "clearance") in flows["events"]


def test_a_label_cannot_be_laundered_through_a_neurons_state(flows):
    """keeper keeps a private note; an unlabelled request makes it send on: still private, refused."""
    assert "FlowRefused" == flows["state"]


def test_a_label_cannot_be_laundered_through_a_publish(flows):
    """vault publishes a private note: the cleared listener hears it, the uncleared subscriber does not."""
    assert {"listener": "diary", "outsider": ""} == flows["publish"]


def test_a_label_cannot_be_laundered_through_a_kept_artifact(flows):
    """vault keeps a private note as an artifact; the uncleared neuro that reads it back by hash is refused."""
    assert "FlowRefused" == flows["artifact"]


def test_a_label_cannot_be_laundered_through_a_nets_memo(flows):
    """A net whose node is the vault: its in-process host is not cleared, so both runs are refused and
    its memo keeps nothing labelled."""
    # The net host reports a node's failure as its own Reject; the log says why.
    assert ([False, False], 0) == ([m.startswith("reply") for m in flows["memo"]], flows["memo_entries"])
    assert 2 == flows["events"].count(refused("diary", "clearance"))


def test_a_student_trained_on_labelled_traces_carries_the_labels(flows):
    """A version whose lineage says it learnt from private traces, swapped into a clean neuro, taints it."""
    assert ((), ("private",), "FlowRefused") == (flows["student_before"], flows["student_after"], flows["student"])


def test_declassify_without_the_right_is_refused_and_logged(flows):
    """pretender is cleared for private data but not granted its declassification: refused, still tainted."""
    assert ("FlowRefused", ("private",)) == (flows["declassify_denied"], flows["pretender"])
    assert refused("pretender", "declassify") in flows["events"]


def test_declassify_with_the_right_is_logged_and_lets_the_data_go(flows):
    """scrubber declassifies what it was given (its policy grants it): then it may send on to anyone."""
    assert ("reply: ok", ()) == (flows["declassified"], flows["scrubber"])
    assert ("flow.declassified", "scrubber", "private", None) in flows["events"]


def test_a_labelled_reply_reaches_a_socket_client_only_through_egress_clients(flows):
    """A control-socket client's call to the vault is refused (egress.clients); the embedded caller gets it."""
    assert ("reply: diary", "FlowRefused egress.clients") == (flows["embedded"], flows["socket"])
    assert refused("vault", "egress.clients") in flows["events"]


def test_a_reload_cannot_give_a_way_out_to_a_neuro_holding_labelled_data(flows):
    """holder keeps a private note; its policy file is rewritten to grant the network: the reload is
    refused for it (a policy.invalid event) and it keeps the policy it had."""
    assert "refused" == flows["reload"]


def test_every_refused_attempt_is_one_event_and_none_got_through(flows):
    """No attempt got through, and the log holds one flow.refused per refusal: the seven refused
    attempts, the memo net's two runs and the publish that skipped the outsider."""
    refusals = [e for e in flows["events"] if e[0] == "flow.refused"]
    assert ([], 7 + 2 + 1) == (got_through(flows), len(refusals))


def test_a_policy_that_uses_labels_refuses_the_in_process_backend():
    """Labels hold only in a sandbox: a labelled policy that lets a neuro run in-process is refused at spawn."""
    loose = {"loose": msgspec.structs.replace(POLICIES["relay"], name="loose", sandbox="inproc",
                                              sandboxes=("inproc", "process"))}

    class Inside(f.Agent):
        name = "inside"
        policy = "loose"

    async def main():
        async with neuro.Kernel(policies=loose) as k:
            with pytest.raises(neuro.PolicyError, match="relies on privacy labels"):
                await k.spawn(Inside)

    trio.run(main)
