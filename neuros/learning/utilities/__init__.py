"""Training utilities for the learners and the dream daemon (issue 29, seed sections 8.7, 8.11, 9.5).

    kfold_indices, cross_validate      k-fold cross-validation with deterministic splits (kfold.py)
    grid_search, random_search         hyperparameter search over a space of options (search.py)
    EvolutionTrainer                   mutate and select configs, with a lineage graph (evolution.py)
    soft_targets, distillation_loss,   teacher -> student with a temperature (distill.py); `distill`
    distill                            returns dense layers in the dream daemon's student format

Not a paradigm (no neuro of its own): plain functions over numpy arrays and callables, so any
learner, experiment or the dream daemon can call them. numpy and torch are imported inside the
functions that need them; importing this package costs neither.
"""

from .distill import distill, distillation_loss, soft_targets, student_logits
from .evolution import EvolutionTrainer, Individual
from .kfold import cross_validate, kfold_indices
from .search import SearchResult, Trial, grid_search, random_search

__all__ = [
    "kfold_indices", "cross_validate",
    "grid_search", "random_search", "SearchResult", "Trial",
    "EvolutionTrainer", "Individual",
    "soft_targets", "distillation_loss", "distill", "student_logits",
]
