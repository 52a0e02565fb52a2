"""Neuro-Net: neuros composed into typed graphs, memoised by version, with lineage on every edge.

Declare a net with `neuro.sdk.Net` (or a TOML file, `load_toml`), `build` it (every check
happens there), then run it as a neuro: ``await kernel.spawn(built.neuro())``. See docs/nets.md.
"""

from ._built import Built, build, class_resolver
from ._expr import ExprError, compile_expr
from ._graph import NetError, Problem, Signature
from ._memo import Memo, MemoStatistics, content_hash
from ._toml import NetFileError, load_toml, read_toml

__all__ = ["Built", "build", "class_resolver", "NetError", "Problem", "Signature", "Memo", "MemoStatistics",
           "content_hash", "ExprError", "compile_expr", "load_toml", "read_toml", "NetFileError"]
