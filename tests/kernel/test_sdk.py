"""The neuro SDK: manifest validation, abstract bases, the decorator form, versions, hooks."""

from __future__ import annotations

import importlib.util
import itertools
import re
import sys
import textwrap
from typing import Union

import pytest
import trio

import neuro
from neuro import sdk
from neuro._manifest import HOOKS, forget_hashes
from neuro.testing import Echo, Ping, Pong


def run(fn):
    return trio.run(fn)


class Tagged(sdk.Message, tag="tagged"):
    n: int


class AlsoTagged(sdk.Message, tag="also"):
    text: str


class Untagged(sdk.Message):
    n: int


class Plain(sdk.Message):
    text: str


# -- manifest errors, pinned by wording ---------------------------------------------------


def test_a_bad_name_is_refused_showing_the_rule_and_the_value():
    """A name with capitals or spaces raises ManifestError naming `name`, the rule and the value."""
    with pytest.raises(neuro.ManifestError) as err:

        class Bad(sdk.Neuro):
            name = "Bad Name"
            input = Ping

            async def handle(self, ctx, msg):
                pass

    message = str(err.value)
    assert message.startswith(f"neuro class {__name__}.")
    assert "Bad: `name` must be a lower-case name like 'echo' or 'learning.eqprop'" in message
    assert message.endswith("got 'Bad Name'")


def test_a_missing_name_is_refused():
    """A neuro class without a name raises ManifestError naming `name`."""
    with pytest.raises(neuro.ManifestError, match="`name` must be a lower-case name .* got None"):

        class Nameless(sdk.Neuro):
            input = Ping

            async def handle(self, ctx, msg):
                pass


def test_a_missing_input_is_refused_saying_what_to_set():
    """A neuro without `input` raises ManifestError saying to set it to a Struct type."""
    with pytest.raises(neuro.ManifestError, match=r"\(no-input\): set `input` to a msgspec Struct type or a union of them$"):

        class NoInput(sdk.Neuro):
            name = "no-input"

            async def handle(self, ctx, msg):
                pass


@pytest.mark.parametrize("field", ["input", "output"])
def test_a_non_struct_message_type_is_refused_with_the_fix(field):
    """`input` or `output` that is not a Struct raises ManifestError naming the field and neuro.sdk.Message."""
    attrs = {"name": "bad-type", "input": Ping, field: dict, "handle": Echo.handle}
    with pytest.raises(neuro.ManifestError) as err:
        type("BadType", (sdk.Neuro,), attrs)
    assert (f"(bad-type): `{field}` must be a msgspec Struct type or a union of them, "
            "got <class 'dict'> (subclass neuro.sdk.Message)") in str(err.value)


def test_an_untagged_union_is_refused_naming_the_untagged_types():
    """A union input with untagged members raises ManifestError listing exactly those members."""
    with pytest.raises(neuro.ManifestError) as err:

        class Mixed(sdk.Neuro):
            name = "mixed"
            input = Union[Tagged, Untagged, Plain]

            async def handle(self, ctx, msg):
                pass

    assert ("(mixed): every type in the `input` union needs a tag so messages can be told apart; "
            "add `tag=True` to Untagged, Plain") in str(err.value)


def test_an_unknown_sandbox_is_refused_listing_the_known_ones():
    """A sandbox nobody provides raises ManifestError listing the sandboxes there are."""
    with pytest.raises(neuro.ManifestError, match=r"\(boxed\): `sandbox` must be one of inproc, process, docker, ray\b.*, got 'vm'$"):

        class Boxed(sdk.Neuro):
            name = "boxed"
            input = Ping
            sandbox = "vm"

            async def handle(self, ctx, msg):
                pass


def test_a_missing_handle_is_refused():
    """A neuro without a handle method raises ManifestError saying which signature to define."""
    with pytest.raises(neuro.ManifestError, match=r"\(idle\): define `handle\(self, ctx, msg\)` to serve messages$"):

        class Idle(sdk.Neuro):
            name = "idle"
            input = Ping


