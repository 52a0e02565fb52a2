"""An intent router over text (one neuro in its file, so a stored version of it loads again)."""

from typing import Literal

from neuro import sdk


class Word(sdk.Message):
    text: str


class Label(sdk.Message):
    intent: Literal["greet", "bye", "other"]


class Router(sdk.Neuro):
    name = "router"
    input = Word
    output = Label
    dream = {"agreement": 0.95, "speedup": 1.5, "min_traces": 60, "cascade": True, "student": "linear", "replay": 10}

    def handle(self, ctx, msg: Word) -> Label:
        t = msg.text.lower()
        checksum = 0
        for i in range(6000):  # work a student skips
            checksum = (checksum * 31 + i) % 1_000_003
        if "hello" in t or "hi " in t:
            return Label(intent="greet")
        if "bye" in t:
            return Label(intent="bye")
        return Label(intent="other")
