"""`neuro info NAME` through the real CLI against a real daemon: manifest, schemas with a
union's tag, the policy in force, backend, origin, version, last error and quota use."""

from __future__ import annotations

import json

from .conftest import neuro_cmd


def run_json(*args, home, code=0):
    done = neuro_cmd(*args, "--json", home=home)
    assert (code, "") == (done.returncode, done.stderr), done.stdout
    return json.loads(done.stdout)


def test_info_json_has_schemas_policy_backend_origin_and_version(daemon):
    """--json: the union's tag field and values, the policy resolved, backend, origin file, version."""
    home = daemon.home
    spawned = run_json("spawn", "neuro.neuros.counter:Counter", home=home)
    d = run_json("info", "counter", home=home)
    disc = d["input_schema"]["discriminator"]
    assert ("type", ["add", "get"], "default", 1024, "inproc", True, spawned["version"], "spawn") == (
        disc["propertyName"], sorted(disc["mapping"]), d["policy"]["name"], d["policy"]["mailbox_size"],
        d["backend"], d["origin"].endswith("counter.py"), d["version"], d["version_origin"])


def test_info_shows_the_union_its_fields_and_the_last_error(daemon):
    """The table names the tag field and its values, each member's fields, and the last error."""
    home = daemon.home
    run_json("spawn", "neuro.neuros.counter:Counter", home=home)
    run_json("spawn", "neuro.testing:Crashy", home=home)
    crashed = neuro_cmd("call", "crashy", "n=-1", home=home)
    counter = neuro_cmd("info", "counter", home=home)
    crashy = neuro_cmd("info", "crashy", home=home)
    assert (3, 0, 0) == (crashed.returncode, counter.returncode, crashy.returncode), counter.stderr + crashy.stderr
    out = counter.stdout
    assert (True, True, True, True) == (
        "a union of Add, Get, picked by `type`: add, get" in out, "amount  integer = 1" in out,
        "last_error  none in the log" in out, "policy in force:" in out)
    assert "ValueError: negative: -1" in crashy.stdout


def test_info_of_a_sandboxed_neuro_shows_its_memory(daemon):
    """A process-sandboxed neuro's quota use has its memory; an inproc one says it has no counter."""
    home = daemon.home
    run_json("spawn", "neuro.testing:BoxedEcho", home=home)
    run_json("spawn", "neuro.testing:Echo", home=home)
    boxed = {q["name"]: q for q in run_json("info", "boxed-echo", home=home)["quotas"]}
    inproc = {q["name"]: q for q in run_json("info", "echo", home=home)["quotas"]}
    assert (True, None, "in the kernel's process: no counter of its own") == (
        boxed["memory"]["used"] > 0, inproc["memory"]["used"], inproc["memory"]["note"])


def test_info_of_a_neuro_not_running_exits_5(daemon):
    """`neuro info nobody` is not found (exit 5), saying so."""
    done = neuro_cmd("info", "nobody", home=daemon.home)
    assert (5, True) == (done.returncode, "no neuro named 'nobody'" in done.stderr)


def test_info_of_an_untrusted_file_names_the_file_it_came_from(daemon):
    """A neuro file spawned by its path (described in a sandbox) has that file as its origin."""
    from .conftest import REPO

    path = REPO / "tests" / "daemon" / "slow_neuro.py"
    run_json("spawn", path, home=daemon.home)
    d = run_json("info", "slow", home=daemon.home)
    assert (str(path), "process", "untrusted") == (d["origin"], d["backend"], d["policy"]["name"])
