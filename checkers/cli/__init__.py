"""The ``pitmirror`` command line (``pitmirror.checkers.cli.main:main``)."""

#: The public API: the package's modules (imported by name, so importing the package stays cheap).
__all__ = ["common", "fuzz", "main", "prove", "serve"]
