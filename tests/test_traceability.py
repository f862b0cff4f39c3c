"""The claims traceability table is generated, complete, and checked in up to date."""

from __future__ import annotations

from pathlib import Path

from pitmirror.checkers.reports import traceability
from pitmirror.spec.properties import PROPERTIES

ROOT = Path(__file__).resolve().parent.parent


def test_every_claim_has_a_row_and_every_property_claim_shows() -> None:
    rows = traceability.build(ROOT / "tests")
    assert [r.claim for r in rows] == list(range(1, 29))
    for p in PROPERTIES:
        for c in p.claims:
            assert p.name in rows[c - 1].properties


def test_marked_tests_are_found() -> None:
    found = traceability.claims_of_tests(ROOT / "tests")
    assert any("test_every_mutant_is_caught" in t for t in found)


def test_checked_in_table_is_up_to_date() -> None:
    expected = traceability.markdown(traceability.build(ROOT / "tests"))
    actual = (ROOT / "docs" / "TRACEABILITY.md").read_text()
    assert actual == expected, "run: pitmirror claims --markdown docs/TRACEABILITY.md"
