"""Loading a neuro from a file or a package folder, and every way a file is refused."""

from __future__ import annotations

import os
import sys
import textwrap

import pytest

from neuro._manifest import hash_files
from neuro._neurofile import NeuroFileError, load_neuro_files, load_neuro_path

ECHO = """\
from neuro import sdk

class Ping(sdk.Message):
    text: str

class Echo(sdk.Neuro):
    name = "echo"
    input = Ping
    output = Ping
    calls = []

    def handle(self, ctx, msg):
        return Ping(text="v1:" + msg.text)
"""


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def refused(path, folder):
    with pytest.raises(NeuroFileError) as info:
        load_neuro_path(path, folder)
    return info.value


def test_module_loads_with_its_manifest_name_and_content_hash(tmp_path):
    """A module file loads as its one Neuro class, named by its manifest, versioned by its bytes."""
    path = write(tmp_path / "whatever.py", ECHO)
    loaded = load_neuro_path(path, tmp_path)
    assert ("echo", hash_files({"whatever.py": path.read_bytes()}), {"whatever.py": path.read_bytes()}) == (
        loaded.name, loaded.version, loaded.files)
    assert loaded.version == loaded.cls.version()
    assert str(path) == loaded.path


def test_each_load_is_a_module_of_its_own(tmp_path):
    """Two loads of one file never share module state: the old version keeps its own."""
    path = write(tmp_path / "echo.py", ECHO)
    first, second = load_neuro_path(path, tmp_path), load_neuro_path(path, tmp_path)
    first.cls.calls.append("old")
    assert [] == second.cls.calls
    assert first.module != second.module
    assert first.module.startswith("neuro_drop.echo_")


def test_package_folder_takes_its_manifest_from_neuro_toml(tmp_path):
    """A package folder's neuro.toml sets name, policy and replay; relative imports work."""
    write(tmp_path / "pkg" / "__init__.py", "from .impl import Upper\n")
    write(tmp_path / "pkg" / "impl.py", """\
        from __future__ import annotations
        from neuro import sdk

        class Text(sdk.Message):
            text: str

        class Upper(sdk.Neuro):
            input = Text
            output = Text

            def handle(self, ctx, msg: Text) -> Text:
                return Text(text=msg.text.upper())
        """)
    write(tmp_path / "pkg" / "neuro.toml", 'name = "upper"\npolicy = "default"\nreplay = 5\n')
    loaded = load_neuro_path(tmp_path / "pkg", tmp_path)
    assert ("upper", "default", 5) == (loaded.name, loaded.cls.__manifest__.policy, loaded.replay)
    assert ["pkg/__init__.py", "pkg/impl.py", "pkg/neuro.toml"] == list(loaded.files)


def test_neuro_toml_picks_the_class_when_the_code_has_several(tmp_path):
    """`neuro = "Class"` in neuro.toml picks which of several neuro classes runs."""
    write(tmp_path / "two" / "__init__.py", ECHO + textwrap.dedent("""
        class Other(sdk.Neuro):
            name = "other"
            input = Ping

            def handle(self, ctx, msg):
                return None
        """))
    write(tmp_path / "two" / "neuro.toml", 'neuro = "Other"\n')
    assert "other" == load_neuro_path(tmp_path / "two", tmp_path).name


def test_unknown_neuro_toml_key_is_refused_naming_file_and_key(tmp_path):
    """An unknown key in neuro.toml is an error naming the file and the key."""
    write(tmp_path / "pkg" / "__init__.py", ECHO)
    toml = write(tmp_path / "pkg" / "neuro.toml", 'nmae = "echo"\n')
    error = refused(tmp_path / "pkg", tmp_path)
    assert f"{toml}: invalid neuro.toml: Object contains unknown field `nmae`" == str(error)


def test_wrong_type_in_neuro_toml_is_refused_naming_the_key(tmp_path):
    """A key of the wrong type in neuro.toml names the key's path."""
    write(tmp_path / "pkg" / "__init__.py", ECHO)
    toml = write(tmp_path / "pkg" / "neuro.toml", "policy = 3\n")
    assert f"{toml}: invalid neuro.toml: Expected `str | null`, got `int` - at `$.policy`" == str(
        refused(tmp_path / "pkg", tmp_path))


def test_neuro_toml_and_code_disagreeing_on_a_key_is_refused(tmp_path):
    """A name set both in neuro.toml and in the class, differently, is a manifest error."""
    init = write(tmp_path / "pkg" / "__init__.py", ECHO)
    write(tmp_path / "pkg" / "neuro.toml", 'name = "other"\n')
    error = refused(tmp_path / "pkg", tmp_path)
    assert (str(init), 6) == (error.file, error.line)
    assert "neuro.toml sets name = 'other' but the class sets name = 'echo'; set it in one place" in error.error


def test_symlink_outside_the_folder_is_refused(tmp_path):
    """A symlink that points outside the folder is refused, naming it and what to do."""
    outside = write(tmp_path / "elsewhere" / "echo.py", ECHO)
    folder = tmp_path / "drop"
    folder.mkdir()
    os.symlink(outside, folder / "echo.py")
    assert (f"{folder / 'echo.py'}: a symlink pointing outside the folder (to {outside}) is refused: copy the "
            "file into the folder instead") == str(refused(folder / "echo.py", folder))


def test_symlink_inside_the_folder_is_allowed(tmp_path):
    """A symlink to a file inside the folder loads like the file."""
    write(tmp_path / "_real.py", ECHO)
    os.symlink(tmp_path / "_real.py", tmp_path / "echo.py")
    assert "echo" == load_neuro_path(tmp_path / "echo.py", tmp_path).name


