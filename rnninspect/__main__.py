"""``python -m rnninspect``: the same as the ``rnninspect`` command."""

from rnninspect.cli import main

if __name__ == "__main__":
    main(prog_name="rnninspect")
