"""A data set from the event log: a neuro's handled calls, inputs and outputs, split by time.

    d = from_log("tutor", log="run.db")            # blocking: read the file (a kernel may run on it)
    d = await from_kernel(ctx.kernel, "tutor")     # from inside a neuro granted "info" and "messages"
    d = load("fromlog", neuro="tutor", log="run.db")

Only the calls its current version handled count (`version=` names another); the oldest
ones are `train` and the newest `held_out` fraction `test`, so a learner distilled from them
is judged on calls it came after. A payload becomes a row of numbers where it is numbers: a
number, a list of them, a learner protocol `Array` (``{"shape", "dtype", "data"}``), or a
struct of those (its fields in order; `x_field`/`y_field` pick one by a dotted path, and the
``type`` tag of a tagged struct is left out). Where every input (output) is such a row of the
same length, `x` (`y`) is a float32 array (N, D) (`y` of one whole number a call: int64
labels (N,)); otherwise it is an object array of the decoded payloads. The task is
``classification`` for labels, ``regression`` for numbers and ``recall`` otherwise (say
`task=` to choose). Its hash covers the records' content, not the log's path.
"""

from __future__ import annotations

from typing import Any

from .registry import Dataset, DatasetError, make

__all__ = ["from_log", "from_kernel", "FACTORIES"]

DEFAULT_LIMIT = 10_000


def from_log(neuro: str, *, log: str, version: str | None = None, held_out: float = 0.2, limit: int = DEFAULT_LIMIT,
             since: float | None = None, until: float | None = None, task: str | None = None,
             x_field: str | None = None, y_field: str | None = None) -> Dataset:
    """The handled calls to `neuro` in the log file `log` (blocking; see the module)."""
    from neuro import LogReader

    with LogReader(str(log)) as reader:
        if version is None:
            newest = reader.messages(neuro=neuro, kind="call", outcome="handled", limit=1, newest_first=True)
            version = newest[0].version if newest else None
        records = reader.messages(neuro=neuro, kind="call", outcome="handled", since=since, until=until,
                                  limit=limit, newest_first=True)
    return _dataset(neuro, version, records, held_out, task, x_field, y_field)


async def from_kernel(kernel: Any, neuro: str, *, version: str | None = None, held_out: float = 0.2,
                      limit: int = DEFAULT_LIMIT, since: float | None = None, until: float | None = None,
                      task: str | None = None, x_field: str | None = None, y_field: str | None = None) -> Dataset:
    """The same, through `kernel` (``ctx.kernel`` in a neuro whose policy grants ``info`` and
    ``messages``, or a `neuro.connect()` client): the running version unless `version`."""
    if version is None:
        try:
            version = (await kernel.info(neuro)).version
        except Exception:  # noqa: BLE001 - not running: the version that handled its newest call
            newest = await kernel.messages(neuro=neuro, kind="call", outcome="handled", limit=1, newest_first=True)
            version = newest[0].version if newest else None
    records = await kernel.messages(neuro=neuro, kind="call", outcome="handled", since=since, until=until,
                                    limit=limit, newest_first=True)
    return _dataset(neuro, version, records, held_out, task, x_field, y_field)


def _from_log_factory(*, neuro: str, log: str, **options: Any) -> Dataset:
    return from_log(neuro, log=log, **options)


_from_log_factory.cacheable = False  # type: ignore[attr-defined]  # the log grows: read it at every load
FACTORIES = {"fromlog": _from_log_factory}


def _dataset(neuro: str, version: str | None, records: list[Any], held_out: float, task: str | None,
             x_field: str | None, y_field: str | None) -> Dataset:
    import numpy as np

    if not 0.0 < held_out < 1.0:
        raise DatasetError(f"held_out is the fraction of the newest calls kept for test, in (0, 1); got {held_out!r}")
    if version is not None:
        records = [r for r in records if r.version == version]
    records = sorted(records, key=lambda r: r.id)  # oldest first: the split is by time
    if len(records) < 2:
        raise DatasetError(f"the log has {len(records)} handled call(s) to {neuro!r}"
                           f"{f' at version {version}' if version else ''}; a data set needs at least 2 "
                           "(one to train on, one held out): call it more, or name another version=")
    xs = _column([_pick(r.payload, x_field) for r in records])
    ys = _column([_pick(r.reply, y_field) for r in records])
    labels = ys.dtype.kind in "iu" and ys.ndim == 2 and ys.shape[1] == 1
    if labels:
        ys = ys[:, 0]
    if task is None:
        task = "classification" if labels else "regression" if ys.dtype.kind == "f" else "recall"
    n_test = max(1, int(round(len(records) * held_out)))
    cut = len(records) - n_test
    parts = {"train": (xs[:cut], ys[:cut]), "test": (xs[cut:], ys[cut:])}
    classes = int(ys.max()) + 1 if labels and len(ys) else 0
    numeric = xs.dtype != object and xs.size
    return make(f"fromlog:{neuro}", task, parts, classes=classes,
                input_range=(float(xs.min()), float(xs.max())) if numeric else (0.0, 0.0),
                options={"neuro": neuro, "version": version, "held_out": held_out, "x_field": x_field,
                         "y_field": y_field, "first_id": records[0].id, "last_id": records[-1].id},
                meta={"source": f"the event log: calls to {neuro} handled by version {version}",
                      "split_time": repr(records[cut].time)})


def _pick(value: Any, path: str | None) -> Any:
    if path:
        for part in path.split("."):
            if not isinstance(value, dict) or part not in value:
                raise DatasetError(f"a logged payload has no field {path!r} (at {part!r}); its fields: "
                                   f"{', '.join(value) if isinstance(value, dict) else type(value).__name__}")
            value = value[part]
    return value


def _numbers(value: Any) -> list[float] | None:
    """The payload as a flat row of numbers, or None where it is not numbers."""
    import numpy as np

    if isinstance(value, bool):
        return [float(value)]
    if isinstance(value, (int, float)):
        return [value]
    if isinstance(value, dict):
        if {"shape", "dtype", "data"} <= value.keys() and isinstance(value["data"], bytes):
            try:
                arr = np.frombuffer(value["data"], dtype=np.dtype(value["dtype"]).newbyteorder("<"))
                return arr.reshape(-1).tolist()
            except (TypeError, ValueError):
                return None
        row: list[float] = []
        for key, item in value.items():
            if key == "type" and isinstance(item, str):
                continue  # a tagged struct's tag
            part = _numbers(item)
            if part is None:
                return None
            row += part
        return row
    if isinstance(value, list):
        row = []
        for item in value:
            part = _numbers(item)
            if part is None:
                return None
            row += part
        return row
    return None


def _column(values: list[Any]) -> Any:
    """(N, D) numbers where every value is a row of D numbers, else (N,) objects."""
    import numpy as np

    rows = [_numbers(v) for v in values]
    if rows and all(r is not None for r in rows) and len({len(r) for r in rows}) == 1 and rows[0]:  # type: ignore[arg-type]
        whole = all(isinstance(v, int) and not isinstance(v, bool) for r in rows for v in r)  # type: ignore[union-attr]
        return np.asarray(rows, dtype=np.int64 if whole else np.float32)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out