def test_dotdot_in_a_name_is_refused(tmp_path):
    """A file name with '..' in it is refused."""
    path = write(tmp_path / "a..b.py", ECHO)
    assert f"{path}: a name with '..' is refused: name neuro files plainly, inside the folder" == str(
        refused(path, tmp_path))


def test_file_over_one_mebibyte_is_refused(tmp_path):
    """A file over 1 MiB is refused before it is read as code."""
    path = write(tmp_path / "big.py", ECHO + "#" * (1 << 20))
    assert (f"{path}: the file is {path.stat().st_size} bytes, over the 1 MiB limit for neuro code: keep data out "
            "of the neuro file and load it at run time") == str(refused(path, tmp_path))


def test_file_with_nul_bytes_is_refused_as_binary(tmp_path):
    """A file with NUL bytes is refused as binary."""
    path = tmp_path / "bin.py"
    path.write_bytes(b"\x7fELF\x00\x00")
    assert f"{path}: a binary file (it contains NUL bytes) is refused: a neuro is UTF-8 Python source" == str(
        refused(path, tmp_path))


def test_file_that_is_not_utf8_is_refused_naming_the_line(tmp_path):
    """A file that is not UTF-8 is refused, with the line of the first bad byte."""
    path = tmp_path / "latin.py"
    path.write_bytes(b"x = 1\ny = '\xe9'\n")
    assert f"{path}:2: a binary file (not valid UTF-8) is refused: a neuro is UTF-8 Python source" == str(
        refused(path, tmp_path))


def test_syntax_error_names_file_line_and_text(tmp_path):
    """A syntax error names the file, the line and the offending text."""
    path = write(tmp_path / "broken.py", ECHO.replace('return Ping(text="v1:" + msg.text)', "return Ping(text="))
    assert f"{path}:13: syntax error: '(' was never closed: return Ping(text=" == str(refused(path, tmp_path))


def test_syntax_error_in_a_package_submodule_refuses_the_package(tmp_path):
    """A syntax error in any module of a package refuses the whole package, even unimported ones."""
    write(tmp_path / "pkg" / "__init__.py", ECHO)
    bad = write(tmp_path / "pkg" / "unused.py", "def f(:\n")
    error = refused(tmp_path / "pkg", tmp_path)
    assert (str(bad), 1) == (error.file, error.line)


def test_import_time_exception_names_file_line_and_traceback(tmp_path):
    """An exception at import names the file and line and carries the traceback."""
    path = write(tmp_path / "boom.py", ECHO + "raise RuntimeError('no config')\n")
    error = refused(path, tmp_path)
    assert (f"{path}:14: import failed: RuntimeError: no config", str(path), 14) == (str(error), error.file,
                                                                                     error.line)
    assert "RuntimeError: no config" in error.traceback and str(path) in error.traceback


def test_manifest_error_names_the_class_line(tmp_path):
    """A bad manifest is refused with the line of the class and the manifest's own message."""
    path = write(tmp_path / "bad.py", ECHO.replace('name = "echo"', 'name = "Echo!"'))
    error = refused(path, tmp_path)
    assert (str(path), 6) == (error.file, error.line)
    assert error.error.startswith("manifest error: neuro class neuro_drop.bad_")
    assert "`name` must be a lower-case name like 'echo'" in error.error


def test_file_without_a_neuro_is_refused(tmp_path):
    """A module that defines no Neuro subclass is refused."""
    path = write(tmp_path / "plain.py", "x = 1\n")
    assert f"{path}: defines no neuro: subclass neuro.sdk.Neuro and give it a name and an input type" == str(
        refused(path, tmp_path))


def test_file_with_two_neuros_is_refused(tmp_path):
    """A module with two Neuro subclasses is refused: one neuro per file."""
    path = write(tmp_path / "two.py", ECHO + ECHO.split("class Echo")[1].join(["\nclass Echo2", ""]).replace(
        '"echo"', '"echo2"'))
    assert (f"{path}: defines 2 neuros (Echo, Echo2); keep one per file, mark base classes abstract=True, or name "
            'the one to run in neuro.toml: neuro = "<class>"') == str(refused(path, tmp_path))


def test_failed_load_leaves_no_module_behind(tmp_path):
    """A refused version leaves nothing in sys.modules."""
    before = {m for m in sys.modules if m.startswith("neuro_drop.boom")}
    refused(write(tmp_path / "boom.py", ECHO + "1 / 0\n"), tmp_path)
    assert before == {m for m in sys.modules if m.startswith("neuro_drop.boom")}


def test_stored_source_loads_again_for_rollback(tmp_path):
    """A version's stored files load again as a fresh class of the same name and version."""
    loaded = load_neuro_path(write(tmp_path / "echo.py", ECHO), tmp_path)
    (tmp_path / "echo.py").unlink()  # the stored bytes are enough
    again = load_neuro_files(loaded.files, "neuro_rollback.echo_x")
    assert ("echo", loaded.version) == (again.__manifest__.name, again.version())
    assert again is not loaded.cls


def test_folder_relative_stored_source_loads_as_a_package(tmp_path):
    """Stored files without a folder name (``__init__.py``, ``impl.py``) load as a package."""
    files = {"__init__.py": b"from .impl import Echo\n", "impl.py": ECHO.encode()}
    assert "echo" == load_neuro_files(files, "echo_v2").__manifest__.name
