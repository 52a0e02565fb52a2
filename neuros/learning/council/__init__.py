"""The System 1 / System 2 council (Omni-Zero) as a neuro service: `CouncilNeuro` (name
``learning.council``).

Importing the package does not import torch; the net (`system1.py`, `system2.py`,
`model.py`) and its online loop (`online.py`) load on the first message that needs them.
See docs/learning/council.md.
"""

from .neuro import CouncilNeuro

__all__ = ["CouncilNeuro"]
