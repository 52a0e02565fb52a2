"""The toy learner of toy_learners.py as one neuro file, for `neuro spawn PATH` in the CLI tests
(a neuro file defines one neuro; toy_learners.py defines several)."""

import importlib.util
import pathlib
import sys

_path = pathlib.Path(__file__).with_name("toy_learners.py")
_spec = importlib.util.spec_from_file_location("neuro_test_toy_learners", _path)
_toys = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _toys
_spec.loader.exec_module(_toys)


class CliToy(_toys.Toy):
    """The numpy toy learner, in the daemon's process."""

    name = "toy"
