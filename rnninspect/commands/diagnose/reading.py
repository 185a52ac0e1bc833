"""How ``diagnose`` reads the shapes given: which size is the sequence length, the batch and the
features (:func:`example`), what it assumed (how ``--lengths`` were packed), and where another
reading fits the same shapes, which only the user can tell apart.
"""

from __future__ import annotations

import dataclasses

from rnninspect.model.spec import RNNSpec
from rnninspect.reports.diagnose import Shape


def example(spec: RNNSpec, x: Shape) -> RNNSpec:
    """The spec with the batch, sequence length and layout read from the input's shape, as torch
    reads them; unchanged where the input's rank fits no reading."""
    if spec.cell.is_cell:
        if len(x) == 2:
            return dataclasses.replace(spec, batch=x[0], unbatched=False)
        if len(x) == 1:
            return dataclasses.replace(spec, batch=1, unbatched=True)
        return spec
    if len(x) == 2:
        return dataclasses.replace(spec, batch=1, seq_len=x[0], unbatched=True)
    if len(x) == 3:
        batch, length = (x[0], x[1]) if spec.batch_first else (x[1], x[0])
        return dataclasses.replace(spec, batch=batch, seq_len=length, unbatched=False)
    return spec


def how_read(spec: RNNSpec, x: Shape) -> list[str]:
    """How the input's shape was read (which size is the sequence length, the batch, the
    features), what the reading assumed, and where another reading fits as well: a batch and
    a sequence length that could be either way round fit both layouts, and only batch_first
    tells them apart."""
    if spec.cell.is_cell:
        if len(x) == 2:
            return [f"Read as N={x[0]} (batch) · H_in={x[1]} (features): one step of a batch."]
        if len(x) == 1:
            return [f"Read as unbatched: H_in={x[0]} (features), one step of one sample."]
        return []
    if len(x) == 2:
        return [
            f"Read as unbatched: L={x[0]} (sequence length) · H_in={x[1]} (features); torch reads "
            "a 2-D input as one sequence without a batch dimension."
        ]
    if len(x) != 3:
        return []
    layout = "(N, L, H_in)" if spec.batch_first else "(L, N, H_in)"
    read = example(spec, x)
    lines = [
        f"Read as L={read.seq_len} (sequence length) · N={read.batch} (batch) · H_in={x[2]} "
        f"(features): batch_first={spec.batch_first} takes {layout}."
    ]
    if x[0] > 1 and x[1] > 1 and spec.lengths is None:
        other = "(L, N, H_in)" if spec.batch_first else "(N, L, H_in)"
        lines.append(
            f"These shapes fit the other layout too: if {x[0]} is your batch and {x[1]} your "
            f"sequence length, your tensor is {other}, and the module needs "
            f"batch_first={not spec.batch_first} (or x.transpose(0, 1)); torch cannot tell the "
            "two apart and runs either one."
        )
    return lines + _packing_notes(spec)


def _packing_notes(spec: RNNSpec) -> list[str]:
    """What --lengths assumed of pack_padded_sequence, and both fixes where torch's default
    would refuse the lengths."""
    if spec.lengths is None:
        return []
    lengths = ",".join(str(n) for n in spec.lengths)
    assumed = (
        f"The lengths are packed as pack_padded_sequence(x, lengths, "
        f"batch_first={spec.batch_first}, enforce_sorted=False)"
    )
    if list(spec.lengths) == sorted(spec.lengths, reverse=True):
        return [f"{assumed}; in decreasing order as they are, enforce_sorted=True works too."]
    dim = 0 if spec.batch_first else 1
    return [
        f"{assumed}. torch's default is enforce_sorted=True, which refuses lengths {lengths}: "
        'they are not in decreasing order ("`lengths` array must be sorted in decreasing '
        'order when `enforce_sorted` is True"). Either pass enforce_sorted=False, or sort '
        "the batch first: lengths, order = torch.sort(lengths, descending=True); "
        f"x = x.index_select({dim}, order)."
    ]
