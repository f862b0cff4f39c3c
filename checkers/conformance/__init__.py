"""Conformance: the reference implementation run against the model in lockstep (through the abstraction function),
and the Hypothesis stateful fuzzer that drives both. The one place in ``checkers`` that sees ``impl`` and
``model`` together.
"""

#: The public API: the package's modules (imported by name, so importing the package stays cheap).
__all__ = ["fuzz", "lockstep"]
