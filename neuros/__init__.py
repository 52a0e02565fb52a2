"""Built-in neuros: small utilities, and (in `learning`) every learning system as a service."""

from .counter import Counter
from .echo import Echo
from .flaky import Flaky
from .wordcount import WordCount

__all__ = ["Echo", "Counter", "WordCount", "Flaky", "BUILTINS"]

BUILTINS = (Echo, Counter, WordCount, Flaky)
