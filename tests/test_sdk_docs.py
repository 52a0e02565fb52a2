"""docs/sdk.md names every SDK export, manifest field, hook and context member."""

from __future__ import annotations

import inspect
from pathlib import Path

import msgspec

import neuro.sdk as sdk
from neuro._manifest import HOOKS, Manifest

DOC = (Path(__file__).resolve().parent.parent / "docs" / "sdk.md").read_text()


def _documented(names: list[str]) -> list[str]:
    """The names docs/sdk.md does not show as `name`."""
    return [n for n in names if f"`{n}`" not in DOC]


def test_every_export_is_documented():
    assert [] == _documented(list(sdk.__all__))


def test_every_manifest_field_is_documented():
    assert [] == _documented([f.name for f in msgspec.structs.fields(Manifest)])


def test_every_hook_is_documented_with_its_signature():
    assert [] == _documented(list(HOOKS))
    assert [] == [h for h in HOOKS if f"def {h}(" not in DOC]


def test_every_context_member_is_documented():
    members = [name for name, _ in inspect.getmembers(sdk.Context) if not name.startswith("_")]
    assert [] == _documented(members)
