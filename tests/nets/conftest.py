"""Fixtures for the net tests: the test neuros on the import path, and the daemon fixtures of
tests/daemon/conftest.py (a real daemon in a real subprocess, the `neuro` command)."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.append(str(HERE.parent))  # tests/arith_neuros.py, shared with the other suite

_spec = importlib.util.spec_from_file_location("_daemon_fixtures", HERE.parent / "daemon" / "conftest.py")
_daemon = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_daemon)

home = _daemon.home
daemon = _daemon.daemon
neuro_cmd = _daemon.neuro_cmd
