"""Meta-learned Hebbian plasticity as a neuro service: `PlasticityNeuro` (``learning.plasticity``).

Importing the package does not import torch; the genome, the cortex and the outer loop load
on the first message that needs them. See docs/learning/plasticity.md.
"""

from .neuro import PlasticityNeuro

__all__ = ["PlasticityNeuro"]
