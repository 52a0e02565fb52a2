"""The suite's neuros and policies on the import path (as tests/nets does)."""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
