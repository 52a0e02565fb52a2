"""The public API: `neuro` and `neuro.sdk` export exactly what is documented, and the SDK
shows a neuro author nothing of the kernel's insides."""

from __future__ import annotations

import types

import pytest

import neuro
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
]


def test_neuro_exports_exactly_the_documented_names():
    """neuro.__all__ is the documented list, in order."""
    assert NEURO_API == neuro.__all__


def test_sdk_exports_exactly_the_documented_names():
    """neuro.sdk.__all__ is the documented list, in order."""
    assert SDK_API == neuro.sdk.__all__


@pytest.mark.parametrize("module, name", [(neuro, n) for n in NEURO_API] + [(neuro.sdk, n) for n in SDK_API])
def test_every_exported_name_resolves(module, name):
    """Each name in __all__ is an attribute of its module."""
    assert hasattr(module, name)


def test_star_import_gives_exactly_the_exports():
    """`from neuro import *` binds the documented names and nothing else."""
    namespace: dict = {}
    exec("from neuro import *", namespace)
    namespace.pop("__builtins__")
    assert sorted(NEURO_API) == sorted(namespace)


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
