"""Other models checked by pitmirror's generic engine (``pitmirror.spec.interface``), to show the engine is
not welded to the mirror and to test it on protocols whose answers are known.

- ``two_phase_commit``: the TLA+ ``TwoPhase`` spec (Gray and Lamport), resource managers and a transaction
  manager exchanging messages; run ``python -m pitmirror.examples.two_phase_commit``.

An example imports only the engine interface and the explicit engine (``tests/test_layers.py`` checks it).
"""

__all__ = ["two_phase_commit"]
