"""``eager``: the module as it is, called as torch calls it; today's verify."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from rnninspect.core.runtimes.base import Prepared, RuntimeOptions, call
from rnninspect.model.spec import RNNSpec


def prepare(
    module: nn.Module, spec: RNNSpec, inputs: Mapping[str, Tensor], settings: RuntimeOptions
) -> Prepared:
    return Prepared(call(module), True, "eager", dict(module.named_parameters()))
