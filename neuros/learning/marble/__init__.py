"""MARBLE's core and Neuronenblitz as a neuro service: `MarbleNeuro` (``learning.marble``)
and its parallel wanderer `MarbleWanderer` (``learning.marble.wanderer``).

Importing the package imports neither numpy nor torch; the net (`blitz.py` on `core.py`)
loads on the first message that needs it. See docs/learning/marble.md.
"""

from .neuro import MarbleNeuro
from .wanderer import MarbleWanderer

__all__ = ["MarbleNeuro", "MarbleWanderer"]
