"""A generated text corpus: sentences of a small grammar, as characters. numpy.

"the cat sees a red ball." - a subject (with a number the verb agrees with), a verb, an object
with an optional adjective, and at times a place. Enough structure that context helps a lot
(a word, once begun, is nearly fixed; the verb agrees), nothing downloaded.
"""

from __future__ import annotations

from typing import Any

__all__ = ["sentences", "corpus", "Vocab"]

_SUBJECTS = [("the cat", "s"), ("the dog", "s"), ("a bird", "s"), ("my friend", "s"), ("the cats", "p"),
             ("the dogs", "p"), ("two birds", "p"), ("we", "p"), ("they", "p")]
_VERBS = ["see", "like", "chase", "find", "want", "hold"]
_ADJECTIVES = ["red", "big", "small", "green", "old"]
_OBJECTS = ["ball", "box", "tree", "house", "stone", "apple"]
_PLACES = ["in the garden", "near the river", "at home", "on the hill"]


def sentences(n: int, seed: int) -> list[str]:
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        subject, number = _SUBJECTS[rng.integers(len(_SUBJECTS))]
        verb = _VERBS[rng.integers(len(_VERBS))] + ("s" if number == "s" else "")
        adjective = _ADJECTIVES[rng.integers(len(_ADJECTIVES))] + " " if rng.random() < 0.5 else ""
        words = [subject, verb, "the" if rng.random() < 0.5 else "a", adjective + _OBJECTS[rng.integers(len(_OBJECTS))]]
        if rng.random() < 0.3:
            words.append(_PLACES[rng.integers(len(_PLACES))])
        out.append(" ".join(words) + ".")
    return out


def corpus(n: int, seed: int) -> str:
    """n sentences joined by spaces."""
    return " ".join(sentences(n, seed))


class Vocab:
    """Characters <-> ids; its alphabet is every character the grammar can write."""

    def __init__(self) -> None:
        self.chars = sorted(set(corpus(400, 0)) | set("abcdefghijklmnopqrstuvwxyz ."))
        self.index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> Any:
        import numpy as np

        unknown = sorted(set(text) - set(self.index))
        if unknown:
            raise ValueError(f"characters {unknown!r} are not in the vocabulary ({''.join(self.chars)!r})")
        return np.array([self.index[c] for c in text], np.int64)

    def decode(self, ids: Any) -> str:
        return "".join(self.chars[int(i)] for i in ids)
