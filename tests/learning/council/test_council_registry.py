"""learning.council is an installed learner: its entry point in the group neuro.learners, read
without importing it."""

from __future__ import annotations

from neuro.neuros.learning import registry


def test_the_council_is_installed_under_its_entry_point_with_its_docstring_line():
    """installed() lists `council` -> CouncilNeuro, described by its class docstring's first line."""
    entry = registry.installed()["council"]
    assert "neuro.neuros.learning.council.neuro:CouncilNeuro" == entry.spec
    assert entry.description.startswith("System 1 (a small transformer) and System 2 (a pondering council)")
