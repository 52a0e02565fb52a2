"""Declaring a neuro: the `Neuro` base class, its manifest and its version hash.

A neuro is a class. Its class attributes are the manifest; its `handle` method serves
messages; optional methods are the hooks. Everything is checked when the class is defined,
so a bad declaration fails at import with an error that names the field and the fix.
"""

from __future__ import annotations

import os
import re
import sys
import types
import typing
from typing import Any, Callable, ClassVar

import msgspec

from ._errors import ManifestError

__all__ = ["Message", "Neuro", "Manifest", "neuro", "HOOKS", "SANDBOXES"]

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_\-]{0,62}(\.[a-z][a-z0-9_\-]{0,62})*$")
HOOKS = ("snapshot", "restore", "migrate", "sleep", "selfcheck")
SANDBOXES = ("inproc", "process", "docker", "ray")


class Message(msgspec.Struct, forbid_unknown_fields=True):
    """Base for message types: a msgspec Struct that refuses unknown fields.

    Give each message type of a union a tag: ``class Train(Message, tag="train")``.
    A new field gets a default; an existing field never changes type.
    """


class Manifest(msgspec.Struct, frozen=True):
    """What the kernel knows about a neuro class, read from its class attributes."""

    name: str
    input: Any
    output: Any
    policy: str
    sandbox: str | None
    policy_overrides: dict[str, Any]
    subscribe: tuple[str, ...]
    hooks: tuple[str, ...]
    is_async: bool
    module: str
    qualname: str
    source_path: str | None


