"""A huge package dropped in costs the event loop as little as a small one (issue 16): the
watch reports the folder, not each of its files, and the limit on a package's file count is
checked by looking at no more entries than the limit."""

from __future__ import annotations

import os

import pytest

from neuro._neurofile import MAX_PACKAGE_FILES, NeuroFileError, read_neuro_files
from neuro.kernel._loading import _small

from .test_drop_robustness import names, run, source


def _package(folder, files):
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(source("big"))
    for i in range(files - 1):
        (folder / f"m{i:05d}.py").write_text("X = 1\n")
    return folder


def _reports_inside(drop, package):
    """Count the reports that name a file inside the folder `package` (not the folder itself)."""
    inside = []
    report = drop._report

    def counting(kind, paths):
        inside.extend(p for p in paths if p.startswith(str(package) + os.sep) and "__pycache__" not in p)
        report(kind, paths)

    drop._report = counting
    return inside


def test_a_package_moved_in_is_reported_as_one_folder_not_file_by_file(tmp_path):
    """Moved in from outside, then renamed within: no report per file, and the package still loads and
    follows its rename (before: one made-up `created` or `moved` report per file)."""

    async def body(k, drop, folder):
        package = _package(tmp_path / "src" / "big", 600)
        inside = _reports_inside(drop, folder / "big")
        os.rename(package, folder / "big")
        await drop.wait_idle()
        assert ["big"] == [p.name for p in k.ps()]
        assert [] == inside
        inside_renamed = _reports_inside(drop, folder / "big2")
        os.rename(folder / "big", folder / "big2")
        await drop.wait_idle()
        assert [] == inside_renamed
        assert ("big", None) == (drop.running_name("big2"), drop.running_name("big"))

    run(tmp_path, body)


class _CountingScandir:
    """os.scandir, counting the entries that every listing yields."""

    def __init__(self, scandir, seen):
        self.scandir, self.seen = scandir, seen

    def __call__(self, path="."):
        return _Counted(self.scandir(path), self.seen)


class _Counted:
    def __init__(self, it, seen):
        self.it, self.seen = it, seen

    def __iter__(self):
        return self

    def __next__(self):
        item = next(self.it)
        self.seen.append(item.name)
        return item

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.it.close()

    def close(self):
        self.it.close()


def test_the_file_count_limit_looks_at_no_more_entries_than_the_limit(tmp_path, monkeypatch):
    """A package of 4x the limit is refused after at most limit + 1 entries were listed, both by the
    reader and by the loader's size probe (before: every entry, by os.walk)."""
    package = tmp_path / "drop" / "huge"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for i in range(4 * MAX_PACKAGE_FILES):
        (package / f"f{i}.txt").write_bytes(b"")
    seen: list[str] = []
    monkeypatch.setattr(os, "scandir", _CountingScandir(os.scandir, seen))
    with pytest.raises(NeuroFileError, match=f"more than {MAX_PACKAGE_FILES} files"):
        read_neuro_files(str(package), str(package.parent))
    assert 0 < len(seen) <= MAX_PACKAGE_FILES + 1
    seen.clear()
    assert not _small(str(package))
    assert 0 < len(seen) <= 65


def test_excluded_folders_do_not_count_towards_the_limit(tmp_path):
    """A package whose cache folder holds more files than the limit still loads: what is never part of
    a neuro is not counted, by the early check either."""
    package = tmp_path / "drop" / "pkg"
    (package / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text(source())
    for i in range(MAX_PACKAGE_FILES + 5):
        (package / "__pycache__" / f"c{i}.pyc").write_bytes(b"")
    files = read_neuro_files(str(package), str(package.parent))
    assert ["pkg/__init__.py"] == sorted(files)
