"""A GPU neuro held to an energy budget by NVML (issue 31): run on a machine with an NVIDIA GPU,
neuro installed from its wheel (`python3 scripts/device/gpu_budget.py`).

It spawns, in-process, a neuro doing float32 matmuls on cuda under a policy with `gpu_memory`
and `[energy] per_hour` of a few hundred joules, `on_breach = "reject"`, and calls it until its
rolling hour, mostly the GPU's joules as NVML measures them, breaches the budget. It prints one
JSON object: the joules NVML gave the neuro at the breach (and its hour, CPU's included), the
card's own counter over the same calls, the budget, whether the next call got EnergyExceeded,
and the `energy.budget` event. Where there is no CUDA or no NVML it prints a JSON line saying
so and exits 0.
"""
import json
import os
import sys
import tempfile
import time

BUDGET = 300.0  # joules per hour: a busy data-centre GPU (300-700 W) spends it in about a second
CALL_MATMULS = 20  # 4096 x 4096 matmuls per call: tens of milliseconds on such a card
GIVE_UP = 90.0  # seconds of calls without a breach: report that instead


def skip(why: str) -> None:
    print(json.dumps({"gpu_budget": "skipped", "reason": why}))
    sys.exit(0)


try:
    import torch
except ImportError:
    skip("no torch")
if not torch.cuda.is_available():
    skip("no CUDA")

import msgspec
import trio

import neuro
from neuro import sdk
from neuro.kernel._energy import gpu_joules
from neuro.kernel._governance import EnergyBudget

if gpu_joules() is None:
    skip("no NVML energy counter (pynvml from nvidia-ml-py, a driver and a card that has one)")


class Turns(sdk.Message):
    n: int = 1


class Matmul(sdk.Neuro):
    name = "matmul"
    input = Turns
    output = Turns

    def handle(self, ctx, msg):
        a = torch.randn(4096, 4096, device="cuda")
        for _ in range(msg.n):
            a = (a @ a).clamp_(-1, 1)
        torch.cuda.synchronize()
        return Turns(n=msg.n)


async def main(log: str) -> dict:
    policy = neuro.Policy(name="gpu-budget", gpu_memory=0.5,
                          energy=EnergyBudget(per_hour=BUDGET, on_breach="reject"))
    async with neuro.Kernel(log=log, policies={"gpu-budget": policy}) as k:
        await k.spawn(Matmul, policy="gpu-budget")
        account = k._router.procs["matmul"].energy
        if account is None or account.gpu_meter is None:
            return {"gpu_budget": "failed", "reason": "the GPU neuro has no NVML meter (NEURO_ENERGY=0?)"}
        card_start, t0, calls = gpu_joules(), time.perf_counter(), 0
        while not account.over and time.perf_counter() - t0 < GIVE_UP:
            await k.call("matmul", Turns(n=CALL_MATMULS), timeout=60)
            calls += 1
        at_breach = {"nvml_joules": account.gpu, "hour_joules": account.hour(), "cpu_joules": account.used,
                     "card_counter_joules": gpu_joules() - card_start, "calls": calls,
                     "seconds": time.perf_counter() - t0, "over": account.over}
        try:
            await k.call("matmul", Turns(n=1), timeout=60)
            rejected, error = False, None
        except neuro.EnergyExceeded as e:
            rejected, error = True, str(e)
        events = [msgspec.to_builtins(e) for e in await k.log.events(name="energy.budget", limit=None)]
    return {"gpu_budget": "ran", "device": torch.cuda.get_device_name(0), "budget_per_hour": BUDGET,
            "at_breach": at_breach, "next_call_energy_exceeded": rejected, "error": error,
            "energy_budget_events": events, "ok": rejected and len(events) == 1}


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        os.environ.setdefault("NEURO_HOME", folder)
        print(json.dumps(trio.run(main, os.path.join(folder, "run.db")), indent=2, default=repr))
