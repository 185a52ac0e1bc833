"""``--impl TARGET``: load a user's implementation and give it the real module's weights.

TARGET is ``path/to/file.py:Name`` or ``package.module:Name``. ``Name`` is called with the
keyword arguments torch's constructor takes for the cell and must return an ``nn.Module`` whose
``state_dict`` has torch's keys; the real module's ``state_dict`` is loaded into it strictly.
Importing the target runs its code, as pytest does with test files.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

from torch import Tensor, nn

from rnninspect.base.errors import ImplError as ImplError
from rnninspect.base.signals import TimeLimitExceeded
from rnninspect.base.text import exception_line
from rnninspect.model.spec import RNNSpec

Factory = Callable[..., Any]


def load_factory(target: str) -> Factory:
    """Import ``path/to/file.py:Name`` or ``package.module:Name`` and return ``Name``.

    A file is imported under a unique module name with its folder appended to ``sys.path``
    (appended, so that a local ``torch.py`` cannot shadow torch).
    """
    where, sep, name = target.rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise ImplError(
            f"--impl must be path/to/file.py:Name or package.module:Name, got {target!r}"
        )
    try:
        if where.endswith(".py") or "/" in where or "\\" in where:
            module = _import_file(Path(where))
        else:
            _search_current_directory()
            module = importlib.import_module(where)
    except ImplError:
        raise
    except SystemExit as exc:
        raise ImplError(f"--impl {target}: importing it called exit({exc.code})") from None
    except (KeyboardInterrupt, TimeLimitExceeded):
        raise
    except BaseException as exc:
        raise ImplError(f"--impl {target}: importing it failed: {exception_line(exc)}") from None
    factory = getattr(module, name, None)
    if factory is None:
        raise ImplError(f"--impl {target}: {where} has no attribute {name!r}")
    if not callable(factory):
        raise ImplError(
            f"--impl {target}: {name} is not callable (it is of type {type(factory).__name__})"
        )
    return cast(Factory, factory)


def _search_current_directory() -> None:
    """Let ``package.module`` resolve from the current directory, as it does under
    ``python -m rnninspect``; appended, so that a local ``torch.py`` cannot shadow torch."""
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.append(here)


def _import_file(path: Path) -> Any:
    if not path.is_file():
        raise ImplError(f"--impl: no such file {str(path)!r}")
    path = path.resolve()
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    module_name = f"_rnninspect_impl_{path.stem}_{digest}"
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.append(folder)
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImplError(f"--impl: cannot import {str(path)!r} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _prefix_hint(own: Mapping[str, Tensor], key: str) -> str:
    """Where a wrapper keeps torch's key under a prefix (``self.lstm = nn.LSTM(...)``), say so."""
    nested = sorted(name for name in own if name.endswith("." + key))
    if not nested:
        return ""
    prefix = nested[0].removesuffix(key)
    return (
        f", which it has as {nested[0]!r}: the module under test must carry torch's parameter "
        f"names itself, not under the prefix {prefix!r}; return the inner module, or give the "
        "wrapper the parameters directly"
    )


def build(
    factory: Factory, spec: RNNSpec, state_dict: Mapping[str, Tensor], label: str
) -> nn.Module:
    """Call the factory with torch's constructor arguments and load ``state_dict`` strictly."""
    kwargs = spec.constructor_kwargs()
    try:
        module = factory(**kwargs)
    except SystemExit as exc:
        raise ImplError(f"--impl {label}: calling it called exit({exc.code})") from None
    except (KeyboardInterrupt, TimeLimitExceeded):
        raise
    except BaseException as exc:
        raise ImplError(f"--impl {label}: calling it failed: {exception_line(exc)}") from None
    if not isinstance(module, nn.Module):
        raise ImplError(
            f"--impl {label}: it returned a {type(module).__name__}, not a torch.nn.Module"
        )
    own = module.state_dict()
    for key in state_dict:
        if key not in own:
            raise ImplError(
                f"--impl {label}: its state_dict lacks torch's key {key!r}{_prefix_hint(own, key)}"
            )
    for key in own:
        if key not in state_dict:
            raise ImplError(f"--impl {label}: its state_dict has {key!r}, which torch's has not")
    for key, value in state_dict.items():
        if tuple(own[key].shape) != tuple(value.shape):
            raise ImplError(
                f"--impl {label}: {key} has shape {list(own[key].shape)}, torch's has "
                f"{list(value.shape)}"
            )
    module.load_state_dict(state_dict, strict=True)
    return module
