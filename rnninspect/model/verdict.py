"""The verdicts every check gives, in one vocabulary, and the number the inconclusive policy
rests on (how the rows are judged is :mod:`rnninspect.core.parity`'s; docs/math.md says why).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Verdict(StrEnum):
    """``pass``, ``fail`` or ``inconclusive`` (out of tolerance, explained by rounding)."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"

    @classmethod
    def worst(cls, verdicts: Iterable[str]) -> Verdict:
        """``fail`` if any is, else ``inconclusive`` if any is, else ``pass`` (also for none)."""
        found = set(verdicts)
        for verdict in (cls.FAIL, cls.INCONCLUSIVE):
            if verdict in found:
                return verdict
        return cls.PASS

    @classmethod
    def accepted(cls, verdict: str, allow_inconclusive: bool) -> bool:
        """Whether a verdict lets a run exit 0: ``pass``, and ``inconclusive`` where allowed
        (``--allow-inconclusive``)."""
        return verdict == cls.PASS or (allow_inconclusive and verdict == cls.INCONCLUSIVE)


#: Error within this many noise floors counts as explained by the noise floor; a single step
#: is allowed this many times the error of the reference in its dtype on the same step.
NOISE_FACTOR = 10.0
