"""Policy files: the shipped set, inheritance, overrides, and errors that name file, key and fix."""

from __future__ import annotations

import subprocess
import sys

import pytest

import neuro
from neuro.kernel._policyfiles import PolicyStore, check_policy_file

NEURO = [sys.executable, "-m", "neuro"]


def write(folder, name, text):
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


def test_shipped_policies_are_the_six_documented():
    """The shipped folder defines trusted, default, untrusted, learning, background and dream."""
    store = PolicyStore([])
    assert {"trusted", "default", "untrusted", "learning", "background", "dream"} == set(store.policies)
    assert {} == store.errors


def test_untrusted_may_not_run_in_process():
    """untrusted allows only sandboxes that can enforce CPU, memory and capabilities."""
    untrusted = PolicyStore([]).policies["untrusted"]
    assert ("process", "docker") == untrusted.sandboxes
    assert "process" == untrusted.sandbox
    assert 256 * 1024 * 1024 == untrusted.memory


def test_a_policy_inherits_its_parents_fields(tmp_path):
    """A child policy starts from its parent and overrides only what it names."""
    write(tmp_path, "mine", 'inherit = "untrusted"\nmemory = "1GiB"\n[capabilities]\nnetwork = true\n')
    mine = PolicyStore([str(tmp_path)]).policies["mine"]
    assert (1 << 30, 256, True, 64 << 20) == (mine.memory, mine.mailbox_size, mine.capabilities.network,
                                              mine.capabilities.disk)


@pytest.mark.parametrize("text, expected", [
    ("mailbox_sze = 3\n", "unknown key `mailbox_sze`"),
    ('mailbox_size = "big"\n', "Expected `int`, got `str` - at `mailbox_size`"),
    ("wall_time = -1\n", "`wall_time` must be 0 (unlimited) or more, got -1"),
    ('inherit = "nope"\n', "key `inherit`: no policy named 'nope'"),
    ('memory = "lots"\n', "key `memory`: expected a size such as 268435456 or \"256MiB\", got 'lots'"),
    ("[capabilities]\nnetwrk = true\n", "unknown key `capabilities.netwrk`"),
    ("mailbox_size = \n", "not valid TOML"),
])
def test_a_bad_file_gets_an_error_naming_the_file_and_key(tmp_path, text, expected):
    """Each kind of bad file is refused with the file's path and what was wrong."""
    path = write(tmp_path, "bad", text)
    with pytest.raises(neuro.PolicyError) as err:
        check_policy_file(str(path), [])
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_inheritance_in_a_circle_is_refused(tmp_path):
    """Two policies inheriting from each other get an error that shows the circle."""
    write(tmp_path, "a", 'inherit = "b"\n')
    write(tmp_path, "b", 'inherit = "a"\n')
    store = PolicyStore([str(tmp_path)])
    assert "a -> b -> a" in str(store.errors["a"])


def test_a_bad_user_file_costs_only_itself(tmp_path):
    """A broken user policy is reported while every other policy still loads."""
    write(tmp_path, "broken", "mailbox_size = -5\n")
    store = PolicyStore([str(tmp_path)])
    assert "broken" not in store.policies
    assert "default" in store.policies
    assert "mailbox_size" in str(store.errors["broken"])


def test_manifest_overrides_single_fields():
    """A neuro's policy_overrides change only the fields it names."""
    store = PolicyStore([])
    p = store.get("untrusted", {"wall_time": 2, "memory": "64MiB"})
    assert (2.0, 64 << 20, 256) == (p.wall_time, p.memory, p.mailbox_size)


def test_cli_check_accepts_a_good_file_and_refuses_a_bad_one(tmp_path):
    """`neuro policy check` exits 0 for a valid file and 1, with the reason, for an invalid one."""
    good = write(tmp_path, "good", 'inherit = "default"\nrate = 50\n')
    bad = write(tmp_path, "worse", 'inherit = "default"\nrate = "fast"\n')
    ok = subprocess.run([*NEURO, "policy", "check", str(good)], capture_output=True, text=True)
    fail = subprocess.run([*NEURO, "policy", "check", str(bad)], capture_output=True, text=True)
    assert (0, 1) == (ok.returncode, fail.returncode)
    assert "Expected `float`, got `str` - at `rate`" in fail.stderr
    assert "Traceback" not in fail.stderr


def test_cli_show_lists_policies_as_json():
    """`neuro policy show --json` lists every policy with its sandbox."""
    import json

    out = subprocess.run([*NEURO, "policy", "show", "--json"], capture_output=True, text=True, check=True)
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert "process" == rows["untrusted"]["sandbox"]
