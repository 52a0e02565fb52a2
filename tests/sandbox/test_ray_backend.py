"""The ray backend on a real Ray cluster: a head and a labelled node, made by Ray's own
`ray.cluster_utils.Cluster` on this machine (each node its own raylet), joined by this test
process as a driver. A neuro whose policy says `sandbox = "ray"` runs in a Ray actor; the
kernel routes to it, supervises it and swaps it as any other."""

from __future__ import annotations

import pytest
import trio

import neuro
from neuro import Child, SupervisorSpec
from neuro.kernel._policy import Placement, Policy
from neuro.testing import Crashy, Echo, Ping, Pong, Relay

from .test_ray_neuros import Counter, Dies, EchoV2, Hog, Where

ray = pytest.importorskip("ray", reason="Ray is not installed, so the ray backend is not tested: "
                                        ".venv/bin/pip install 'neuro-runtime[ray]' (the `ray` extra)")

ONRAY = Policy(name="onray", sandbox="ray")


@pytest.fixture(scope="module")
def cluster():
    """A head (2 CPUs) and a node labelled zone=b with a `zone_b` resource."""
    from ray.cluster_utils import Cluster

    made = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    zone_b = made.add_node(num_cpus=1, resources={"zone_b": 1}, labels={"zone": "b"})
    ray.init(address=made.address, log_to_driver=False)
    made.wait_for_nodes()
    yield made, zone_b
    ray.shutdown()
    made.shutdown()


def kernel(log=None, *extra: Policy) -> neuro.Kernel:
    return neuro.Kernel(log=log, policies={p.name: p for p in (ONRAY, *extra)})


def actor_of(k: neuro.Kernel, name: str):
    """The Ray actor that hosts `name` now (a test reaches under the kernel for it)."""
    return k._router.procs[name].worker.handle.carrier.actor


def state_of(k: neuro.Kernel, name: str) -> str:
    """Its state, or "" while its supervisor has it out of the table (escalating)."""
    try:
        return k.info(name).state
    except neuro.NeuroError:
        return ""


async def wait_for(predicate, timeout: float = 60.0) -> None:
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.05)


def test_a_neuro_on_ray_answers_as_one_in_process(cluster):
    """A call to a Ray-placed neuro gets the same reply as an in-process one; ps says ray."""

    async def main():
        async with kernel() as k:
            await k.spawn(Echo, policy="onray")
            return await k.call("echo", Ping(n=5)), k.info("echo").sandbox

    assert (Pong(n=5), "ray") == trio.run(main)


def test_a_ray_placed_neuro_calls_another_neuro_through_the_kernel(cluster):
    """A handler on Ray calls an in-process neuro; the call goes through the kernel and back."""

    async def main():
        async with kernel() as k:
            await k.spawn(Echo)
            await k.spawn(Relay, policy="onray")
            return await k.call("relay", Ping(n=1))

    assert Pong(n=2) == trio.run(main)


def test_a_handler_error_on_ray_reaches_the_caller_with_its_message(cluster):
    """The handler's own exception, raised on Ray, is the caller's RemoteError."""

    async def main():
        async with kernel() as k:
            await k.spawn(Crashy, policy="onray")
            with pytest.raises(neuro.RemoteError, match="negative: -1"):
                await k.call("crashy", Ping(n=-1))

    trio.run(main)


def test_node_labels_and_cpus_place_the_actor(cluster):
    """`placement.labels` picks the labelled node; `placement.cpus` is reserved there."""
    pinned = Policy(name="zoneb", sandbox="ray", placement=Placement(labels=("zone=b",), cpus=0.5))

    async def main():
        async with kernel(None, pinned) as k:
            await k.spawn(Where, policy="zoneb")
            return await k.call("where", Ping(n=0))

    place = trio.run(main)
    assert (cluster[1].node_id, {"zone": "b"}) == (place.node, place.labels)
    assert 0.5 == place.resources.get("CPU")


def test_quotas_become_ray_resources(cluster):
    """cpu_share and a custom resource are what Ray reserves for the actor."""
    quota = Policy(name="quota", sandbox="ray", cpu_share=0.25, memory=128 << 20,
                   placement=Placement(resources=("zone_b=0.5",)))

    async def main():
        async with kernel(None, quota) as k:
            await k.spawn(Where, policy="quota")
            return await k.call("where", Ping(n=0))

    place = trio.run(main)
    assert (0.25, 0.5, cluster[1].node_id) == (place.resources.get("CPU"), place.resources.get("zone_b"), place.node)


def test_killing_the_actor_mid_load_loses_no_message(cluster, log_path):
    """Calls queued and in flight when the actor is killed each end in an outcome: the
    queued ones are served by the restarted actor, the one in flight gets an error that
    says Ray killed it (never "may or may not")."""

    async def main():
        outcomes: list = []
        async with kernel(log_path) as k:
            await k.spawn(Counter, policy="onray")
            first = actor_of(k, "counter")

            async def one(i: int) -> None:
                try:
                    outcomes.append(await k.call("counter", Ping(n=20), timeout=60))
                except neuro.NeuroError as e:
                    outcomes.append(e)

            async with trio.open_nursery() as nursery:
                for i in range(30):
                    nursery.start_soon(one, i)
                await wait_for(lambda: len(outcomes) >= 5)
                ray.kill(first, no_restart=True)
            restarted = await k.log.events(name="neuro.restarted")
            return outcomes, restarted, actor_of(k, "counter") != first

    outcomes, restarted, replaced = trio.run(main)
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert 30 == len(outcomes)
    assert len(errors) <= 1
    assert all("ray" in str(e) and "killed" in str(e) and "may or may not" not in str(e) for e in errors)
    assert (["counter"], True) == ([e.neuro for e in restarted], replaced)


