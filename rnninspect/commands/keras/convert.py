"""``rnninspect convert``: the recurrent weights of a torch checkpoint to a Keras file, and of a
Keras file to a torch state dict, with the mapping ``rnninspect keras`` prints.

Nothing takes the output's place until every converted module has been run in both frameworks
from the file as it will be read back and matched: torch to Keras, the Keras layers read back
from the file written against torch's module on the same input and initial state; Keras to
torch, the user's own Keras layers as loaded against torch's module read back from the state
dict written (:mod:`rnninspect.commands.keras.reading`).

Names. torch's module ``encoder.rnn`` becomes the Keras layers ``encoder__rnn_l0``,
``encoder__rnn_l1``, ... (Keras names cannot hold a dot); a bare module's layers are ``l0``,
``l1``, ...; a Cell becomes ``keras.layers.RNN(cell)`` named after its prefix (``cell`` when
bare). Going back, layers named ``<base>_l0`` .. ``<base>_l<K-1>`` that the model's graph
connects output to input, with the same settings, become one torch module ``<base>`` with
num_layers=K (``__`` read as ``.``); any other recurrent layer becomes a module under its own
name; ``l0`` and ``cell`` alone are a bare module's again.

What is not converted is said: every tensor of a checkpoint outside the recurrent modules, every
Keras layer that is not recurrent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rnninspect.base.text import printable
from rnninspect.commands.keras import mapping
from rnninspect.commands.keras.keras import judged_rows
from rnninspect.commands.keras.reading import KerasModule, View
from rnninspect.core.build import example_inputs, run_module, torch_module, torch_warnings
from rnninspect.model import memory
from rnninspect.model.spec import RNNSpec, SpecError, make_spec
from rnninspect.reports.common import versions
from rnninspect.reports.convert import ConvertedModule, ConvertReport

#: The files each direction writes, by how their names end.
WRITES = {"keras": (".keras", ".weights.h5"), "torch": (".pt", ".pth", ".safetensors")}

#: The Keras dtype a torch dtype's weights are held in: float16 and bfloat16 widen to float32,
#: exactly (every value of either is a float32 value).
KERAS_DTYPE = {
    torch.float64: "float64",
    torch.float32: "float32",
    torch.float16: "float32",
    torch.bfloat16: "float32",
}


def ending(path: Path, to: str, option: str) -> str:
    """Which of the formats ``to`` writes ``path`` names; a clear refusal otherwise."""
    for end in WRITES[to]:
        if path.name.lower().endswith(end) and len(path.name) > len(end):
            return end
    known = ", ".join(WRITES[to])
    raise SpecError(f"{option} {path}: --to {to} writes {known}; name the file with one of them")


def source_kind(path: Path) -> str:
    """``torch`` or ``keras``: what the input file is, by its name."""
    name = path.name.lower()
    return "keras" if name.endswith(WRITES["keras"]) else "torch"


def keras_names(prefix: str, spec: RNNSpec) -> list[str]:
    """The Keras layer names of a torch module (see the module's docstring)."""
    if "/" in prefix:
        raise SpecError(f"module {printable(prefix)!r}: Keras layer names cannot hold '/'")
    base = prefix.replace(".", "__")
    if spec.cell.is_cell:
        return [base or "cell"]
    return [f"{base}_l{k}" if base else f"l{k}" for k in range(spec.num_layers)]


def _joined(key: str, prefix: str) -> str:
    return f"{prefix}.{key}" if prefix else key


# ---------------------------------------------------------------------------------------------
# torch -> Keras


def from_torch(
    path: Path, prefix: str | None, nonlinearity: str | None
) -> tuple[list[KerasModule], list[str], list[str]]:
    """The recurrent modules of a checkpoint (read as ``infer`` reads it), ready for Keras; the
    notes (what was assumed, how dtypes are held); and every tensor not converted."""
    from rnninspect.commands.infer import infer_modules, select, spec_with_weights
    from rnninspect.files.checkpoint import dense, load_tensors
    from rnninspect.files.reparam import rebuild
    from rnninspect.reports.infer import Inconsistent, Inferred

    tensors, notes = rebuild(load_tensors(path))
    found = infer_modules({name: tuple(value.shape) for name, value in tensors.items()})
    chosen: list[Inferred | Inconsistent] = found
    if prefix is not None:
        chosen = [select(found, prefix, str(path))]
    if not chosen:
        raise SpecError(f"{path}: no recurrent module in it")
    modules = []
    for module in chosen:
        where = f"{path}: " + (
            f"module {printable(module.prefix)!r}" if module.prefix else "the module"
        )
        if isinstance(module, Inconsistent):
            raise SpecError(f"{where} cannot convert: {module.problem}; --prefix picks another")
        given = {"nonlinearity": nonlinearity or "tanh"} if module.spec.cell.family == "rnn" else {}
        spec = spec_with_weights(module, given)
        if spec.proj_size:
            raise SpecError(
                f"{where} cannot convert: proj_size={spec.proj_size}, and Keras's LSTM has no "
                "projection (h_t = W_hr (o * tanh(c_t)))"
            )
        state = {
            name: dense(tensors[_joined(name, module.prefix)], name, path) for name in module.shapes
        }
        if len({value.dtype for value in state.values()}) > 1:
            raise SpecError(f"{where} cannot convert: its weights are of several dtypes")
        names = keras_names(module.prefix, spec)
        views = [View(name, k, 1) for k, name in enumerate(names)]
        modules.append(KerasModule(module.prefix, names, spec, state, [], views))
    if nonlinearity is None and any(m.spec.cell.family == "rnn" for m in modules):
        notes.append(
            "weights do not record an RNN's nonlinearity: tanh assumed (--nonlinearity relu "
            "for ReLU RNNs)"
        )
    narrow = sorted(
        {str(v.dtype).removeprefix("torch.") for m in modules for v in m.state.values()}
        - {"float32", "float64"}
    )
    if narrow:
        notes.append(
            f"{', '.join(narrow)} weights are held by Keras in float32, widened exactly before "
            "anything is added (a SimpleRNN's or LSTM's two biases are summed in float32); the "
            "check runs torch's module in float32 with the same widened weights"
        )
    converted = {_joined(name, m.prefix) for m in modules for name in m.state}
    left = [
        f"{printable(name)} {list(tensors[name].shape)}: not in a recurrent module"
        + (" (--prefix chose another)" if prefix is not None else "")
        for name in tensors
        if name not in converted
    ]
    return modules, notes, left


def keras_dtype(module: KerasModule) -> str:
    """The dtype the module's Keras layers hold its weights in."""
    return KERAS_DTYPE[next(iter(module.state.values())).dtype]


def keras_model(keras: Any, pairs: list[KerasModule]) -> Any:
    """A functional model holding every module's layers: one input per module, its layers
    stacked, and as outputs each module's output sequence and every layer's final states."""
    inputs, outputs = [], []
    for pair in pairs:
        spec = pair.spec
        dtype = keras_dtype(pair)
        base = pair.prefix.replace(".", "__") or "module"
        x = keras.Input((None, spec.input_size), name=f"{base}_input", dtype=dtype)
        inputs.append(x)
        states = []
        for name in pair.names:
            if spec.cell.is_cell:
                cell = mapping.make_layer(keras, spec, dtype=dtype)
                layer = keras.layers.RNN(
                    cell, return_sequences=True, return_state=True, name=name, dtype=dtype
                )
            else:
                layer = mapping.make_layer(keras, spec, name=name, dtype=dtype)
            x, *last = layer(x)
            states += last
        outputs += [x, *states]
    return keras.Model(inputs, outputs)


def write_keras(keras: Any, pairs: list[KerasModule], path: Path, end: str) -> None:
    model = keras_model(keras, pairs)
    for pair in pairs:
        for name, weights in zip(
            pair.names, mapping.keras_weights(pair.spec, pair.state), strict=True
        ):
            model.get_layer(name).set_weights(weights)
    if end == ".keras":
        model.save(path)
    else:
        model.save_weights(path)


def read_keras_back(keras: Any, pairs: list[KerasModule], path: Path, end: str) -> None:
    """Each pair's Keras layers as a user would get them from the file just written."""
    if end == ".keras":
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    else:
        model = keras_model(keras, pairs)
        model.load_weights(path)
    for pair in pairs:
        layers = [model.get_layer(name) for name in pair.names]
        pair.layers = [layer.cell for layer in layers] if pair.spec.cell.is_cell else layers


# ---------------------------------------------------------------------------------------------
# Keras -> torch (the Keras side read by rnninspect.keras_reading)


def from_keras(
    keras: Any,
    path: Path,
    architecture: Path | None,
    nonlinearity: str | None,
    assume_defaults: bool,
) -> tuple[list[KerasModule], list[str], list[str]]:
    """The recurrent layers of a ``.keras`` file, or of a ``.weights.h5`` file with the model's
    ``architecture``, as torch modules, the notes, and every layer not converted; a
    ``.weights.h5`` file alone only with ``assume_defaults``, every setting it assumes listed."""
    from rnninspect.commands.keras import reading
    from rnninspect.commands.keras import weights_only as weights_only_file

    weights_only = path.name.lower().endswith(".weights.h5")
    if architecture is not None and not weights_only:
        raise SpecError("--architecture goes with a .weights.h5 file; a .keras file holds its own")
    if assume_defaults and (not weights_only or architecture is not None):
        raise SpecError(
            "--assume-defaults is for a .weights.h5 file given without its architecture"
        )
    if weights_only and architecture is None:
        if not assume_defaults:
            raise SpecError(f"{path}: {weights_only_file.WEIGHTS_ONLY}")
        modules, left = weights_only_file.from_weights_only(keras, path, nonlinearity)
        notes = [
            "settings assumed (no architecture given): each module lists what it assumed, and "
            "its verdict is 'unchecked': the layers run are rebuilt with those settings, which "
            "may not be the model's"
        ]
    else:
        model = reading.load_model(keras, path, architecture)
        modules, left = reading.from_model(keras, model)
        notes = []
        rnn = [m for m in modules if m.spec.cell.family == "rnn"]
        for module in rnn:
            if nonlinearity is not None and module.spec.nonlinearity != nonlinearity:
                raise SpecError(
                    f"--nonlinearity {nonlinearity}: Keras layer {module.names[0]!r} uses "
                    f"{module.spec.nonlinearity}"
                )
    if not modules:
        raise SpecError(f"{path}: no SimpleRNN, LSTM or GRU layer in it")
    prefixes = [module.prefix for module in modules]
    for prefix in prefixes:
        if prefixes.count(prefix) > 1:
            raise SpecError(f"{path}: two layers would become torch module {prefix!r}")
    return modules, notes, left


def write_torch(pairs: list[KerasModule], path: Path, end: str) -> None:
    state = {_joined(k, p.prefix): v.contiguous() for p in pairs for k, v in p.state.items()}
    if end == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)


