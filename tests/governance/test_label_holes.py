"""The holes a review found in the privacy labels (issue 31, docs/privacy.md), each shut: an
error's text carries labelled data as a reply does, the kernel's own sender names cannot be
taken by a neuro, untrusted overrides cannot loosen labels or energy, a swap keeps the taint it
runs under, and kernel events reach clients whoever their actor."""

from __future__ import annotations

from typing import Any

import pytest
import trio

import flow_neuros as f
import neuro
from flow_policies import POLICIES
from neuro import _control as c
from neuro.kernel._control_ops import Ops
from student_neuros import NetKeeper


def _root(error: BaseException) -> BaseException | Any:
    return error.cause if isinstance(error, neuro.RemoteError) else error


async def _events_seen(k: neuro.Kernel, out: dict[str, Any]) -> None:
    """What a client subscribed to kernel.events sees of a refusal whose actor is the vault, and
    of a labelled neuro's selfcheck."""
    async with k.subscribe("kernel.events", buffer=1000) as events:
        try:  # refused at the outsider (clearance): the event's actor is the labelled vault
            await k.call("vault", f.Do(op="pass", path=["outsider"], text="diary"))
        except neuro.NeuroError:
            pass
        await k.hook("diarist", "selfcheck")
        await trio.sleep(0)
        seen = []
        while True:
            try:
                _, _, event = events.receive_nowait()
            except trio.WouldBlock:
                break
            seen.append(event)
    out["seen"] = [(e.name, e.neuro, e.data.get("rule")) for e in seen]
    out["hook_results"] = [e.data.get("result") for e in seen if e.name == "hook.done"]


async def _errors(k: neuro.Kernel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    await _events_seen(k, out)
    try:  # the outsider asks the vault, which fails with its private text in the message
        await k.call("outsider", f.Do(op="pass", path=["vault"], then="raise", text="diary"))
    except neuro.NeuroError as e:
        out["outsider"] = (type(_root(e)).__name__, getattr(_root(e), "type", ""), str(e))
    out["outsider_labels"] = k.info("outsider").labels
    try:  # a control-socket client's call to the vault that fails
        await Ops(k)._call(c.Call(id=1, to="vault", payload={"op": "raise", "text": "diary"}))
    except neuro.NeuroError as e:
        out["socket"] = (type(e).__name__, str(e))
    await _swap_tainted(k, out)
    return out


async def _swap_tainted(k: neuro.Kernel, out: dict[str, Any]) -> None:
    """The keeper holds a private note; a version with the network is swapped in."""
    await k.call("vault", f.Do(op="pass", text="diary", path=["keeper"], then="keep"))
    before = k.info("keeper").version
    try:
        await k.swap("keeper", NetKeeper)
        out["swap"] = "swapped"
    except neuro.SwapFailed as e:
        out["swap"] = f"SwapFailed at {e.report.stage}"
    out["swap_serving"] = (k.info("keeper").version == before, (await k.call("keeper", f.Do(op="recall"))).text)


@pytest.fixture(scope="module")
def holes() -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        async with neuro.Kernel(policies=POLICIES) as k:
            for cls in (f.Vault, f.Outsider, f.Diarist, f.Keeper):
                await k.spawn(cls)
            return await _errors(k)

    return trio.run(main)


def test_an_error_from_a_labelled_neuro_reaches_an_uncleared_caller_only_as_a_refusal(holes):
    """The vault raises with its private text: the uncleared outsider gets FlowRefused, not the text."""
    kind, cause, text = holes["outsider"]
    assert ("FlowRefused", False, ()) == (cause.rsplit(".", 1)[-1], "secret" in text, holes["outsider_labels"])


def test_an_error_from_a_labelled_neuro_reaches_a_socket_client_only_through_egress_clients(holes):
    """Ops._call to the vault that raises: refused by egress.clients, and the text stays in."""
    kind, text = holes["socket"]
    assert ("FlowRefused", False) == (kind, "secret" in text)


@pytest.mark.parametrize("name", ["client", "kernel"])
def test_a_neuro_cannot_take_a_name_the_kernel_sends_as(name):
    """`client` and `kernel` are what the kernel's own sends are from: spawning a neuro so named is refused."""
    class Impostor(f.Agent):
        name = "impostor"

    async def main():
        async with neuro.Kernel() as k:
            with pytest.raises(neuro.ManifestError, match="reserved"):
                await k.spawn(Impostor, name=name)

    trio.run(main)


def test_kernel_events_reach_clients_whoever_their_actor(holes):
    """A refusal whose actor is the labelled vault reaches a subscribed client; no spurious egress refusal."""
    assert (("flow.refused", "outsider", "clearance") in holes["seen"],
            ("flow.refused", "vault", "egress.clients") in holes["seen"]) == (True, False)


def test_a_labelled_neuros_hook_result_is_redacted_for_subscribers(holes):
    """The diarist's selfcheck returns its private note: the hook.done event a client sees holds no trace of it."""
    assert 1 == len(holes["hook_results"]) and "secret" not in str(holes["hook_results"])


def test_a_swap_into_a_policy_the_taint_may_not_leave_by_is_refused(holes):
    """The tainted keeper's new version would have the network: refused at load, the old one serving."""
    assert ("SwapFailed at load", (True, "diary")) == (holes["swap"], holes["swap_serving"])