@pytest.mark.parametrize("signature", ["self, msg", "self, ctx, msg, extra", "self"])
def test_handle_with_the_wrong_arity_is_refused(signature):
    """handle that does not take exactly (self, ctx, msg) raises ManifestError naming `handle`."""
    namespace = {}
    exec(f"async def handle({signature}): pass", namespace)
    with pytest.raises(neuro.ManifestError, match=r"\(arity\): `handle` must take exactly \(self, ctx, msg\)$"):
        type("Arity", (sdk.Neuro,), {"name": "arity", "input": Ping, "handle": namespace["handle"]})


def test_handle_with_a_required_keyword_only_parameter_is_refused():
    """handle(self, ctx, msg, *, flag) can never be called by the kernel, so it is refused."""
    with pytest.raises(neuro.ManifestError, match="`handle` must take exactly"):

        class KwHandle(sdk.Neuro):
            name = "kw-handle"
            input = Ping

            async def handle(self, ctx, msg, *, flag):
                pass


def test_init_taking_arguments_is_refused():
    """__init__ with a required argument raises ManifestError: it must build fresh state alone."""
    with pytest.raises(neuro.ManifestError, match=r"\(stateful\): `__init__` must take no arguments; it builds fresh state$"):

        class Stateful(sdk.Neuro):
            name = "stateful"
            input = Ping

            def __init__(self, size):
                self.size = size

            async def handle(self, ctx, msg):
                pass


def test_init_with_only_optional_arguments_is_accepted():
    """__init__ whose arguments all have defaults can be called with none, so it is accepted."""

    class Defaults(sdk.Neuro):
        name = "defaults"
        input = Ping

        def __init__(self, size=3):
            self.size = size

        async def handle(self, ctx, msg):
            pass

    assert "defaults" == Defaults.__manifest__.name


def test_init_with_a_required_keyword_only_argument_is_refused():
    """__init__(self, *, size) cannot be called with no arguments either, so it is refused."""
    with pytest.raises(neuro.ManifestError, match="`__init__` must take no arguments"):

        class KwInit(sdk.Neuro):
            name = "kw-init"
            input = Ping

            def __init__(self, *, size):
                self.size = size

            async def handle(self, ctx, msg):
                pass


def test_migrate_must_be_a_classmethod():
    """A plain-method migrate raises ManifestError showing the classmethod signature."""
    with pytest.raises(neuro.ManifestError, match=r"\(migrating\): `migrate` must be a classmethod: migrate\(cls, old_version, state\)$"):

        class Migrating(sdk.Neuro):
            name = "migrating"
            input = Ping

            async def handle(self, ctx, msg):
                pass

            def migrate(self, old_version, state):
                return state


def test_subscribe_must_be_a_tuple_of_topics():
    """subscribe given as one string raises ManifestError naming `subscribe`."""
    with pytest.raises(neuro.ManifestError, match=r"\(news-reader\): `subscribe` must be a tuple of topic names, got 'news'$"):

        class NewsReader(sdk.Neuro):
            name = "news-reader"
            input = Ping
            subscribe = "news"

            async def handle(self, ctx, msg):
                pass


def test_spawn_refuses_something_that_is_not_a_neuro_class():
    """k.spawn of a plain class raises ManifestError saying a Neuro subclass is needed."""

    async def main():
        async with neuro.Kernel() as k:
            with pytest.raises(neuro.ManifestError, match="spawn takes a Neuro subclass with a manifest, got <class 'int'>"):
                await k.spawn(int)

    run(main)


def test_spawn_refuses_a_name_that_breaks_the_rule():
    """k.spawn(name=...) with an invalid name raises ManifestError quoting it."""

    async def main():
        async with neuro.Kernel() as k:
            with pytest.raises(neuro.ManifestError, match="'Echo Two' is not a valid neuro name"):
                await k.spawn(Echo, name="Echo Two")

    run(main)