def read_torch_back(pairs: list[KerasModule], path: Path) -> None:
    """Each pair's torch state as ``--weights`` would read it from the file just written."""
    from rnninspect.files.checkpoint import load_tensors

    tensors = load_tensors(path)
    for pair in pairs:
        pair.state = {name: tensors[_joined(name, pair.prefix)] for name in pair.state}


def convert_file(
    file: str | Path,
    to: str,
    output: str | Path,
    prefix: str | None = None,
    nonlinearity: str | None = None,
    architecture: str | Path | None = None,
    assume_defaults: bool = False,
) -> ConvertReport:
    """The recurrent weights of ``file`` (a torch checkpoint, or a ``.keras`` or ``.weights.h5``
    file) in the other framework's format, written to ``output`` only once every converted
    module has been run in both frameworks and matched (see
    :mod:`rnninspect.commands.keras.convert`).

    A ``.weights.h5`` file holds no settings: ``architecture`` (the model's JSON) gives them;
    without it, only ``assume_defaults`` converts it, and each module is then ``unchecked``.
    """
    from rnninspect.commands.keras import convert as files
    from rnninspect.commands.keras import mapping
    from rnninspect.files import output as out
    from rnninspect.files.checkpoint import CheckpointError
    from rnninspect.files.output import unreadable

    source = Path(file)
    problem = unreadable(source)
    if problem is not None:
        raise CheckpointError(f"{file}: {problem}")
    if files.source_kind(source) == to:
        back = "torch" if to == "keras" else "keras"
        raise SpecError(f"{file} is already a {to} file: --to {back} converts it")
    end = files.ending(Path(output), to, "--output")
    target = out.target(output, "--output")
    if to == "keras" and (architecture is not None or assume_defaults):
        raise SpecError("--architecture and --assume-defaults read a Keras file: --to torch")
    problem = None if architecture is None else unreadable(Path(architecture))
    if problem is not None:
        raise CheckpointError(f"--architecture {architecture}: {problem}")
    library = mapping.import_keras("convert")
    if to == "keras":
        pairs, notes, left = files.from_torch(source, prefix, nonlinearity)
    else:
        if prefix is not None:
            raise SpecError(
                "--prefix picks a module of a torch checkpoint; a Keras file is converted whole"
            )
        given = None if architecture is None else Path(architecture)
        pairs, notes, left = files.from_keras(library, source, given, nonlinearity, assume_defaults)
    for pair in pairs:
        memory.check(memory.estimate(pair.spec).verify, memory.default_limit(), "convert")
    if to == "keras" and end == ".weights.h5":
        notes.append(
            "a .weights.h5 file keeps no layer settings: reading it back needs this model's "
            "architecture (convert --to keras -o FILE.keras writes both in one file)"
        )
    with out.staged(target, end, "--output") as staged, torch_warnings():
        if to == "keras":
            files.write_keras(library, pairs, staged, end)
            files.read_keras_back(library, pairs, staged, end)
        else:
            files.write_torch(pairs, staged, end)
            files.read_torch_back(pairs, staged)
        modules = [
            ConvertedModule(
                pair.prefix,
                pair.names,
                pair.spec,
                mapping.mapping(pair.spec, to_torch=to == "torch"),
                _to_keras_rows(pair) if to == "keras" else _to_torch_rows(library, pair),
                code=pair.code,
                assumed=pair.assumed,
            )
            for pair in pairs
        ]
        written = all(module.verdict != "fail" for module in modules)
        if written:
            out.commit(staged, target, "--output")
    found = {**versions(torch.__version__), "keras": library.__version__}
    return ConvertReport(str(file), to, str(output), found, modules, notes, written, left)


