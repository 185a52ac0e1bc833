"""``python -m rnninspect``: the same as the ``rnninspect`` command."""

from rnninspect.signals import entry

if __name__ == "__main__":
    entry(prog_name="rnninspect")
