"""The ``pitmirror`` command line (``pitmirror.checkers.cli.main:main``)."""
