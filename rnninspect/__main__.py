"""``python -m rnninspect``: the same as the ``rnninspect`` command.

``python -m`` puts the current directory first on ``sys.path``, where a ``json.py`` or
``torch.py`` of a cloned repository would shadow the real one; it is taken off before anything
else is imported. ``--impl package.module:Name`` still resolves from the current directory,
appended to the path, as with the ``rnninspect`` command.
"""

import os
import sys

_here = os.getcwd()
sys.path[:] = [entry for entry in sys.path if entry not in ("", _here)]

from rnninspect.entry import entry  # noqa: E402

if __name__ == "__main__":
    entry(prog_name="rnninspect")
