"""Declaring a neuro: the `Neuro` base class, its manifest and its version hash.

A neuro is a class. Its class attributes are the manifest; its `handle` method serves
messages; optional methods are the hooks. Everything is checked when the class is defined,
so a bad declaration fails at import with an error that names the field and the fix.
"""

from __future__ import annotations

import re
import sys
import types
import typing
from typing import Any, Callable, ClassVar

import msgspec

from ._errors import ManifestError
from ._identity import class_files, hash_files, neuro_root

__all__ = ["Message", "Neuro", "Manifest", "neuro", "HOOKS", "SANDBOXES", "hash_files", "source_files"]

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_\-]{0,62}(\.[a-z][a-z0-9_\-]{0,62})*$")
HOOKS = ("snapshot", "restore", "migrate", "sleep", "selfcheck", "agree")
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
    artifacts: tuple[str, ...] = ()  # files that are not code, relative to the neuro's folder
    dream: dict[str, Any] | None = None  # the checked `dream = {...}` (neuro.dream); None: not dreamt of


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
    - ``artifacts``: files that are not code (weights, vocabularies, data), by path relative
      to the neuro's folder: ``("weights.bin", "data/vocab.txt")``. They are part of its
      version, stored with it, and reach it read-only: ``ctx.artifact("weights.bin")`` is
      the path to read. The policy's ``artifact_bytes`` bounds their size.
    - ``dream``: let the dream daemon distil this neuro into a faster version of it:
      ``{"agreement": 0.98, "speedup": 20, "cascade": True, "min_traces": 2000, "every": "10m"}``
      (every key optional, checked here; docs/dream.md). None (the default): never.

    Methods:

    - ``handle(self, ctx, msg)``: serve one message; sync or ``async``. Its return value is
      the reply. An exception crashes this instance: the caller gets a typed error and the
      supervisor restarts it.
    - hooks, all optional: ``snapshot(self) -> state``, ``restore(self, state)``,
      ``migrate(cls, old_version, state) -> state`` (a classmethod), ``async sleep(self, ctx)``
      (dream consolidation), ``selfcheck(self)`` (raise if this version must not go live),
      ``agree(self, old, new) -> bool`` (whether two answers, as plain data, agree at the replay gate).

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
    artifacts: ClassVar[tuple[str, ...]] = ()
    dream: ClassVar[dict[str, Any] | bool | None] = None

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
        """The content hash of this neuro: its code (its module file, or its package folder,
        without tests and caches) and its declared artifacts (see `neuro._identity`)."""
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
    from ._artifactfiles import check_artifact_names

    artifacts = check_artifact_names(cls.artifacts, f"{where} ({name})")
    dream = _dream_settings(cls.dream, f"{where} ({name})")
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
        artifacts=artifacts,
        dream=dream,
    )


def _dream_settings(value: Any, where: str) -> dict[str, Any] | None:
    """A class's `dream` checked (neuro.dream's settings: only msgspec; imported only when set)."""
    if value is None:
        return None
    from neuro.dream._settings import check_dream

    return check_dream(value, where)


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


# (module file, where the neuro is) -> (its files, the folder its artifacts are in), read once.
_class_sources: dict[tuple[str, Any], tuple[dict[str, bytes], str] | None] = {}


def _sources(cls: type) -> tuple[dict[str, bytes], str] | None:
    module = sys.modules.get(cls.__module__)
    path = getattr(module, "__file__", None)
    if not path:
        return None
    key = (path, neuro_root(cls))
    if key not in _class_sources:
        _class_sources[key] = class_files(cls)
    return _class_sources[key]


def source_files(cls: type) -> dict[str, bytes] | None:
    """The files an imported neuro is made of (the one layout of `neuro._identity`), or None
    without a file. Read once per module file, so what is stored is what was hashed."""
    found = _sources(cls)
    return dict(found[0]) if found is not None else None


def class_artifacts(cls: type) -> dict[str, Any] | None:
    """The declared artifacts of an imported class (path -> `neuro._artifactfiles.Artifact`),
    found and hashed in its folder (blocking) and kept on the class; None when it declares
    some but has no folder (defined in a REPL)."""
    if "__neuro_artifacts__" in vars(cls):
        return cls.__neuro_artifacts__
    names = cls.__manifest__.artifacts if "__manifest__" in vars(cls) else ()
    if not names:
        return {}
    found = _sources(cls)
    if found is None:
        return None
    from ._artifactfiles import hash_artifacts

    cls.__neuro_artifacts__ = hash_artifacts(found[1], names, checked=False)
    return cls.__neuro_artifacts__


def _content_hash(cls: type) -> str:
    """The version of an imported class: its files and declared artifacts (hashed once per
    file content; the artifacts found are kept on the class for the kernel to store).

    A class with no file behind it (defined in a REPL) hashes its own source, or its name.
    """
    found = _sources(cls)
    if found is not None:
        from ._artifactfiles import artifact_hashes

        return hash_files(found[0], artifact_hashes(class_artifacts(cls)))
    import hashlib
    import inspect

    try:
        text = inspect.getsource(cls)
    except (OSError, TypeError):
        text = f"{cls.__module__}.{cls.__qualname__}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def forget_hashes() -> None:
    """Drop the cached files of imported neuros (after a file changed on disk)."""
    _class_sources.clear()


def neuro(
    *,
    name: str,
    input: Any,
    output: Any = None,
    policy: str = "default",
    sandbox: str | None = None,
    subscribe: tuple[str, ...] = (),
    artifacts: tuple[str, ...] = (),
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
            "artifacts": artifacts,
            "handle": handle,
            "__module__": fn.__module__,
            "__qualname__": fn.__qualname__,
            "__doc__": fn.__doc__,
        }
        return type(fn.__name__, (Neuro,), attrs)

    return wrap
