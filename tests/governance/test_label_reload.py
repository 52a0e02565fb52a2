"""A policy reload cannot give a neuro that holds labelled data a way out its egress does not let
the labels through (docs/privacy.md, "What is refused"); the suite's flow attempt is in
flow_attempts.py, these pin the error and what is not refused."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
import trio

import flow_neuros as f
import neuro
from flow_attempts import HOLDER
from flow_policies import POLICIES
from neuro.kernel._governance import Egress, LabelRules
from neuro.kernel._labels import check_reload
from neuro.kernel._policy import Capabilities

NETWORK = HOLDER + "[capabilities]\nnetwork = true\n"
ALLOWED = HOLDER + '[labels.egress]\nnetwork = ["private"]\n' + "[capabilities]\nnetwork = true\n"


@pytest.fixture(scope="module")
def reloads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """holder holds private data, clean (same policy) holds nothing; the policy gains the network,
    then also the egress that lets private data out by it."""
    folder = tmp_path_factory.mktemp("reload")
    (folder / "holder.toml").write_text(HOLDER)

    async def main() -> dict[str, Any]:
        async with neuro.Kernel(log=folder / "run.db", policies=POLICIES, policy_dirs=[str(folder)]) as k:
            def network(name: str) -> bool:
                return k._router.procs[name].policy.capabilities.network

            await k.spawn(f.Vault)
            for name in ("holder", "clean"):
                await k.spawn(f.Keeper, name=name, policy="holder")
            await k.call("vault", f.Do(op="pass", text="diary", path=["holder"], then="keep"))
            (folder / "holder.toml").write_text(NETWORK)
            await k.reload_policies()
            out = {"refused": (network("holder"), network("clean")),
                   "errors": [(r.neuro, r.data["error"]) for r in await k.log.events(name="policy.invalid")]}
            (folder / "holder.toml").write_text(ALLOWED)
            await k.reload_policies()
            out["allowed"] = network("holder")
            out["recalled"] = (await k.call("holder", f.Do(op="recall"))).text
            return out

    return trio.run(main)


def test_a_reload_that_opens_a_way_out_is_refused_for_the_neuro_holding_labelled_data_only(reloads):
    """The tainted holder keeps its policy (no network); clean, under the same policy, takes the new one."""
    assert (False, True) == reloads["refused"]


def test_the_refused_reload_is_a_policy_invalid_event_naming_the_labels_and_the_way_out(reloads):
    assert [("holder", "holder holds data labelled 'private', and the reloaded policy 'holder' gives it a way out "
             "(capabilities.network) that `labels.egress.network` (nothing) does not let them through; it keeps its "
             "old policy: allow them there, declassify first, or restart it")] == reloads["errors"]


def test_a_reload_whose_egress_lets_the_labels_out_by_the_new_way_applies(reloads):
    """The same way out, with labels.egress.network = ["private"]: applied, and the holder still serves."""
    assert (True, "diary") == (reloads["allowed"], reloads["recalled"])


def test_a_write_path_is_a_way_out_too():
    """capabilities.write grants files: a taint that egress.files does not allow is refused, naming all of it."""
    policy = msgspec.structs.replace(POLICIES["relay"], capabilities=Capabilities(write=("/tmp/out",)),
                                     labels=LabelRules(clearance=("*",), egress=Egress(files=("public",))))
    with pytest.raises(neuro.PolicyError) as err:
        check_reload("keeper", frozenset({"private", "user:alice", "public"}), policy, "process")
    assert ("keeper holds data labelled 'private', 'user:alice', and the reloaded policy 'relay' gives it a way out "
            "(capabilities.write) that `labels.egress.files` ('public') does not let them through") in str(err.value)
