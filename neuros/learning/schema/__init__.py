"""Schema induction and conceptual integration (issue 29): frequent relational triples mined from
a knowledge stream (support threshold, max schema size, grown until below the threshold) and
dissimilar schemas blended into new concepts. `SchemaNeuro` (``learning.schema``) in neuro.py;
the experiment (experiment.py) scores recovery of planted schemas. Importing it costs nothing heavy."""

from ..paradigms import Paradigm

PARADIGM = Paradigm(
    name="schema", issue=29,
    task="relational triples recovered from a generated knowledge stream with planted schemas and Zipf noise",
    figure="F1 of the induced schemas' triple patterns against the planted schemas' (precision and recall in extra)",
    baseline="the frequency-only extractor: the k most frequent triple patterns (k = the planted count); "
             "a random-triple extractor in extra",
    experiment="schema.experiment:run", learner="schema.neuro:SchemaNeuro")

__all__ = ["PARADIGM"]
