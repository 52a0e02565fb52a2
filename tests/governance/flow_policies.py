"""The policies the flow-attempt suite runs its neuros under (kept out of flow_neuros.py, which
is shipped into the sandbox and imports only the SDK)."""

from __future__ import annotations

from typing import Any

import msgspec
import neuro
from neuro.kernel._governance import Egress, LabelRules
from neuro.kernel._policy import Capabilities


def _policy(name: str, **fields: Any) -> neuro.Policy:
    base = neuro.Policy(name=name, sandbox="process", sandboxes=("process",))
    return msgspec.structs.replace(base, **fields)


PRIVATE = LabelRules(clearance=("private",))
POLICIES = {
    "vault": _policy("vault", labels=LabelRules(outputs=("private",), clearance=("private",))),
    "relay": _policy("relay", labels=PRIVATE),
    "uploader": _policy("uploader", labels=PRIVATE, capabilities=Capabilities(network=True)),
    "outsider": _policy("outsider", labels=LabelRules()),
    "scrubber": _policy("scrubber", labels=LabelRules(clearance=("private",), declassify=("private",))),
    "courier": _policy("courier", labels=LabelRules(clearance=("private",), egress=Egress(network=("private",))),
                       capabilities=Capabilities(network=True)),
}
