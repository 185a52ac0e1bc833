"""What verify and bench take besides the configuration, as the CLI, the matrix file and the
Python API give it: validated on construction, so a bad value is refused before anything runs.

Apart from the engines (``verification``, ``bench``) so that the reports, which record the options
a case ran with, never import an engine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from torch import Tensor

from rnninspect.core import devices, runtimes
from rnninspect.core.impl import Factory
from rnninspect.core.runtimes.base import RuntimeOptions
from rnninspect.model.spec import SpecError

#: How much verify's timing line may cost: nothing, about what the parity work took (at least
#: QUICK_SECONDS in all), or bench's careful 0.2 s a timing.
TIMINGS = ("off", "quick", "full")
QUICK_SECONDS = 0.05
FULL_SECONDS_EACH = 0.2


def _check_threads(threads: int | None) -> None:
    if threads is not None and not (isinstance(threads, int) and threads >= 1):
        raise SpecError(f"--threads must be a whole number of threads >= 1, got {threads}")


@dataclass(frozen=True)
class VerifyOptions:
    """Everything ``verify`` takes besides the configuration; defaults as the CLI's."""

    device: str = "cpu"
    dtype: str = "float32"
    impl: str | Factory | None = None
    atol: float | None = None
    rtol: float | None = None
    reference_dtype: str = "float64"
    zero_state: bool = False
    weight_scale: float = 1.0
    tf32: bool = False
    timing: str | bool = "quick"  # off, quick or full; True is quick, False off
    max_memory: int | None = None
    weights: Mapping[str, Tensor] | None = None
    weights_source: str | None = None
    timeout: float | None = None
    runtimes: tuple[str, ...] | str | None = ("eager",)
    exporter: str | None = None
    compile_backend: str | None = None
    fullgraph: bool = False
    other_seq_len: int | None = None
    other_batch: int | None = None
    save_artifact: str | None = None
    onnx: str | None = None
    threads: int | None = None

    @property
    def runtime_options(self) -> RuntimeOptions:
        """What the runtimes take of these options."""
        return RuntimeOptions(
            exporter=self.exporter,
            compile_backend=self.compile_backend,
            fullgraph=self.fullgraph,
            other_seq_len=self.other_seq_len,
            other_batch=self.other_batch,
            save_artifact=self.save_artifact,
        )

    def __post_init__(self) -> None:
        object.__setattr__(self, "runtimes", runtimes.parse(self.runtimes))
        if self.exporter not in (None, "dynamo", "legacy"):
            raise SpecError(f"--exporter must be dynamo or legacy, got {self.exporter!r}")
        for name in ("other_seq_len", "other_batch"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or not 1 <= value <= 10**6):
                raise SpecError(f"--{name.replace('_', '-')} must be an integer in [1, 10**6]")
        if isinstance(self.timing, bool):
            object.__setattr__(self, "timing", "quick" if self.timing else "off")
        if self.timing not in TIMINGS:
            raise SpecError(f"--timing must be one of {', '.join(TIMINGS)}, got {self.timing!r}")
        if self.fullgraph and "compile" not in self.runtimes:  # type: ignore[operator]
            raise SpecError("--fullgraph is torch.compile's: it needs --runtime compile")
        for name in ("zero_state", "tf32", "fullgraph"):
            if not isinstance(getattr(self, name), bool):
                value = getattr(self, name)
                raise SpecError(
                    f"{name} must be true or false, got {value!r} (a {type(value).__name__})"
                )
        _check_threads(self.threads)
        if self.timeout is not None and not (0 < self.timeout < float("inf")):
            raise SpecError(f"--timeout must be a number of seconds > 0, got {self.timeout}")
        if self.weights is not None and self.weight_scale != 1.0:
            raise SpecError(
                "--weight-scale scales torch's initialisation; it does not apply to --weights"
            )
        for name in ("atol", "rtol"):
            value = getattr(self, name)
            if value is not None and not (value >= 0 and value != float("inf")):
                raise SpecError(f"--{name} must be a finite number >= 0, got {value}")
        if not (self.weight_scale > 0 and self.weight_scale != float("inf")):
            raise SpecError(f"--weight-scale must be a finite number > 0, got {self.weight_scale}")
        if self.reference_dtype not in ("float64", "same"):
            raise SpecError(
                f"--reference-dtype must be float64 or same, got {self.reference_dtype!r}"
            )
        devices.dtype_named(self.dtype)


@dataclass(frozen=True)
class BenchOptions:
    """Everything ``bench`` takes besides the configuration; defaults as the CLI's."""

    device: str = "cpu"
    dtype: str = "float32"
    backward: bool = False
    min_time: float = 0.2
    peak_gflops: float | None = None
    tf32: bool = False
    max_memory: int | None = None
    weights: Mapping[str, Tensor] | None = None
    weights_source: str | None = None
    runtimes: tuple[str, ...] | str | None = ("eager",)
    exporter: str | None = None
    compile_backend: str | None = None
    impls: tuple[str, ...] = ()
    threads: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "runtimes", runtimes.parse(self.runtimes))
        if not (self.min_time > 0 and math.isfinite(self.min_time)):
            raise SpecError(f"--min-time must be a positive number of seconds, got {self.min_time}")
        _check_threads(self.threads)
        peak = self.peak_gflops
        if peak is not None and not (peak > 0 and math.isfinite(peak)):
            raise SpecError(f"--peak-gflops must be a positive number, got {peak}")
        devices.dtype_named(self.dtype)
