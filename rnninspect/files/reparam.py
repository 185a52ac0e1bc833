"""Weights a checkpoint stores through a reparametrisation, rebuilt or named.

Recurrent weights are not always saved as the module uses them:

- torch's weight_norm (``torch.nn.utils.parametrizations.weight_norm``) saves
  ``parametrizations.weight_hh_l0.original0`` (the magnitude g) and ``original1`` (the
  direction v); the older ``torch.nn.utils.weight_norm`` saves ``weight_hh_l0_g`` and
  ``weight_hh_l0_v``. The weight is ``g * v / ||v||``, the norm taken over every dimension
  but the one g keeps.
- torch's pruning (``torch.nn.utils.prune``) saves ``weight_hh_l0_orig`` and
  ``weight_hh_l0_mask``; the weight is their product.
- A weight-drop wrapper (AWD-LSTM's ``WeightDrop``) saves ``weight_hh_l0_raw`` and draws the
  weight from it with dropout at run time. That formula is the wrapper's, not torch's, so the
  weight is not rebuilt; the key is named where the weight is missing.

The rebuilt weights use torch's own formulas; each one is reported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import Tensor

_PARAM = r"(?P<param>(?:weight|bias)_(?:ih|hh|hr)(?:_l\d+(?:_reverse)?)?)"
_NORM = re.compile(rf"^(?P<prefix>(?:.*\.)?)parametrizations\.{_PARAM}\.original(?P<part>[01])$")
_LEGACY = re.compile(rf"^(?P<prefix>(?:.*\.)?){_PARAM}_(?P<part>g|v)$")
_PRUNED = re.compile(rf"^(?P<prefix>(?:.*\.)?){_PARAM}_(?P<part>orig|mask)$")
_RAW = re.compile(rf"^(?P<prefix>(?:.*\.)?){_PARAM}_raw$")


def rebuild(tensors: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], list[str]]:
    """The tensors with every weight-normed or pruned weight rebuilt under its own name (the
    stored parts removed), and one note per rebuilt weight."""
    result = dict(tensors)
    notes: list[str] = []
    for pattern, parts, formula in (
        (_NORM, ("0", "1"), "weight_norm (original0 = g, original1 = v): g * v / ||v||"),
        (_LEGACY, ("g", "v"), "the older weight_norm (_g, _v): g * v / ||v||"),
        (_PRUNED, ("orig", "mask"), "pruning (_orig, _mask): orig * mask"),
    ):
        found: dict[str, dict[str, str]] = {}
        for key in tensors:
            match = pattern.match(key)
            if match:
                target = match.group("prefix") + match.group("param")
                found.setdefault(target, {})[match.group("part")] = key
        for target, keys in found.items():
            if set(keys) != set(parts) or target in result:
                continue
            first, second = (tensors[keys[part]] for part in parts)
            weight: Tensor | None = first * second
            if parts != ("orig", "mask"):
                weight = _weight_norm(g=first, v=second)
            if weight is None:
                continue
            result[target] = weight
            for key in keys.values():
                del result[key]
            notes.append(f"{target} rebuilt from torch's {formula}")
    return result, notes


def _weight_norm(g: Tensor, v: Tensor) -> Tensor | None:
    """``g * v / ||v||``, the norm over every dimension of v but the one where g is not 1."""
    if g.dim() == 0:
        scaled: Tensor = g * v / v.norm()
        return scaled
    if g.dim() != v.dim():
        return None
    kept = [d for d in range(g.dim()) if g.shape[d] != 1]
    if len(kept) > 1 or any(g.shape[d] != v.shape[d] for d in kept):
        return None
    if not kept:
        whole: Tensor = g * v / v.norm()
        return whole
    normed: Tensor = torch._weight_norm(v, g, kept[0])
    return normed


def related(keys: list[str], prefix: str, name: str) -> str:
    """What the keys near a missing ``name`` of the module at ``prefix`` are, in a phrase."""
    start = f"{prefix}." if prefix else ""
    found = []
    for key in keys:
        if not key.startswith(start):
            continue
        local = key[len(start) :]
        raw = _RAW.match(local)
        if raw and raw.group("param") == name:
            found.append(
                f"{key}, the raw weight of a weight-drop wrapper (as AWD-LSTM's WeightDrop), "
                "which makes the weight from it with dropout at run time; in eval mode the "
                f"weight is the raw one: save it as {start}{name} to use it"
            )
        elif any(
            (match := pattern.match(local)) and match.group("param") == name
            for pattern in (_NORM, _LEGACY, _PRUNED)
        ):
            found.append(f"{key}, one part of a reparametrised {name} whose other part is missing")
    return "; found " + "; ".join(found) if found else ""
