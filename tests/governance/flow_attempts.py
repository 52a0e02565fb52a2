"""The flow attempts of issue 31, run in one kernel in turn (this file holds no tests): the suite
(test_flows.py) checks each outcome, and bench/governance.py counts those that got through.

Each attempt sends private data down one route; `run_all` returns what each ended in (a reply's
text, or the root error's type) and the `flow.*` events the log holds afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

import flow_neuros as f
import neuro
from flow_policies import POLICIES
from neuro import _control as c
from neuro import sdk
from neuro.kernel._control_ops import Ops
from student_neuros import Student

SPAWNED = (f.Vault, f.Relay, f.Relay2, f.Uploader, f.Courier, f.Outsider, f.Listener, f.Scrubber, f.Pretender,
           f.Keeper, f.Apprentice)


def _cause(error: BaseException) -> str:
    """The root error's type name, however many neuros the call crossed."""
    return error.cause.type.rsplit(".", 1)[-1] if isinstance(error, neuro.RemoteError) else type(error).__name__


async def _outcome(call: Any) -> str:
    """What an attempt ended in: its reply's text, or the root error's type."""
    try:
        return "reply: " + (await call).text
    except neuro.NeuroError as e:
        return _cause(e)


async def _attempts(k: neuro.Kernel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    chain = ["relay", "relay2", "uploader"]
    out["chain"] = await _outcome(k.call("vault", f.Do(op="pass", text="diary", path=chain)))
    out["chain_allowed"] = await _outcome(k.call("vault", f.Do(op="pass", text="diary", path=["relay", "courier"])))
    out["uncleared"] = await _outcome(k.call("vault", f.Do(op="pass", text="diary", path=["outsider"])))
    # state: keeper is given a private note; then an unlabelled request makes it send on
    await k.call("vault", f.Do(op="pass", text="diary", path=["keeper"], then="keep"))
    out["state"] = await _outcome(k.call("keeper", f.Do(op="pass", path=["outsider"], then="recall")))
    # publish: the listener is cleared, the outsider (also subscribed) is not
    await k.call("vault", f.Do(op="publish", text="diary"))
    with trio.fail_after(20):
        while k.info("listener").handled < 1:
            await trio.sleep(0.01)
    out["publish"] = {n: (await k.call(n, f.Do(op="recall"))).text for n in ("listener", "outsider")}
    # an artifact: the vault keeps a private note; the outsider reads it back by its hash
    digest = (await k.call("vault", f.Do(op="stash", text="diary"))).text
    out["artifact"] = await _outcome(k.call("outsider", f.Do(op="unstash", text=digest)))
    # a net's memo: a net whose node is the vault, run twice
    net = sdk.Net("diary")
    net.chain("in", net.node("v", "vault"), "out")
    built = net.build(kernel=k)
    await k.spawn(built.neuro())
    out["memo"] = [await _outcome(k.call("diary", f.Do(text="diary"))) for _ in range(2)]
    out["memo_entries"] = built.memo.statistics().entries
    # a student: a version whose lineage says it learnt from private traces
    out["student_before"] = k.info("apprentice").labels
    await k.swap("apprentice", Student)
    out["student_after"] = k.info("apprentice").labels
    out["student"] = await _outcome(k.call("apprentice", f.Do(op="pass", path=["outsider"])))
    # declassify: without the right, then with it
    await k.call("vault", f.Do(op="pass", path=["pretender"], then="keep", text="diary"))
    out["declassify_denied"] = await _outcome(k.call("pretender", f.Do(op="declassify", label="private")))
    out["pretender"] = k.info("pretender").labels
    await k.call("vault", f.Do(op="pass", path=["scrubber"], then="keep", text="diary"))
    await k.call("scrubber", f.Do(op="declassify", label="private"))
    out["declassified"] = await _outcome(k.call("scrubber", f.Do(op="pass", path=["outsider"], text="ok")))
    out["scrubber"] = k.info("scrubber").labels
    # the control socket's clients: the embedded caller gets the vault's reply, a socket client not
    out["embedded"] = await _outcome(k.call("vault", f.Do(text="diary")))
    try:
        await Ops(k)._call(c.Call(id=1, to="vault", payload={"text": "diary"}))
        out["socket"] = "reply"
    except neuro.FlowRefused as e:
        out["socket"] = f"FlowRefused {e.rule}"
    out["received"] = {n: k.info(n).received for n in ("uploader", "outsider")}
    return out


# A policy file the reload attempt rewrites: cleared for private data, no way out.
HOLDER = 'sandbox = "process"\nsandboxes = ["process"]\n[labels]\nclearance = ["private"]\n'


async def _reload(k: neuro.Kernel, folder: Path) -> str:
    """holder is given private data; then a reload grants its policy the network: "refused" when it
    keeps the old policy (a policy.invalid event for it), else "applied"."""
    await k.call("vault", f.Do(op="pass", text="diary", path=["holder"], then="keep"))
    (folder / "holder.toml").write_text(HOLDER + "[capabilities]\nnetwork = true\n")
    await k.reload_policies()
    invalid = [r.neuro for r in await k.log.events(name="policy.invalid", limit=None)]
    kept = not k._router.procs["holder"].policy.capabilities.network
    return "refused" if kept and "holder" in invalid else "applied"


async def run_all(path: Path) -> dict[str, Any]:
    """Every attempt in a kernel logging to `path`; their outcomes and the log's `flow.*` events."""
    folder = path.parent / f"{path.stem}-policies"
    folder.mkdir(exist_ok=True)
    (folder / "holder.toml").write_text(HOLDER)
    async with neuro.Kernel(log=path, policies=POLICIES, policy_dirs=[str(folder)]) as k:
        for cls in SPAWNED:
            await k.spawn(cls)
        await k.spawn(f.Keeper, name="holder", policy="holder")
        out = await _attempts(k)
        out["reload"] = await _reload(k, folder)
        rows = await k.log.events(name="flow.*", limit=None)
        out["events"] = [(r.name, r.neuro, r.data.get("label"), r.data.get("rule")) for r in rows]
    return out


#: The attempts that must be refused, by their key in `run_all`'s answer.
REFUSED = ("chain", "uncleared", "state", "artifact", "student", "declassify_denied", "socket")


def got_through(out: dict[str, Any]) -> list[str]:
    """The attempts whose private data reached where it must not (empty when every one was refused)."""
    leaks = [key for key in REFUSED if not str(out[key]).startswith("FlowRefused")]
    leaks += [f"memo run {i}" for i, m in enumerate(out["memo"]) if m.startswith("reply")]
    if out["memo_entries"]:
        leaks.append("memo entries")
    if out["publish"]["outsider"]:
        leaks.append("publish")
    if out["received"]["uploader"]:
        leaks.append("uploader")
    if out["reload"] != "refused":
        leaks.append("reload")
    return leaks
