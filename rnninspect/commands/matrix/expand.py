"""A matrix file's ``[matrix]`` table as the combinations it stands for, with GitHub Actions'
``exclude`` and ``include`` semantics, so that combinations with no meaning are written once
instead of refused whole.

- The axes (every key but ``exclude`` and ``include``) are combined in every way, the first
  axis varying slowest.
- ``exclude``: a list of tables; a combination is dropped when it has every key-value pair of
  one of them (a partial match drops all the combinations that share those values). Each key
  must be an axis.
- ``include``: a list of tables, applied in order after ``exclude``. An entry is added to every
  remaining combination whose axis values it does not contradict, its other keys added or
  overwriting values an earlier ``include`` added (never an axis value); an entry that fits no
  combination becomes a combination of its own.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

#: Keys of ``[matrix]`` that are not axes.
LISTS = ("exclude", "include")


class ExpandError(ValueError):
    """A malformed ``exclude`` or ``include``; the message says which entry and why."""


def axes_of(matrix: Mapping[str, Any]) -> dict[str, list[Any]]:
    return {key: values for key, values in matrix.items() if key not in LISTS}


def count(matrix: Mapping[str, Any]) -> int:
    """An upper bound of the combinations, counted before any is built."""
    axes = axes_of(matrix)
    product = math.prod(len(values) for values in axes.values()) if axes else 0
    return product + len(matrix.get("include", []))


def combinations(matrix: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every combination ``[matrix]`` stands for, in order."""
    axes = axes_of(matrix)
    excludes = _entries(matrix, "exclude")
    includes = _entries(matrix, "include")
    for index, entry in enumerate(excludes, start=1):
        for key in entry:
            if key not in axes:
                raise ExpandError(f"exclude #{index}: {key!r} is not an axis of [matrix]")
    keys = list(axes)
    found = []
    if keys:
        for values in itertools.product(*(axes[key] for key in keys)):
            combination = dict(zip(keys, values, strict=True))
            if not any(_matches(combination, entry) for entry in excludes):
                found.append(combination)
    originals = [dict(combination) for combination in found]
    added = []
    for entry in includes:
        fitted = False
        for combination, original in zip(found, originals, strict=True):
            if all(original[key] == value for key, value in entry.items() if key in original):
                combination.update({k: v for k, v in entry.items() if k not in original})
                fitted = True
        if not fitted:
            added.append(dict(entry))  # a combination of its own, which no later entry extends
    return found + added


def _entries(matrix: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    entries = matrix.get(name, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ExpandError(f"{name} must be a list of tables, such as {name} = [{{cell = 'lstm'}}]")
    for index, entry in enumerate(entries, start=1):
        if not entry:
            raise ExpandError(f"{name} #{index} is empty")
    return entries


def _matches(combination: Mapping[str, Any], entry: Mapping[str, Any]) -> bool:
    return all(combination.get(key) == value for key, value in entry.items())
