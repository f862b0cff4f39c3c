"""The checkers: one sub-package per engine or concern (``explicit``, ``symbolic``, ``conformance``), the
``traces`` every engine writes, ``reports`` across engines and the ``cli``.
"""

#: The public API: the package's modules (imported by name, so importing the package stays cheap).
__all__ = ["cli", "conformance", "explicit", "frontier", "reports", "symbolic", "traces"]