def _to_keras_rows(pair: Any) -> list[Any]:
    """torch's module holding the checkpoint's weights and the Keras layers read back from the
    file written, on the same input and random initial state, Keras judged against torch row by
    row (in float64 where the weights are, else float32)."""
    from rnninspect.commands.keras import mapping

    dtype = torch.float64 if pair.state_dtype == torch.float64 else torch.float32
    with torch.no_grad():
        module = torch_module(pair.spec, dtype=dtype)
        module.load_state_dict(pair.state)
        inputs = example_inputs(pair.spec, dtype=dtype)
        expected = run_module(module.eval(), pair.spec, inputs)
        found = mapping.run_layers(pair.spec, pair.layers, inputs)
    return judged_rows(found, expected, dtype)


def _to_torch_rows(keras: Any, pair: Any) -> list[Any]:
    """The user's own Keras layers, as loaded, and torch's module read back from the state dict
    written, on the same sequence from a zero state (as the model runs its layers): each
    output of the layers judged against the torch result it stands for."""
    from rnninspect.commands.keras import check

    dtype = pair.state_dtype
    with torch.no_grad():
        module = torch_module(pair.spec, dtype=dtype)
        module.load_state_dict(pair.state)
        # a sequence (L, N, H_in) even for a Cell, which keras.layers.RNN steps over it
        spec = make_spec(cell=pair.spec.cell.family, input_size=pair.spec.input_size)
        sequence = example_inputs(spec, dtype=dtype)["input"].transpose(0, 1)  # (N, L, H_in)
        outputs = check.keras_side(keras, pair, sequence)
        results = check.torch_side(pair, module.eval(), sequence)
    rows = check.expected(pair, results)
    if len(rows) != len(outputs):
        raise SpecError(
            f"Keras layer {pair.names[-1]!r} returned {len(outputs)} tensors, where its settings "
            f"say {len(rows)}"
        )
    pairs = zip(rows, outputs, strict=True)
    found = {name: value for (name, want), value in pairs if want is not None}
    wanted = {name: want for name, want in rows if want is not None}
    return judged_rows(found, wanted, dtype)
