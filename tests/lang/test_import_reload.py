"""Hot reload follows imports: editing a `.neuro` file of a drop folder that another imports
recompiles the importer and swaps its net; a file with no net is a library (nothing runs, no
error); a library edit that breaks the importer leaves its old net serving."""

from __future__ import annotations

import importlib.util
import pathlib

import trio

import neuro

from running import events

# The inc neuro file and `running` of test_dropfolder.py (by path: tests/nets has a module of that name).
_spec = importlib.util.spec_from_file_location("_lang_dropfolder", pathlib.Path(__file__).parent / "test_dropfolder.py")
_dropfolder = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_dropfolder)
INC, running = _dropfolder.INC, _dropfolder.running

LIB = "fn bump(v: int) -> int = v + {step}\n"
MAIN = '''use inc
import "lib.neuro"

net main(n) {
    a = inc(n)
    return {x: bump(a.x)}
}
'''


def test_editing_an_imported_file_swaps_the_net_that_imports_it(tmp_path):
    """main imports lib's `bump`: 1 -> 2 + 10; lib edited to + 100: 1 -> 102; lib broken: still 102."""
    folder = tmp_path / "neuros"
    folder.mkdir()
    (folder / "inc.py").write_text(INC)
    (folder / "lib.neuro").write_text(LIB.format(step=10))
    (folder / "main.neuro").write_text(MAIN)
    log = tmp_path / "run.db"

    async def main():
        async with neuro.Kernel(log=log, trusted_dirs=[folder]) as k:
            [drop] = k.drop_folders()
            await drop.wait_idle()
            got = [(await k.call("main", {"x": 1})).x]
            first = k.info("main").version
            (folder / "lib.neuro").write_text(LIB.format(step=100))
            await drop.wait_idle()
            got.append((await k.call("main", {"x": 1})).x)
            second = k.info("main").version
            (folder / "lib.neuro").write_text("fn bump(v: int) -> int = v +\n")
            await drop.wait_idle()
            got.append((await k.call("main", {"x": 1})).x)
            return got, first != second, second == k.info("main").version, running(k)

    got, swapped, kept, names = trio.run(main)
    assert [12, 102, 102] == got
    assert (True, True) == (swapped, kept)
    assert "lib" not in names  # a library runs nothing
    assert 1 == len([e for e in events(log, "drop.swapped") if (e.get("file") or "").endswith("main.neuro")])
    errors = {(e.get("file") or "").rsplit("/", 1)[-1] for e in events(log, "drop.error")}
    assert {"lib.neuro", "main.neuro"} == errors  # the broken library, and the importer it breaks
