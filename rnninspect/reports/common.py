"""What every command's report shares: the versions it ran with. No torch import."""

from __future__ import annotations

import platform

from rnninspect import __version__


def versions(torch_version: str) -> dict[str, str]:
    """The contract's ``versions``: rnninspect, torch and python."""
    return {"rnninspect": __version__, "torch": torch_version, "python": platform.python_version()}
