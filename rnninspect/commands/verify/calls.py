"""One forward pass of the implementation under test (torch's module or an ``--impl``), as every
part of verify and bench calls it: what it raises, or a result not shaped as torch's, is a failed
check in one line, never a traceback."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from rnninspect.base.signals import TimeLimitExceeded
from rnninspect.base.text import exception_line
from rnninspect.core.build import UnexpectedResult, run_module
from rnninspect.core.runs import Forward, ImplementationFailed
from rnninspect.model.spec import RNNSpec


def call_module(
    module: nn.Module, spec: RNNSpec, inputs: Mapping[str, Tensor], what: str
) -> dict[str, Tensor]:
    """One forward pass of torch's module or an ``--impl``; what it raises, or a result not
    shaped as torch's, fails the check (exit 1) in one line."""
    try:
        return run_module(module, spec, dict(inputs))
    except UnexpectedResult as exc:
        raise ImplementationFailed(f"the {what}'s forward {exc}") from None
    except SystemExit as exc:
        raise ImplementationFailed(f"the {what}'s forward called exit({exc.code})") from None
    except (KeyboardInterrupt, TimeLimitExceeded):
        raise
    except BaseException as exc:  # user code may raise anything, BaseException's own too
        raise ImplementationFailed(f"the {what}'s forward raised {exception_line(exc)}") from None


def module_forward(module: nn.Module, spec: RNNSpec, what: str) -> Forward:
    return lambda inputs: call_module(module, spec, inputs, what)
