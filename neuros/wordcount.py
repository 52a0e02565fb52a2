"""`wordcount`: counts words in a text and records each word's count with `counter`.

It shows a neuro calling another: every call it makes carries the text's message as its
parent, so `neuro trace ID` shows the whole fan-out.
"""

from __future__ import annotations

import re
from collections import Counter as _Tally

from neuro import sdk

from .counter import Add


class Text(sdk.Message):
    text: str
    record: bool = True  # also add each word's count to the `counter` neuro


class WordCounts(sdk.Message):
    words: int
    distinct: int
    top: list[tuple[str, int]]


class WordCount(sdk.Neuro):
    name = "wordcount"
    input = Text
    output = WordCounts

    async def handle(self, ctx: sdk.Context, msg: Text) -> WordCounts:
        tally = _Tally(re.findall(r"[a-z']+", msg.text.lower()))
        if msg.record:
            for word, n in tally.items():
                await ctx.call("counter", Add(key=word, amount=n), timeout=5.0)
        return WordCounts(words=sum(tally.values()), distinct=len(tally), top=tally.most_common(3))
