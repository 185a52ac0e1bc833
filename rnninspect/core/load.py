"""How busy the machine was while something was timed, measured, so that a timing taken on a
loaded machine says so.

Two OpenMP threads spinning against other work on two cores take a 50 ms LSTM call to 1-3 s, and
nothing in the numbers alone says why. So every timed run is watched: the CPU time the machine's
cores spent busy (``/proc/stat``, only the cores this process may run on, steal time counted as
busy) less the CPU time of this process and its children (``getrusage``) is the CPU time *other*
processes took during the run; over the run's wall time, it is how many cores they kept busy.
With the load average, the threads torch used and ``OMP_WAIT_POLICY``, that names the likely
cause of a spread, and the remedy. Where ``/proc/stat`` is missing (not Linux), only the load
average is reported.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

#: A timing is unstable when its interquartile range is over this share of its median.
UNSTABLE_SPREAD = 0.10

#: Other processes keeping this many of this process's cores busy, on average, load the machine.
BUSY_CORES = 0.5

#: The shortest run whose other processes' CPU time is judged: ``/proc/stat`` counts in clock
#: ticks (10 ms), so a shorter run's figure is mostly rounding.
MIN_WATCH_SECONDS = 0.25


@dataclass(frozen=True)
class MachineLoad:
    """What else the machine did while a run was timed."""

    wall_seconds: float
    cores: int  # the cores this process may run on
    threads: int  # torch's intra-op threads during the run
    others_cpu_seconds: float | None  # CPU time other processes took on those cores
    load_average: tuple[float, float, float] | None  # at the end, 1, 5 and 15 minutes
    omp_wait_policy: str | None

    @property
    def others_busy_cores(self) -> float | None:
        """How many of this process's cores other processes kept busy, on average; None where
        it was not measured, or the run was too short for ``/proc/stat``'s clock ticks (a tick
        a core either side) to tell."""
        if self.others_cpu_seconds is None or self.wall_seconds < MIN_WATCH_SECONDS:
            return None
        return max(0.0, self.others_cpu_seconds / self.wall_seconds)

    @property
    def busy(self) -> bool:
        """Other processes competed for the cores: measured where ``/proc/stat`` is, else
        judged from the 1-minute load average against the cores left once torch's threads run."""
        others = self.others_busy_cores
        if others is not None:
            return others >= BUSY_CORES
        if self.load_average is None:
            return False
        return self.load_average[0] > self.cores

    def cause(self) -> str | None:
        """The likely cause of unstable timings and what to do, in a sentence; None when the
        machine looked quiet."""
        if not self.busy:
            return None
        others = self.others_busy_cores
        measured = (
            f"other processes kept {others:.1f} of the {self.cores} cores busy during the run"
            if others is not None
            else f"the load average was {self.load_average[0]:.1f} on {self.cores} cores"  # type: ignore[index]
        )
        policy = self.omp_wait_policy or "unset (OpenMP's threads spin while they wait)"
        remedy = (
            "run on a quiet machine, or with --threads 1, or with OMP_WAIT_POLICY=PASSIVE set "
            "before the command"
            if self.threads > 1
            else "run on a quiet machine"
        )
        return (
            f"the machine was loaded: {measured}, against torch's {self.threads} thread"
            f"{'s' if self.threads != 1 else ''} (OMP_WAIT_POLICY {policy}); {remedy}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "wall_seconds": self.wall_seconds,
            "cores": self.cores,
            "threads": self.threads,
            "others_cpu_seconds": self.others_cpu_seconds,
            "others_busy_cores": self.others_busy_cores,
            "load_average": None if self.load_average is None else list(self.load_average),
            "omp_wait_policy": self.omp_wait_policy,
            "busy": self.busy,
        }


def _cores() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return set(range(os.cpu_count() or 1))


def _busy_seconds(cores: set[int]) -> float | None:
    """CPU seconds the given cores have spent busy since boot (``/proc/stat``: user, nice,
    system, irq, softirq and steal; idle and iowait left out)."""
    try:
        with open("/proc/stat") as stat:
            lines = stat.read().splitlines()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    busy = 0
    found = False
    for line in lines:
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu" or not name[3:].isdigit():
            continue
        if int(name[3:]) not in cores:
            continue
        values = [int(v) for v in fields[:8]] + [0] * (8 - len(fields[:8]))
        user, nice, system, _idle, _iowait, irq, softirq, steal = values
        busy += user + nice + system + irq + softirq + steal
        found = True
    return busy / ticks if found else None


def _own_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass
class Watch:
    """Filled in when the watched block ends: ``load`` is then its :class:`MachineLoad`."""

    load: MachineLoad | None = None


@contextmanager
def watched(threads: int) -> Iterator[Watch]:
    """Measure what else the machine does while the block runs on ``threads`` torch threads."""
    cores = _cores()
    busy, own, started = _busy_seconds(cores), _own_seconds(), time.perf_counter()
    watch = Watch()
    try:
        yield watch
    finally:
        wall = time.perf_counter() - started
        busy_after, own_after = _busy_seconds(cores), _own_seconds()
        others = None
        if busy is not None and busy_after is not None:
            ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
            rounding = 2 * len(cores) / ticks  # a tick either side, on every core
            others = max(0.0, (busy_after - busy) - (own_after - own) - rounding)
        try:
            average: tuple[float, float, float] | None = os.getloadavg()
        except (AttributeError, OSError):
            average = None
        watch.load = MachineLoad(
            wall_seconds=wall,
            cores=len(cores),
            threads=threads,
            others_cpu_seconds=others,
            load_average=average,
            omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"),
        )
