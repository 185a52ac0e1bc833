"""``compile``: ``torch.compile`` of the module, with the backend named in the report, and what
dynamo actually compiled.

``torch.compile`` never refuses a module it cannot trace: dynamo breaks the graph and runs that
code eagerly. For ``nn.RNN``, ``nn.LSTM`` and ``nn.GRU`` it captures nothing at all (it does not
trace them unless ``torch._dynamo.config.allow_rnn`` is set), so a compiled LSTM is the eager
LSTM, and a verdict on it says nothing about a compiler. So before compiling, dynamo's own
``torch._dynamo.explain`` runs the same call and counts the graphs, their ops and the graph
breaks with their reasons; where it captured no graph, a ``fullgraph`` attempt gives dynamo's
reason. The report says all of it. With ``fullgraph`` (``--fullgraph``), a break is the user's
error, as ``torch.compile(fullgraph=True)`` makes it: a failing row with dynamo's reason.

Compilation happens on the first call, so that call is made here, at the example shapes: a
module the compiler refuses fails at preparation, as an exporter's refusal does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from rnninspect.core.runtimes.base import Prepared, RuntimeFailed, RuntimeOptions, call, one_line
from rnninspect.model.spec import RNNSpec


def prepare(
    module: nn.Module, spec: RNNSpec, inputs: Mapping[str, Tensor], settings: RuntimeOptions
) -> Prepared:
    backend = settings.compile_backend or "inductor"
    fullgraph = settings.fullgraph
    captured = explain(module, spec, inputs)  # leaves dynamo reset: its compilation is not reused
    compiled = torch.compile(module, backend=backend, dynamic=None, fullgraph=fullgraph)
    run = call(compiled)
    try:
        with torch.no_grad():
            run(inputs, spec)
    except Exception as exc:
        stage = "torch.compile(fullgraph=True)" if fullgraph else "torch.compile"
        raise RuntimeFailed(stage, dynamo_reason(exc)) from None
    detail = f"torch.compile, backend {backend}" + (", fullgraph" if fullgraph else "")
    return Prepared(
        run,
        True,
        f"{detail}: {describe(captured)}",
        dict(module.named_parameters()),
        compiled=captured,
    )


class _Explained:
    """Stands in for the module in one call: dynamo's explanation of that call, then the call
    itself, so that the call is made exactly as every runtime makes it (packed, with states)."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.explanation: Any = None

    def __call__(self, *args: Any) -> Any:
        self.explanation = torch._dynamo.explain(self.module)(*args)
        return self.module(*args)


def explain(module: nn.Module, spec: RNNSpec, inputs: Mapping[str, Tensor]) -> dict[str, Any]:
    """What dynamo captures of one forward call at these inputs, in its own words: ``graphs``,
    ``ops``, ``graph_breaks``, ``break_reasons``, and ``ran_eagerly`` (no graph captured);
    ``reason`` says why it captured nothing, where it gave no break reason."""
    from rnninspect.core.build import run_module

    explained = _Explained(module)
    try:
        with torch.no_grad():
            run_module(explained, spec, dict(inputs))  # type: ignore[arg-type]
    except Exception as exc:
        return {"graphs": None, "error": dynamo_reason(exc), "ran_eagerly": None}
    finally:
        torch._dynamo.reset()
    found = explained.explanation
    reasons = list(dict.fromkeys(_first_line(str(b.reason)) for b in found.break_reasons))
    facts: dict[str, Any] = {
        "graphs": int(found.graph_count),
        "ops": int(found.op_count),
        "graph_breaks": max(0, int(found.graph_break_count)),
        "break_reasons": reasons,
        "ran_eagerly": found.graph_count == 0,
        "reason": None,
    }
    if found.graph_count == 0 and not reasons:
        facts["reason"] = _why_nothing(module, spec, inputs)
    return facts


def _why_nothing(module: nn.Module, spec: RNNSpec, inputs: Mapping[str, Tensor]) -> str | None:
    """Dynamo's reason for capturing no graph, which ``explain`` does not report: the error a
    ``fullgraph`` compile raises (on the ``eager`` backend, which compiles nothing)."""
    strict = torch.compile(module, backend="eager", fullgraph=True)
    try:
        with torch.no_grad():
            call(strict)(inputs, spec)
    except Exception as exc:
        return dynamo_reason(exc)
    finally:
        torch._dynamo.reset()
    return None


def describe(captured: Mapping[str, Any]) -> str:
    """What dynamo compiled, in a sentence for the report."""
    if captured.get("graphs") is None:
        failure = captured.get("error")
        return f"torch._dynamo.explain failed ({failure}), so what was compiled is unknown"
    graphs, ops, breaks = captured["graphs"], captured["ops"], captured["graph_breaks"]
    if captured["ran_eagerly"]:
        why = f" ({captured['reason']})" if captured.get("reason") else ""
        why = why or (f" (graph breaks: {'; '.join(captured['break_reasons'])})" if breaks else "")
        return (
            f"dynamo captured no graph{why}, so nothing was compiled and the module ran "
            "eagerly: these rows are eager PyTorch's (--fullgraph makes a break a failure)"
        )
    sentence = f"dynamo compiled {graphs} graph{'s' if graphs != 1 else ''} of {ops} ops in all"
    if breaks:
        reasons = "; ".join(captured["break_reasons"])
        sentence += (
            f", with {breaks} graph break{'s' if breaks != 1 else ''} ({reasons}); the code "
            "between the graphs ran eagerly"
        )
    else:
        sentence += ", the whole forward"
    return sentence


def dynamo_reason(exc: BaseException) -> str:
    """Dynamo's message in one line: its first line, and its ``Explanation:`` where it gives one
    (its hints and links left out)."""
    text = str(exc)
    first = _first_line(text)
    explanation = next(
        (
            line.strip()[len("Explanation:") :].strip()
            for line in text.splitlines()
            if line.strip().startswith("Explanation:")
        ),
        "",
    )
    reason = f"{first}: {explanation}" if explanation and explanation not in first else first
    return one_line(f"{type(exc).__name__}: {reason}")


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), text.strip())
