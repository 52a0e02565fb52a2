"""The public API: `neuro`, `neuro.sdk` and `neuro.client` export exactly what is documented,
and the SDK shows a neuro author nothing of the kernel's insides."""

from __future__ import annotations

import inspect
import re
import types

import pytest

import neuro
import neuro.client
import neuro.sdk

# The documented API. A change to either list is an API change: update the docs with it.
NEURO_API = [
    "sdk",
    "connect",
    "Kernel",
    "Child",
    "SupervisorSpec",
    "Policy",
    "Envelope",
    "ProcessInfo",
    "KernelStatistics",
    "KernelEvent",
    "LogReader",
    "MessageRecord",
    "EventRecord",
    "TraceNode",
    "NeuroError",
    "ManifestError",
    "NoSuchNeuro",
    "AlreadyRunning",
    "InvalidPayload",
    "MessageTooLarge",
    "MailboxFull",
    "RateLimited",
    "PolicyError",
    "CallTimeout",
    "DeadLetter",
    "RemoteError",
    "SwapFailed",
    "KernelClosed",
    "LogError",
    "SettingError",
    "FlowRefused",
    "EnergyExceeded",
    "SwapReport",
    "VersionInfo",
]
SDK_API = [
    "Message",
    "Neuro",
    "Manifest",
    "neuro",
    "Context",
    "Progress",
    "KernelEvent",
    "NeuroError",
    "ManifestError",
    "NoSuchNeuro",
    "InvalidPayload",
    "CallTimeout",
    "DeadLetter",
    "RemoteError",
    "Reject",
    "FlowRefused",
    "Net",
    "Resources",
]
CLIENT_API = [
    "connect",
    "Client",
    "blocking",
    "run_blocking",
    "Loaded",
    "DaemonNotRunning",
    "ControlError",
]


def _section(doc: str, heading: str) -> str:
    """The list under the line of a docstring that starts with `heading`, to the next blank line."""
    return doc.split(f"\n{heading}", 1)[1].split("\n", 1)[1].split("\n\n", 1)[0]


def _documented(doc: str, heading: str) -> list[str]:
    """The backticked names each bullet under `heading` describes (those before its colon)."""
    heads = re.findall(r"^- (.*?):", _section(doc, heading), flags=re.M)
    return [name for head in heads for name in re.findall(r"`(\w+)`", head)]


def _documented_methods(doc: str) -> list[str]:
    """Every ``name`` in the bullets of the docstring's list of methods."""
    return re.findall(r"``(\w+)``", _section(doc, "Methods"))


def test_neuro_exports_exactly_the_documented_names():
    """neuro.__all__ is the documented list, in order."""
    assert NEURO_API == neuro.__all__


def test_sdk_exports_exactly_the_documented_names():
    """neuro.sdk.__all__ is the documented list, in order."""
    assert SDK_API == neuro.sdk.__all__


def test_client_exports_exactly_the_documented_names():
    """neuro.client.__all__ is the documented list, in order."""
    assert CLIENT_API == neuro.client.__all__


def test_the_client_docstring_lists_exactly_its_exports():
    """The names neuro.client's docstring describes are its exports, in the same order."""
    assert CLIENT_API == _documented(neuro.client.__doc__, "Names:")


def test_the_client_docstring_lists_exactly_the_client_methods():
    """The methods neuro.client's docstring lists are the public methods of Client, each once."""
    methods = sorted(n for n, v in vars(neuro.client.Client).items() if not n.startswith("_") and callable(v))
    listed = _documented_methods(neuro.client.__doc__)
    assert (methods, len(listed)) == (sorted(listed), len(set(listed)))


def test_neuro_connect_is_the_clients():
    """neuro.connect is neuro.client.connect."""
    assert neuro.client.connect is neuro.connect


@pytest.mark.parametrize("module, name", [(neuro, n) for n in NEURO_API] + [(neuro.sdk, n) for n in SDK_API]
                         + [(neuro.client, n) for n in CLIENT_API])
def test_every_exported_name_resolves(module, name):
    """Each name in __all__ is an attribute of its module."""
    assert hasattr(module, name)


@pytest.mark.parametrize("module, names", [("neuro", NEURO_API), ("neuro.client", CLIENT_API)])
def test_star_import_gives_exactly_the_exports(module, names):
    """`from neuro import *` (neuro.client) binds the documented names and nothing else."""
    namespace: dict = {}
    exec(f"from {module} import *", namespace)
    namespace.pop("__builtins__")
    assert sorted(names) == sorted(namespace)


def test_the_sdk_exposes_no_kernel_internals():
    """No public attribute of neuro.sdk is, or comes from, a neuro.kernel module."""

    def origin(value):
        if isinstance(value, types.ModuleType):
            return value.__name__
        return getattr(value, "__module__", None) or ""

    leaks = {name: origin(getattr(neuro.sdk, name)) for name in dir(neuro.sdk) if not name.startswith("__")}
    assert {} == {name: where for name, where in leaks.items()
                  if where == "neuro.kernel" or where.startswith("neuro.kernel.")}


def test_the_sdk_errors_are_the_same_classes_as_neuros():
    """An error caught as neuro.sdk.X is the very class neuro.X, so either spelling catches it."""
    shared = [n for n in SDK_API if n.endswith("Error") or n in ("NoSuchNeuro", "InvalidPayload", "CallTimeout", "DeadLetter")]
    assert [] == [n for n in shared if getattr(neuro.sdk, n) is not getattr(neuro, n)]


def test_every_neuro_error_derives_from_neuro_error():
    """Each exception neuro exports is a NeuroError, so one except clause catches them all."""
    errors = [getattr(neuro, n) for n in NEURO_API if isinstance(getattr(neuro, n), type)
              and issubclass(getattr(neuro, n), BaseException)]
    assert [] == [e.__name__ for e in errors if not issubclass(e, neuro.NeuroError)]


def test_every_client_error_derives_from_neuro_error():
    """Each exception neuro.client exports is a NeuroError, so one except clause catches them all."""
    errors = [getattr(neuro.client, n) for n in CLIENT_API if inspect.isclass(getattr(neuro.client, n))
              and issubclass(getattr(neuro.client, n), BaseException)]
    assert ["DaemonNotRunning", "ControlError"] == [e.__name__ for e in errors if issubclass(e, neuro.NeuroError)]