# -- what a valid manifest holds ------------------------------------------------------------


def test_the_manifest_is_read_from_the_class_attributes():
    """A neuro's manifest holds its name, types, policy, topics, hooks and handler kind."""
    m = Echo.__manifest__
    assert ("echo", Ping, Pong, "default", (), (), True) == (
        m.name, m.input, m.output, m.policy, m.subscribe, m.hooks, m.is_async)
    assert ("Echo", Echo.__module__) == (m.qualname, m.module)


def test_hooks_are_listed_in_the_manifest():
    """Each optional hook a neuro defines is listed in the manifest, in the SDK's order."""

    class Hooked(sdk.Neuro):
        name = "hooked"
        input = Ping

        async def handle(self, ctx, msg):
            pass

        def selfcheck(self):
            pass

        def snapshot(self):
            return {}

        def restore(self, state):
            pass

        @classmethod
        def migrate(cls, old_version, state):
            return state

        async def sleep(self, ctx):
            pass

        def agree(self, old, new):
            return old == new

    class SomeHooks(sdk.Neuro):
        name = "some-hooks"
        input = Ping

        async def handle(self, ctx, msg):
            pass

        def selfcheck(self):
            pass

    assert ("snapshot", "restore", "migrate", "sleep", "selfcheck", "agree") == HOOKS
    assert HOOKS == Hooked.__manifest__.hooks
    assert ("selfcheck",) == SomeHooks.__manifest__.hooks


def test_a_tagged_union_input_is_accepted_and_decoded_to_the_right_member():
    """A neuro whose input is a union of tagged Structs gets each message as its own type."""

    class Either(sdk.Neuro):
        name = "either"
        input = Union[Tagged, AlsoTagged]
        output = Plain

        async def handle(self, ctx, msg):
            return Plain(text=type(msg).__name__)

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(Either)
            return (await k.call("either", {"type": "also", "text": "x"}), await k.call("either", Tagged(n=1)))

    assert (Plain(text="AlsoTagged"), Plain(text="Tagged")) == run(main)


# -- abstract bases -------------------------------------------------------------------------


class Base(sdk.Neuro, abstract=True):
    """Shared by neuros below: it has no name, so only abstract=True lets it be defined."""

    input = Ping
    output = Pong

    async def handle(self, ctx, msg):
        return Pong(n=msg.n * self.factor)


class Double(Base):
    name = "double"
    factor = 2


def test_an_abstract_base_needs_no_manifest_and_its_subclasses_inherit_from_it():
    """abstract=True skips validation; a subclass with a name inherits input, output and handle."""
    assert "__manifest__" not in vars(Base)
    assert ("double", Ping, Pong) == (Double.__manifest__.name, Double.__manifest__.input, Double.__manifest__.output)


def test_an_abstract_base_cannot_be_spawned_but_its_subclass_can():
    """k.spawn of an abstract base raises ManifestError; its concrete subclass serves."""

    async def main():
        async with neuro.Kernel() as k:
            with pytest.raises(neuro.ManifestError, match="spawn takes a Neuro subclass with a manifest"):
                await k.spawn(Base)
            await k.spawn(Double)
            return await k.call("double", Ping(n=21))

    assert Pong(n=42) == run(main)


# -- the decorator form ---------------------------------------------------------------------


@sdk.neuro(name="dec-async", input=Ping, output=Pong)
async def dec_async(ctx, msg):
    """Doubles n, asynchronously."""
    await trio.lowlevel.checkpoint()
    return Pong(n=msg.n * 2)


@sdk.neuro(name="dec-sync", input=Ping, output=Pong)
def dec_sync(ctx, msg):
    """Adds one to n, synchronously."""
    return Pong(n=msg.n + 1)


