"""bench/governance: privacy labels and energy accounting (issue 31).

- The flow attempts of tests/governance (flow_attempts.py), run once: how many got through.
- Call throughput with a privacy label on every message over the same calls without, both
  through the process sandbox (where labelled neuros must run), interleaved in one kernel;
  and the kernel's own share of it, in-process (a bench-only bypass of the rule that labelled
  policies refuse the in-process backend: there the label check is most of what differs).
- Call throughput with energy accounting over without, in-process, interleaved.
- On a machine with CUDA and NVML only: a GPU neuro's NVML joules (its account) over the card's
  own energy counter across the same window, and over the card's power readings integrated at
  50 Hz across it (a second sensor path). `python -m bench.governance gpu` runs this part alone.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import msgspec
import trio

import neuro
from neuro.kernel._governance import LabelRules
from neuro.kernel._policy import Capabilities
from neuro.testing import Echo, Ping, Relay

from ._harness import ProgressBar, Report, summarize

SUITE = Path(__file__).resolve().parents[1] / "tests" / "governance"


def _suite() -> Any:
    """The suite's attempts and neuros (tests/governance), on the import path."""
    if str(SUITE) not in sys.path:
        sys.path.insert(0, str(SUITE))
    import flow_attempts
    import flow_neuros
    import flow_policies

    return flow_attempts, flow_neuros, flow_policies


def flows_through(folder: Path) -> tuple[list[str], int]:
    """The suite's flow attempts that got through, and how many flow.refused events they left."""
    attempts, _, _ = _suite()
    out = trio.run(attempts.run_all, folder / "flows.db")
    return attempts.got_through(out), sum(1 for e in out["events"] if e[0] == "flow.refused")


