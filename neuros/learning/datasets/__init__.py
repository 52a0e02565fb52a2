"""Named data sets for every learner: shipped with a package, generated, or from the log.

    from neuro.neuros.learning import datasets

    d = datasets.load("digits")              # a Dataset; d.train.x, d.train.y, d.test.x, ...
    d.task, d.input_shape, d.classes, d.hash
    datasets.names()                          # ['diabetes', 'digits', 'iris', ...]
    datasets.register("mine", factory)        # factory(**options) -> Dataset (see `make`)
    datasets.from_log("tutor", log="run.db")  # a neuro's handled calls, split by time

Names: `load`, `names`, `register`, `make`, `from_log`, `from_kernel`, `Dataset`, `Split`,
`DatasetError`, `TASKS`. numpy and scikit-learn are imported only when a data set is made.
docs/learning/datasets.md describes each data set.
"""

from .fromlog import from_kernel, from_log
from .registry import TASKS, Dataset, DatasetError, Split, content_hash, load, make, names, register

__all__ = ["load", "names", "register", "make", "from_log", "from_kernel", "Dataset", "Split", "DatasetError",
           "TASKS", "content_hash"]
