"""The `[labels]` and `[energy]` tables of a policy file: read, checked, refused with the key, and
never reloaded onto an in-process neuro."""

from __future__ import annotations

import pytest
import trio

import neuro
from neuro.kernel._governance import LabelRules
from neuro.kernel._policy import Capabilities
from neuro.kernel._policyfiles import PolicyStore, check_policy_file
from neuro.testing import Echo, Ping

LABELLED = """
sandbox = "process"
sandboxes = ["process"]
[capabilities]
network = true
[labels]
outputs = ["private", "user:alice"]
clearance = ["private"]
declassify = ["user:alice"]
[labels.egress]
network = ["public"]
[energy]
per_hour = 3600
per_message = 0.5
on_breach = "throttle"
"""


def test_a_policy_file_gives_labels_and_an_energy_budget(tmp_path):
    """Every field of both tables is read from TOML into the policy."""
    (tmp_path / "mail.toml").write_text(LABELLED)
    mail = PolicyStore([str(tmp_path)]).policies["mail"]
    got = (mail.labels.outputs, mail.labels.clearance, mail.labels.declassify, mail.labels.egress.network,
           mail.energy.per_hour, mail.energy.per_message, mail.energy.on_breach)
    assert (("private", "user:alice"), ("private",), ("user:alice",), ("public",), 3600.0, 0.5, "throttle") == got


@pytest.mark.parametrize("text, expected", [
    ('[labels]\nclearence = ["x"]\n', "Object contains unknown field `clearence`"),
    ('[labels]\noutputs = ["not a label!"]\n', "`labels.outputs` entry 'not a label!' is not a label"),
    ('[labels]\noutputs = ["*"]\n', "`labels.outputs` names labels to put on data"),
    ('[labels.egress]\nsmoke = ["x"]\n', "unknown field `smoke`"),
    ("[energy]\nper_hour = -1\n", "`energy.per_hour` must be joules, 0 (no budget) or more, got -1"),
    ('[energy]\non_breach = "explode"\n', "Invalid enum value 'explode' - at `energy.on_breach`"),
])
def test_a_bad_governance_table_gets_an_error_naming_the_file_and_key(tmp_path, text, expected):
    """Each bad entry is refused with the file's path and what was wrong."""
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(neuro.PolicyError) as err:
        check_policy_file(str(path), [])
    assert (True, True) == (str(path) in str(err.value), expected in str(err.value))


def test_a_reload_that_labels_a_running_in_process_neuro_is_refused_and_it_keeps_its_policy(tmp_path):
    """Labels added to the policy of a running in-process neuro: a policy.invalid event, the old policy stays."""
    (tmp_path / "plain.toml").write_text('inherit = "default"\n')

    async def main():
        async with neuro.Kernel(log=tmp_path / "run.db", policy_dirs=[str(tmp_path)]) as k:
            await k.spawn(Echo, policy="plain")
            (tmp_path / "plain.toml").write_text('inherit = "default"\n[labels]\nclearance = ["private"]\n')
            await k.reload_policies()
            await k.call("echo", Ping(n=1))
            rows = await k.log.events(name="policy.invalid", limit=None)
            return k._router.procs["echo"].policy.labels.clearance, [r.neuro for r in rows]

    assert ((), ["echo"]) == trio.run(main)


def test_a_neuro_whose_own_labels_could_leave_by_a_way_out_its_policy_does_not_allow_is_refused_at_spawn():
    """outputs = private with capabilities.network and no egress.network for it: PolicyError naming the key."""
    leaky = neuro.Policy(name="leaky", sandbox="process", sandboxes=("process",), capabilities=Capabilities(network=True),
                         labels=LabelRules(outputs=("private",)))

    async def main():
        async with neuro.Kernel(policies={"leaky": leaky}) as k:
            with pytest.raises(neuro.PolicyError) as err:
                await k.spawn(Echo, policy="leaky")
            return str(err.value)

    assert "`labels.egress.network` does not allow 'private'" in trio.run(main)