async def _rate(k: neuro.Kernel, to: str, payload: Any, calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        await k.call(to, payload, timeout=30.0)
    return calls / (time.perf_counter() - t0)


async def _paired(k: neuro.Kernel, on: Any, off: Any, calls: int, slices: int = 10) -> tuple[float, float]:
    """Calls/s of two set-ups, each an async `(setup) -> (to, payload)`, alternated in `slices`
    small batches so that the machine's load drifts over both alike."""
    spent = [0.0, 0.0]
    for _ in range(slices):
        for i, arm in enumerate((on, off)):
            to, payload = await arm()
            spent[i] += calls / slices / await _rate(k, to, payload, calls // slices)
    return calls / spent[0], calls / spent[1]


async def _repeat_paired(k: neuro.Kernel, on: Any, off: Any, calls: int, repeats: int,
                         label: str) -> tuple[list[float], list[float]]:
    """`repeats` of `_paired`, with a progress bar: calls/s with `on` and with `off`."""
    ons, offs = [], []
    bar = ProgressBar(repeats, label)
    for r in range(repeats):
        a, b = await _paired(k, on, off, calls)
        ons.append(a)
        offs.append(b)
        bar.update(r + 1)
    bar.close()
    return ons, offs


def sandboxed_label_ratio(calls: int, repeats: int) -> tuple[list[float], list[float], list[float]]:
    """client -> A -> B through the process sandbox: A labels everything (`outputs = private`)
    and B is cleared for it, against the same pair under policies without labels."""
    _, f, p = _suite()
    # The same two policies less their labels, so that the labels are all that differs.
    unlabelled = {f"plain-{n}": msgspec.structs.replace(p.POLICIES[n], name=f"plain-{n}", labels=LabelRules())
                  for n in ("vault", "relay")}
    policies = {**p.POLICIES, **unlabelled}
    step = f.Do(op="pass", text="x", path=["_"])

    async def main() -> tuple[list[float], list[float]]:
        async with neuro.Kernel(policies=policies) as k:
            await k.spawn(f.Vault, name="lab-a")
            await k.spawn(f.Relay, name="lab-b")
            await k.spawn(f.Vault, name="plain-a", policy="plain-vault")
            await k.spawn(f.Relay, name="plain-b", policy="plain-relay")
            labelled = msgspec.structs.replace(step, path=["lab-b"])
            unlabelled = msgspec.structs.replace(step, path=["plain-b"])
            await _rate(k, "lab-a", labelled, 50)  # warm both
            await _rate(k, "plain-a", unlabelled, 50)

            async def labels_on() -> tuple[str, Any]:
                await trio.lowlevel.checkpoint()
                return "lab-a", labelled

            async def labels_off() -> tuple[str, Any]:
                await trio.lowlevel.checkpoint()
                return "plain-a", unlabelled

            on, off = await _repeat_paired(k, labels_on, labels_off, calls, repeats,
                                           "labels on vs off (process sandbox)")
            if k.info("lab-b").labels != ("private",):
                raise RuntimeError("the labelled pair's messages carried no label: nothing was measured")
        return on, off

    on, off = trio.run(main)
    return on, off, [a / b for a, b in zip(on, off)]


def kernel_label_ratio(calls: int, repeats: int) -> tuple[list[float], list[float], list[float]]:
    """client -> relay -> echo in-process, with relay tainted `private` and echo cleared for it
    (set on the running processes, which spawn refuses to do in-process), against clean ones."""

    async def main() -> tuple[list[float], list[float]]:
        async with neuro.Kernel() as k:
            await k.spawn(Echo)
            await k.spawn(Relay)
            procs = k._router.procs
            cleared = msgspec.structs.replace(procs["echo"].policy, labels=LabelRules(clearance=("private",)),
                                              capabilities=Capabilities())  # no way out: it may hold private data
            clean = procs["echo"].policy

            async def labels_on() -> tuple[str, Any]:
                await trio.lowlevel.checkpoint()
                procs["relay"].labels, procs["echo"].policy = frozenset({"private"}), cleared
                procs["echo"].labels = frozenset()  # tainted again in this batch: its first check is the full one
                return "relay", Ping(n=1)

            async def labels_off() -> tuple[str, Any]:
                await trio.lowlevel.checkpoint()
                procs["relay"].labels = procs["echo"].labels = frozenset()
                procs["echo"].policy = clean
                return "relay", Ping(n=1)

            return await _repeat_paired(k, labels_on, labels_off, calls, repeats, "labels on vs off (kernel only)")

    on, off = trio.run(main)
    return on, off, [a / b for a, b in zip(on, off)]


def energy_ratio(calls: int, repeats: int) -> tuple[list[float], list[float], list[float], str]:
    """client -> echo in-process, with its energy account, against the same with none."""

    async def main() -> tuple[list[float], list[float], str]:
        async with neuro.Kernel() as k:
            await k.spawn(Echo)
            proc = k._router.procs["echo"]
            account = proc.energy
            if account is None:
                raise RuntimeError("energy accounting is off (NEURO_ENERGY=0): nothing to measure")
            await _rate(k, "echo", Ping(n=1), 500)

            async def accounting_on() -> tuple[str, Any]:
                await trio.lowlevel.checkpoint()
                proc.energy = account
                return "echo", Ping(n=1)

            async def accounting_off() -> tuple[str, Any]:
                await trio.lowlevel.checkpoint()
                proc.energy = None
                return "echo", Ping(n=1)

            on, off = await _repeat_paired(k, accounting_on, accounting_off, calls, repeats,
                                           "energy accounting on vs off")
            return on, off, account.meter.kind

    on, off, kind = trio.run(main)
    return on, off, [a / b for a, b in zip(on, off)], kind


def _power_integral(stop: threading.Event, out: list[float], every: float = 0.02) -> None:
    """Integrates the card's instantaneous power (NVML's power reading, a second sensor path
    beside its energy counter) until `stop`; the joules go into out[0]."""
    import pynvml

    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    last, watts = time.perf_counter(), pynvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
    while not stop.wait(every):
        now, w = time.perf_counter(), pynvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
        out[0] += (now - last) * (watts + w) / 2  # trapezoids
        last, watts = now, w


def gpu_energy_ratio(seconds: float) -> tuple[float, float] | None:
    """A GPU neuro's NVML joules (its account) over the card's energy counter for the same
    window, and over the card's sampled power integrated over it; None where there is no CUDA
    or no NVML (the GPU run is on the device machine)."""
    from neuro.kernel._energy import gpu_joules

    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available() or gpu_joules() is None:
        return None
    from neuro import sdk

    class Matmul(sdk.Neuro):
        name = "matmul"
        input = Ping
        output = Ping

        def handle(self, ctx, msg):
            a = torch.randn(4096, 4096, device="cuda")
            for _ in range(msg.n):
                a = (a @ a).clamp_(-1, 1)
            torch.cuda.synchronize()
            return Ping(n=msg.n)

    gpu = {"gpu": neuro.Policy(name="gpu", gpu_memory=0.5)}

    async def main() -> float:
        async with neuro.Kernel(policies=gpu) as k:
            await k.spawn(Matmul, policy="gpu")
            await k.call("matmul", Ping(n=5), timeout=60)  # warm: CUDA context, kernels
            account = k._router.procs["matmul"].energy
            meter = account.gpu_meter
            meter._settle(time.perf_counter())  # the window starts here, for both figures
            account.gpu, start = 0.0, meter._last
            stop, sampled = threading.Event(), [0.0]
            sampler = threading.Thread(target=_power_integral, args=(stop, sampled), daemon=True)
            sampler.start()
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                await k.call("matmul", Ping(n=50), timeout=60)
            meter._settle(time.perf_counter())
            stop.set()
            sampler.join()
            if meter._last <= start or sampled[0] <= 0:
                return float("nan"), float("nan")
            return account.gpu / (meter._last - start), account.gpu / sampled[0]

    return trio.run(main)


def gpu_metrics(counter: float, sampled: float) -> dict[str, Any]:
    return {
        "gpu_energy_nvml_vs_card_counter": summarize([counter], "ratio", note="GPU run: goal 0.9-1.1"),
        "gpu_energy_nvml_vs_card_counter_off_by": summarize([abs(counter - 1.0)], "ratio", goal=0.1,
                                                            higher_is_better=False),
        "gpu_energy_nvml_vs_sampled_power": summarize([sampled], "ratio",
                                                      note="the card's power readings integrated at 50 Hz"),
    }


def run(quick: bool) -> Report:
    reps = 7
    folder = Path(tempfile.mkdtemp(prefix="bench-governance-"))
    leaks, refusals = flows_through(folder)
    box_on, box_off, box_ratio = sandboxed_label_ratio(100 if quick else 600, reps)
    k_on, k_off, k_ratio = kernel_label_ratio(2000 if quick else 20000, reps)
    e_on, e_off, e_ratio, kind = energy_ratio(2000 if quick else 20000, reps)
    metrics = {
        "flow_attempts_got_through": summarize([float(len(leaks))], "attempts", goal=0, higher_is_better=False,
                                               note=", ".join(leaks) or "every attempt refused and logged"),
        "throughput_labels_on_vs_off": summarize(box_ratio, "ratio", goal=0.9,
                                                 note="process sandbox, a label on every message"),
        "throughput_labels_on_vs_off_kernel_only": summarize(k_ratio, "ratio", goal=0.9,
                                                             note="in-process, bench-only bypass of the sandbox rule"),
        "throughput_energy_accounting_on_vs_off": summarize(e_ratio, "ratio", goal=0.95, note=f"{kind} energy"),
        "calls_per_second_labels_on_sandboxed": summarize(box_on, "calls/s"),
        "calls_per_second_labels_off_sandboxed": summarize(box_off, "calls/s"),
        "calls_per_second_labels_on_kernel": summarize(k_on, "calls/s"),
        "calls_per_second_labels_off_kernel": summarize(k_off, "calls/s"),
        "calls_per_second_energy_on": summarize(e_on, "calls/s"),
        "calls_per_second_energy_off": summarize(e_off, "calls/s"),
    }
    gpu = gpu_energy_ratio(5.0 if quick else 20.0)
    if gpu is not None:
        metrics.update(gpu_metrics(*gpu))
    return Report(metrics=metrics, extra={"flow_refused_events": refusals, "energy_kind": kind,
                                          "gpu_part": "ran" if gpu is not None else "skipped: no CUDA and NVML here"})


if __name__ == "__main__" and sys.argv[1:] == ["gpu"]:  # the device machine's run: the GPU part alone
    import json

    found = gpu_energy_ratio(20.0)
    print(json.dumps(msgspec.to_builtins(gpu_metrics(*found)) if found else {"gpu_part": "no CUDA/NVML"}, indent=2))
