"""Equilibrium propagation as a neuro service: `EqPropNeuro` (name ``learning.eqprop``).

Importing the package does not import torch; the model (`model.py`) and its training loop
(`train.py`) load on the first message that needs them. See docs/learning/eqprop.md.
"""

from .neuro import EqPropNeuro

__all__ = ["EqPropNeuro"]
