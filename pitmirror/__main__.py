"""``python -m pitmirror``: the same command line as the ``pitmirror`` script."""

try:
    from pitmirror.checkers.cli.main import main
except KeyboardInterrupt:  # Ctrl-C while the command line is still loading: interrupted, not a traceback
    raise SystemExit(130) from None

if __name__ == "__main__":
    main()
