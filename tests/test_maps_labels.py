"""The one zh/en label registry: pages register under a prefix, and a key never silently changes its text."""

from __future__ import annotations

import pytest

from gridmgmt import labels


def test_a_prefix_keeps_page_labels_apart_and_labels_of_reads_a_page() -> None:
    """Labels registered under a prefix are read back per language, keyed without the prefix."""
    labels.register_labels({"title": {"zh": "测试页", "en": "Test page"}}, prefix="test_page.")
    assert labels.label("test_page.title", "en") == "Test page"
    assert labels.labels_of("test_page.", "zh") == {"title": "测试页"}
    with pytest.raises(KeyError, match="language"):
        labels.labels_of("test_page.", "fr")


def test_registering_a_key_again_needs_the_same_texts() -> None:
    """The same texts may be registered twice (a reload); other texts for a taken key are an error."""
    labels.register_labels({"test_twice": {"zh": "两次", "en": "Twice"}})
    labels.register_labels({"test_twice": {"zh": "两次", "en": "Twice"}})
    with pytest.raises(ValueError, match="already registered"):
        labels.register_labels({"test_twice": {"zh": "两次", "en": "twice"}})
    assert labels.label("test_twice", "en") == "Twice"


def test_every_page_registers_without_conflict() -> None:
    """Importing every page that registers labels leaves the registry whole (no key claimed twice)."""
    import gridmgmt.loop.overview
    import gridmgmt.patrol.route_map
    import gridmgmt.patrol.sheets
    import gridmgmt.risk.risk_map  # noqa: F401

    assert labels.label("overview.risk", "en") == "Risk levels"
    assert labels.label("risk", "en") == "Risk"
    assert labels.label("sheet.mode.ebike", "en") == "e-bike"
