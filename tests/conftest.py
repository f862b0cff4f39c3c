"""Shared fixtures. Tests name the patent claims they exercise with ``@pytest.mark.claims(...)``; the
claims traceability table (``pitmirror claims``) is generated from those marks."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "claims(*numbers): the claims of US 7,139,851 this test exercises")
