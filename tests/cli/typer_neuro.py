"""A neuro the CLI tests spawn by this file's path (with --trusted)."""

from neuro import sdk


class Typed(sdk.Message):
    flag: bool
    items: list[int]
    ratio: float = 1.0
    note: str | None = None
    count: int = 0


class Types(sdk.Message):
    """What arrived: each field's value and its Python type's name."""

    values: dict
    types: dict


class Typer(sdk.Neuro):
    """Answers with the values it got and their types, so a test sees how key=value was typed."""

    name = "typer"
    input = Typed
    output = Types

    async def handle(self, ctx, msg):
        fields = ("flag", "items", "ratio", "note", "count")
        return Types(values={f: getattr(msg, f) for f in fields},
                     types={f: type(getattr(msg, f)).__name__ for f in fields})
