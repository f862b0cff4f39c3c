"""``python -m pitmirror``: the same command line as the ``pitmirror`` script."""

from pitmirror.checkers.cli.main import main

if __name__ == "__main__":
    main()
