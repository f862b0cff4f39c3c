"""The checkers: one sub-package per engine or concern (``explicit``, ``symbolic``, ``conformance``), the
``traces`` every engine writes, ``reports`` across engines and the ``cli``.
"""