class Neuro:
    """Subclass this to declare a neuro.

    Class attributes (the manifest):

    - ``name``: unique, lower case, dots allowed (``"echo"``, ``"learning.eqprop"``).
    - ``input``: a msgspec Struct type, or a union of tagged Struct types.
    - ``output``: the reply type (``None`` for a neuro that never replies with data).
    - ``policy``: the resource policy's name (default ``"default"``).
    - ``policy_overrides``: single policy fields to change for this neuro (``{"wall_time": 2}``).
    - ``sandbox``: where it runs: ``"inproc"`` (trusted), ``"process"``, ``"docker"``, ``"ray"``;
      ``None`` (the default) lets the policy choose.
    - ``subscribe``: topics whose events are delivered to ``handle`` like messages.
    - ``replay``: before a new version goes live, replay this many logged calls through it
      and compare its answers with the old version's (0: no replay gate).
    - ``replay_tolerance``: how far numbers in the answers may differ (0: exactly equal).

    Methods:

    - ``handle(self, ctx, msg)``: serve one message; sync or ``async``. Its return value is
      the reply. An exception crashes this instance: the caller gets a typed error and the
      supervisor restarts it.
    - hooks, all optional: ``snapshot(self) -> state``, ``restore(self, state)``,
      ``migrate(cls, old_version, state) -> state`` (a classmethod), ``async sleep(self, ctx)``
      (dream consolidation), ``selfcheck(self)`` (raise if this version must not go live).

    ``__init__`` takes no arguments: it builds the fresh state of one instance.
    A subclass meant only as a base for others passes ``abstract=True``.
    """

    name: ClassVar[str]
    input: ClassVar[Any]
    output: ClassVar[Any] = None
    policy: ClassVar[str] = "default"
    policy_overrides: ClassVar[dict[str, Any]] = {}
    sandbox: ClassVar[str | None] = None
    subscribe: ClassVar[tuple[str, ...]] = ()
    replay: ClassVar[int] = 0
    replay_tolerance: ClassVar[float] = 0.0

    __manifest__: ClassVar[Manifest]
    __version_cache__: ClassVar[str | None] = None

    def __init_subclass__(cls, abstract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if abstract:
            return
        cls.__manifest__ = _read_manifest(cls)
        cls.__version_cache__ = None

    def handle(self, ctx: Any, msg: Any) -> Any:  # pragma: no cover - always overridden
        raise NotImplementedError

    @classmethod
    def version(cls) -> str:
        """The content hash of this neuro's code: its module file, or its package folder."""
        cached = cls.__dict__.get("__version_cache__")
        if cached is None:
            cached = _content_hash(cls)
            cls.__version_cache__ = cached
        return cached


def _read_manifest(cls: type[Neuro]) -> Manifest:
    where = f"neuro class {cls.__module__}.{cls.__qualname__}"
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ManifestError(
            f"{where}: `name` must be a lower-case name like 'echo' or 'learning.eqprop' "
            f"(letters, digits, '_', '-', dots between parts), got {name!r}"
        )
    if "input" not in _class_attrs(cls):
        raise ManifestError(f"{where} ({name}): set `input` to a msgspec Struct type or a union of them")
    _check_message_type(where, name, "input", cls.input, allow_none=False)
    _check_message_type(where, name, "output", cls.output, allow_none=True)
    if not isinstance(cls.policy, str) or not cls.policy:
        raise ManifestError(f"{where} ({name}): `policy` must be a policy name such as 'default', got {cls.policy!r}")
    if cls.sandbox is not None and cls.sandbox not in SANDBOXES:
        raise ManifestError(
            f"{where} ({name}): `sandbox` must be one of {', '.join(SANDBOXES)} or None (the policy's choice), "
            f"got {cls.sandbox!r}"
        )
    if not isinstance(cls.policy_overrides, dict) or not all(isinstance(k, str) for k in cls.policy_overrides):
        raise ManifestError(f"{where} ({name}): `policy_overrides` must be a dict of policy fields, "
                            f"got {cls.policy_overrides!r}")
    subscribe = cls.subscribe
    if isinstance(subscribe, str) or not all(isinstance(t, str) and t for t in subscribe):
        raise ManifestError(f"{where} ({name}): `subscribe` must be a tuple of topic names, got {subscribe!r}")
    handle = getattr(cls, "handle", None)
    if handle is None or handle is Neuro.handle:
        raise ManifestError(f"{where} ({name}): define `handle(self, ctx, msg)` to serve messages")
    if _positional_count(handle) != 3 or _required_keywords(handle):
        raise ManifestError(f"{where} ({name}): `handle` must take exactly (self, ctx, msg)")
    init = cls.__init__
    if init is not object.__init__ and (_positional_count(init, required=True) > 1 or _required_keywords(init)):
        raise ManifestError(f"{where} ({name}): `__init__` must take no arguments; it builds fresh state")
    migrate = _static_attr(cls, "migrate")
    if migrate is not None and not isinstance(migrate, (classmethod, staticmethod)):
        raise ManifestError(f"{where} ({name}): `migrate` must be a classmethod: migrate(cls, old_version, state)")
    hooks = tuple(h for h in HOOKS if callable(getattr(cls, h, None)))
    module = sys.modules.get(cls.__module__)
    path = getattr(module, "__file__", None)
    return Manifest(
        name=name,
        input=cls.input,
        output=cls.output,
        policy=cls.policy,
        sandbox=cls.sandbox,
        policy_overrides=dict(cls.policy_overrides),
        subscribe=tuple(subscribe),
        hooks=hooks,
        is_async=_is_coroutine_function(handle),
        module=cls.__module__,
        qualname=cls.__qualname__,
        source_path=path,
    )


# `inspect` costs ~10 ms to import; these three facts come straight from the code object.
_CO_COROUTINE = 0x0080


def _is_coroutine_function(fn: Any) -> bool:
    code = getattr(fn, "__code__", None)
    return bool(code is not None and code.co_flags & _CO_COROUTINE)


def _positional_count(fn: Any, required: bool = False) -> int:
    code = getattr(fn, "__code__", None)
    if code is None:
        return 1 if required else 3  # a builtin or C slot: nothing to check
    n = code.co_argcount
    if required:
        n -= len(getattr(fn, "__defaults__", None) or ())
    return n


def _required_keywords(fn: Any) -> int:
    code = getattr(fn, "__code__", None)
    if code is None:
        return 0
    return code.co_kwonlyargcount - len(getattr(fn, "__kwdefaults__", None) or {})


def _static_attr(cls: type, name: str) -> Any:
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    return None


def _class_attrs(cls: type) -> set[str]:
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is Neuro:
            break
        names.update(vars(klass))
    return names


def _check_message_type(where: str, name: str, field: str, tp: Any, allow_none: bool) -> None:
    if tp is None and allow_none:
        return
    members = typing.get_args(tp) if _is_union(tp) else (tp,)
    bad = [m for m in members if not (isinstance(m, type) and issubclass(m, msgspec.Struct))]
    if bad:
        raise ManifestError(
            f"{where} ({name}): `{field}` must be a msgspec Struct type or a union of them, "
            f"got {tp!r} (subclass neuro.sdk.Message)"
        )
    if len(members) > 1:
        untagged = [m.__name__ for m in members if m.__struct_config__.tag is None]
        if untagged:
            raise ManifestError(
                f"{where} ({name}): every type in the `{field}` union needs a tag so messages can be "
                f"told apart; add `tag=True` to {', '.join(untagged)}"
            )
    try:
        msgspec.msgpack.Decoder(tp)
    except (TypeError, ValueError) as e:
        raise ManifestError(f"{where} ({name}): `{field}` type {tp!r} cannot be decoded: {e}") from None


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


_file_hashes: dict[str, str] = {}


def hash_files(files: dict[str, bytes]) -> str:
    """The content hash of a neuro's code: relative paths and bytes, in path order."""
    import hashlib

    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(rel.encode())
        h.update(files[rel])
    return h.hexdigest()[:16]


def source_files(cls: type) -> dict[str, bytes] | None:
    """The files a neuro is made of (relative path -> bytes), or None without a file."""
    module = sys.modules.get(cls.__module__)
    path = getattr(module, "__file__", None)
    if not path:
        return None
    folder = os.path.dirname(path)
    if os.path.basename(path) == "__init__.py" or os.path.exists(os.path.join(folder, "neuro.toml")):
        files = {}
        for f in _python_files(folder):
            with open(f, "rb") as fh:
                files[os.path.relpath(f, folder)] = fh.read()
        return files
    with open(path, "rb") as fh:
        return {os.path.basename(path): fh.read()}


def _content_hash(cls: type) -> str:
    """Hash the code a neuro is made of: its package folder's .py files, or its module file.

    A class with no file behind it (defined in a REPL) hashes its own source, or its name.
    """
    module = sys.modules.get(cls.__module__)
    key = getattr(module, "__file__", None)
    if key:
        if key not in _file_hashes:
            files = source_files(cls)
            _file_hashes[key] = hash_files(files or {})
        return _file_hashes[key]
    import hashlib
    import inspect

    try:
        text = inspect.getsource(cls)
    except (OSError, TypeError):
        text = f"{cls.__module__}.{cls.__qualname__}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _python_files(folder: str) -> list[str]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        found.extend(os.path.join(root, f) for f in files if f.endswith(".py"))
    return found


def forget_hashes() -> None:
    """Drop cached file hashes (after a file changed on disk)."""
    _file_hashes.clear()


def neuro(
    *,
    name: str,
    input: Any,
    output: Any = None,
    policy: str = "default",
    sandbox: str | None = None,
    subscribe: tuple[str, ...] = (),
) -> Callable[[Callable[..., Any]], type[Neuro]]:
    """Declare a stateless neuro from one handler function ``(ctx, msg) -> reply``.

    >>> @neuro(name="echo", input=EchoIn, output=EchoOut)
    ... async def echo(ctx, msg):
    ...     return EchoOut(text=msg.text)
    """

    def wrap(fn: Callable[..., Any]) -> type[Neuro]:
        if _is_coroutine_function(fn):

            async def handle(self: Any, ctx: Any, msg: Any) -> Any:
                return await fn(ctx, msg)

        else:

            def handle(self: Any, ctx: Any, msg: Any) -> Any:
                return fn(ctx, msg)

        attrs = {
            "name": name,
            "input": input,
            "output": output,
            "policy": policy,
            "sandbox": sandbox,
            "subscribe": subscribe,
            "handle": handle,
            "__module__": fn.__module__,
            "__qualname__": fn.__qualname__,
            "__doc__": fn.__doc__,
        }
        return type(fn.__name__, (Neuro,), attrs)

    return wrap
