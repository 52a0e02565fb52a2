"""The schema experiment: relational triples recovered from a generated stream with planted schemas.

Figure: F1 of the triple patterns the induced schemas hold against the planted schemas'
patterns. Baseline: the frequency-only extractor, the k most frequent patterns with k the
number of planted patterns (told the answer's size, which favours it). Extra: precision and
recall of both, a random-triple extractor's F1, the schema-level F1 (a schema counts only when
it equals a planted one), per-episode F1 on held-out episodes (Predict's job), and how many
concepts conceptual integration blended.
"""

from __future__ import annotations

from ..paradigms import Outcome
from .blend import integrate, schema_representations
from .config import SchemaConfig
from .induce import frequent_triples, induce
from .score import explained, prf, schema_prf
from .stream import generate

__all__ = ["run"]


def run(quick: bool, seed: int) -> Outcome:
    import numpy as np

    if quick:
        sizes = dict(episodes=600, schemas=4, rates=(0.2, 0.3), noise_per_episode=6.0)
        cfg = SchemaConfig(seed=seed)
    else:
        sizes = dict(episodes=4000, schemas=8, rates=(0.08, 0.16), noise_per_episode=10.0, noise_patterns=120)
        cfg = SchemaConfig(seed=seed, min_support=0.05)
    n = sizes["episodes"]
    stream, held = generate(seed=seed, **{**sizes, "episodes": n + n // 4}).split(n)
    x = stream.matrix()
    vocab = stream.vocabulary
    planted = [tuple(sorted(vocab.index(p) for p in s)) for s in stream.planted]
    truth = {i for s in planted for i in s}
    schemas = [s for s, _ in induce(x, cfg.min_support, cfg.max_size, cfg.min_size, cfg.min_lift)]
    mined = prf({i for s in schemas for i in s}, truth)
    freq = prf(set(frequent_triples(x, len(truth))), truth)
    rng = np.random.default_rng(seed)
    seen = np.flatnonzero(x.sum(0) > 0)
    rand = prf({int(i) for i in rng.choice(seen, len(truth), replace=False)}, truth)
    xh, yh = held.matrix(), held.truth()
    pred = explained(xh, schemas, cfg.match_share)
    tp = float((pred & yh).sum())
    p, r = tp / max(1.0, float(pred.sum())), tp / max(1.0, float(yh.sum()))
    blended, _, _ = integrate(schema_representations(schemas, len(vocab), seed=seed), cfg.blend_probability,
                              cfg.blend_threshold, seed=seed)
    extra = {"precision": mined["precision"], "recall": mined["recall"], "frequency_precision": freq["precision"],
             "frequency_recall": freq["recall"], "random_f1": rand["f1"], "schema_f1": schema_prf(schemas, planted)["f1"],
             "episode_f1": 2 * p * r / (p + r) if p + r else 0.0, "schemas_found": float(len(schemas)),
             "schemas_planted": float(len(planted)), "blends": float(len(blended))}
    return Outcome(figure=mined["f1"], baseline=freq["f1"], unit="F1", higher_is_better=True, margin=0.15,
                   extra=extra, note=f"{sizes['episodes']} episodes, {len(planted)} planted schemas")
