"""The shell's data parts without a screen: the process model's changes and the call form made
from an input type's JSON Schema."""

from __future__ import annotations

import msgspec
import pytest

from neuro.neuros.learning import protocol
from neuro.shell.tui._model import HISTORY, ProcessModel, sparkline
from neuro.shell.tui._schema import FormError, members, payload
from neuro.testing import Ping

from ._fixed import PROCESSES


def test_a_second_look_at_the_same_counters_changes_nothing():
    """Once its rates are 0, a process whose counters stood still yields no change."""
    model = ProcessModel()
    assert set(model.update(PROCESSES, 0.0).added) == {p.name for p in PROCESSES}
    model.update(PROCESSES, 1.0)
    assert model.update(PROCESSES, 2.0).empty


def test_messages_per_second_is_the_growth_of_received():
    """20 more messages received over 2 s is 10 msg/s, in that row's rate cell and sparkline."""
    model = ProcessModel()
    model.update(PROCESSES, 0.0)
    grown = [msgspec.structs.replace(p, received=p.received + 20) if p.name == "echo" else p for p in PROCESSES]
    change = model.update(grown, 2.0)
    assert {"echo"} == set(change.changed)
    assert "10" == change.changed["echo"]["rate"]
    assert "█" == change.changed["echo"]["spark"][-1]


def test_a_gone_process_is_removed_and_a_noted_error_shows():
    """A row whose process left is removed; an error noted for a row is in its next look."""
    model = ProcessModel()
    model.update(PROCESSES, 0.0)
    model.note_error("crashy", "ValueError:\n  negative")
    change = model.update(PROCESSES[1:], 1.0)
    assert ["echo"] == change.removed
    assert "ValueError: negative" == change.changed["crashy"]["last_error"]


def test_sparkline_scales_to_its_maximum_and_keeps_its_width():
    """The highest value is a full block; an idle window is blank."""
    assert HISTORY == len(sparkline([1, 2, 4]))
    assert sparkline([1, 2, 4]).endswith("█")
    assert " " * HISTORY == sparkline([0, 0, 0])


def test_a_union_input_is_one_member_per_tagged_type():
    """The learner protocol's Request union: one member per message, its tag filled in."""
    found = members(msgspec.json.schema(protocol.Request))
    by_title = {m.title: m for m in found}
    assert ("type", "train") == by_title["Train"].tag
    epochs = next(f for f in by_title["Train"].fields if f.name == "epochs")
    assert ("integer", False, 1) == (epochs.kind, epochs.required, epochs.default)
    assert {"type": "train", "epochs": 3} == payload(by_title["Train"], {"epochs": "3"})


def test_a_form_value_of_the_wrong_type_names_its_field():
    """Text where an integer goes, or a required field left empty, is a FormError naming it."""
    ping = members(msgspec.json.schema(Ping))[0]
    with pytest.raises(FormError) as bad:
        payload(ping, {"n": "seven"})
    assert "n" == bad.value.field
    with pytest.raises(FormError, match="n: is required"):
        payload(ping, {"n": ""})
    assert {"n": 7} == payload(ping, {"n": "7"})


def test_without_a_schema_the_form_is_one_json_value():
    """No schema: the payload is the JSON the user typed."""
    form = members(None)[0]
    assert {"n": 1} == payload(form, {"payload": '{"n": 1}'})
    with pytest.raises(FormError, match="expected JSON"):
        payload(form, {"payload": "{n: 1"})


def test_learner_jobs_keep_each_metrics_curve():
    """Progress events make one row per job (newest first) and a falling loss a falling curve."""
    from neuro.shell.tui._curves import LearnerJobs

    jobs = LearnerJobs()
    for step, loss in enumerate([2.0, 1.5, 1.0, 0.5]):
        jobs.add({"neuro": "eqprop", "job": "train-1", "done": step + 1, "total": 4, "metrics": {"loss": loss}})
    jobs.add({"neuro": "council", "job": "j2", "done": 1, "total": 0, "note": "warming", "metrics": {}})
    rows = jobs.rows()
    assert [("council", "j2"), ("eqprop", "train-1")] == [r[:2] for r in rows]
    assert "4/4 (100%)" == rows[1][2] and "loss 0.5" == rows[1][4]
    (line,) = jobs.curves()
    bars = line.split()[2]
    assert list(bars) == sorted(bars, reverse=True) and bars[0] != bars[-1]
    assert "first 2 last 0.5 min 0.5 max 2" in line