def test_removing_a_node_under_load_moves_the_neuro_to_another(cluster, log_path):
    """A node removed while its neuro serves: the supervisor restarts it on the node that
    joins in its place; every call sent meanwhile ends in an outcome."""
    made = cluster[0]
    spot = Policy(name="spot", sandbox="ray", placement=Placement(resources=("spot=0.1",)))

    async def main():
        outcomes: list = []
        # Ray's Cluster calls signal() as it adds a node: only from the main thread, so the
        # kernel waits meanwhile (its calls are queued, not lost).
        node = made.add_node(num_cpus=1, resources={"spot": 1})
        async with kernel(log_path, spot) as k:
            await k.spawn(Counter, policy="spot")
            await k.spawn(Where, policy="spot")
            before = (await k.call("where", Ping(n=0))).node

            async def one() -> None:
                try:
                    outcomes.append(await k.call("counter", Ping(n=10), timeout=120))
                except neuro.NeuroError as e:
                    outcomes.append(e)

            async with trio.open_nursery() as nursery:
                for _ in range(40):
                    nursery.start_soon(one)
                await wait_for(lambda: len(outcomes) >= 5)
                made.remove_node(node)
                fresh = made.add_node(num_cpus=1, resources={"spot": 1})
            after = (await k.call("where", Ping(n=0), timeout=120)).node
        made.remove_node(fresh)
        return outcomes, before, after, node.node_id, fresh.node_id

    outcomes, before, after, old_node, new_node = trio.run(main)
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert 40 == len(outcomes)
    assert len(errors) <= 1
    assert all("node" in str(e) for e in errors)
    assert (old_node, new_node) == (before, after)


def test_a_memory_breach_on_ray_is_a_quota_event_and_a_restart(cluster, log_path):
    """Past its policy's memory the actor is ended by its host: the caller is told the
    limit, `quota.memory` is logged, and the restarted neuro serves again."""
    small = Policy(name="small", sandbox="ray", memory=64 << 20)

    async def main():
        async with kernel(log_path, small) as k:
            await k.spawn(Hog, policy="small")
            with pytest.raises(neuro.NeuroError, match="memory limit") as caught:
                await k.call("hog", Ping(n=256), timeout=60)
            await wait_for(lambda: k.info("hog").state == "running" and k.info("hog").restarts == 1)
            again = await k.call("hog", Ping(n=1), timeout=60)
            return caught.value, await k.log.events(name="quota.memory"), again

    error, quota, again = trio.run(main)
    assert ["hog"] == [e.neuro for e in quota]
    assert Pong(n=1) == again


def test_the_supervisors_intensity_ends_a_crash_loop_on_ray(cluster, log_path):
    """An actor that dies at every call is restarted by its supervisor until its intensity
    (2 restarts in 120 s) is spent; then the supervisor escalates, as for a local neuro."""

    async def main():
        async with kernel(log_path) as k:
            await k.supervise(SupervisorSpec("raysup", [Child(Dies, policy="onray")], max_restarts=2, period=120))
            for crash in range(3):
                await wait_for(lambda: state_of(k, "dies") == "running")
                with pytest.raises(neuro.NeuroError, match="worker process has died"):
                    await k.call("dies", Ping(n=-1), timeout=60)
                await wait_for(lambda: state_of(k, "dies") not in ("crashed", ""))
            with trio.fail_after(60):
                while not await k.log.events(name="supervisor.escalated"):
                    await trio.sleep(0.1)
            return await k.log.events(name="supervisor.escalated"), await k.log.events(name="neuro.restarted")

    escalated, restarted = trio.run(main)
    assert ("dies", "more than 2 restarts in 120 s") == (escalated[0].data["child"], escalated[0].data["limit"])
    assert 2 <= len(restarted)


def test_hot_swap_of_a_ray_placed_neuro_loses_no_call(cluster):
    """Calls made while a Ray-placed neuro is swapped are all answered, by the old version
    before and the new one after; the new one runs in a new actor."""

    async def main():
        answers: list[tuple[int, Pong]] = []
        async with kernel() as k:
            await k.spawn(Echo, policy="onray")
            old = actor_of(k, "echo")
            done = trio.Event()

            async def caller() -> None:
                n = 0
                while not done.is_set():
                    answers.append((n, await k.call("echo", Ping(n=n), timeout=60)))
                    n += 1

            async with trio.open_nursery() as nursery:
                nursery.start_soon(caller)
                await wait_for(lambda: len(answers) >= 3)
                await k.swap("echo", EchoV2)
                swapped_at = len(answers)
                await wait_for(lambda: len(answers) >= swapped_at + 3)
                done.set()
            return answers, swapped_at, actor_of(k, "echo") != old

    answers, swapped_at, new_actor = trio.run(main)
    assert all(reply.n in (n, n + 1000) for n, reply in answers)
    assert all(reply.n == n + 1000 for n, reply in answers[swapped_at + 1:])
    assert new_actor