def test_the_decorator_makes_a_neuro_class_from_a_function():
    """@sdk.neuro turns a handler function into a Neuro subclass with that manifest and docstring."""
    assert issubclass(dec_async, sdk.Neuro)
    assert ("dec-async", True, "dec_async") == (dec_async.__manifest__.name, dec_async.__manifest__.is_async,
                                                dec_async.__manifest__.qualname)
    assert ("dec-sync", False) == (dec_sync.__manifest__.name, dec_sync.__manifest__.is_async)
    assert "Adds one to n, synchronously." == dec_sync.__doc__


def test_decorated_neuros_serve_calls_sync_and_async():
    """Neuros declared with @sdk.neuro, async or sync, answer calls like class-declared ones."""

    async def main():
        async with neuro.Kernel() as k:
            await k.spawn(dec_async)
            await k.spawn(dec_sync)
            return await k.call("dec-async", Ping(n=5)), await k.call("dec-sync", Ping(n=5))

    assert (Pong(n=10), Pong(n=6)) == run(main)


def test_the_decorator_validates_like_the_class_form():
    """@sdk.neuro with a bad name raises the same ManifestError as a class would."""
    with pytest.raises(neuro.ManifestError, match="`name` must be a lower-case name"):

        @sdk.neuro(name="Shouty", input=Ping)
        def shouty(ctx, msg):
            pass


# -- versions -------------------------------------------------------------------------------

NEURO_SOURCE = '''
from neuro import sdk


class In(sdk.Message):
    n: int


class Versioned(sdk.Neuro):
    name = "versioned"
    input = In

    async def handle(self, ctx, msg):
        return None  # {marker}
'''

_module_numbers = itertools.count()


def import_file(path):
    """Import `path` as a new module each time (as a reload of changed code would)."""
    module_name = f"_neuro_sdk_test_{next(_module_numbers)}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def neuro_file(tmp_path):
    path = tmp_path / "versioned.py"
    path.write_text(textwrap.dedent(NEURO_SOURCE).replace("{marker}", "first"))
    forget_hashes()
    yield path
    forget_hashes()


def test_version_is_a_short_content_hash():
    """version() is 16 hex digits."""
    assert re.fullmatch(r"[0-9a-f]{16}", Echo.version())


def test_version_is_stable_for_unchanged_code(neuro_file):
    """The same file gives the same version, across calls, reimports and forgotten hashes."""
    first = import_file(neuro_file).Versioned.version()
    assert first == import_file(neuro_file).Versioned.version()
    forget_hashes()
    assert first == import_file(neuro_file).Versioned.version()


def test_version_changes_when_the_module_file_changes(neuro_file):
    """After the module's file changes (and cached hashes are forgotten) a reimport has a new version."""
    before = import_file(neuro_file).Versioned.version()
    neuro_file.write_text(neuro_file.read_text().replace("first", "second"))
    forget_hashes()
    assert before != import_file(neuro_file).Versioned.version()


def test_cached_file_hashes_are_kept_until_forgotten(neuro_file):
    """Without forget_hashes(), a changed file still reports the hash cached when it was first read."""
    before = import_file(neuro_file).Versioned.version()
    neuro_file.write_text(neuro_file.read_text().replace("first", "second"))
    assert before == import_file(neuro_file).Versioned.version()


def test_a_neuro_package_version_covers_every_file_in_its_folder(tmp_path):
    """A neuro in a folder with neuro.toml changes version when any .py file of the folder changes."""
    folder = tmp_path / "pkg"
    folder.mkdir()
    (folder / "neuro.toml").write_text("")
    (folder / "helper.py").write_text("FACTOR = 1\n")
    main = folder / "main.py"
    main.write_text(textwrap.dedent(NEURO_SOURCE))
    forget_hashes()
    before = import_file(main).Versioned.version()
    (folder / "helper.py").write_text("FACTOR = 2\n")
    forget_hashes()
    after = import_file(main).Versioned.version()
    forget_hashes()
    assert before != after


def test_the_running_version_is_in_the_process_table():
    """ps() shows the content hash of the code each process runs."""

    async def main():
        async with neuro.Kernel() as k:
            return (await k.spawn(Echo)).version

    assert Echo.version() == run(main)
