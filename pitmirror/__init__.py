"""pitmirror: formal-model-driven verification of a synchronous mirror with a point-in-time journal.

The layers, one import name each (imports run one way: ``spec`` <- ``model`` <- ``checkers``; ``impl``
stands alone, and ``checkers.conformance`` is the one place that sees both ``impl`` and ``model``):

- ``pitmirror.spec``: the abstract state, ``image(n)`` and the property catalogue, with their claims;
- ``pitmirror.model``: the protocol as a state machine, its bounds, seeded bugs and symmetry;
- ``pitmirror.impl``: the reference implementation of both arrays (sans-I/O cores, seeded driver);
- ``pitmirror.checkers``: the engines (explicit, symbolic, conformance), traces, reports and the CLI.
- ``pitmirror.examples``: other models the same engine checks (two-phase commit), through the generic
  interface ``pitmirror.spec.interface`` only.

In the source tree these are the top-level folders ``spec/``, ``model/``, ``impl/`` and ``checkers/``
(the design card's layout); ``pitmirror/`` links them under one name, and a built wheel carries them as
real subpackages of ``pitmirror``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pitmirror")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
