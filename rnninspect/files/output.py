"""Files the user asks for (``--junit-xml``): written whole or not at all, where they asked.

- The path is checked before anything runs: a new file in an existing, writable folder, or an
  existing regular file. A symbolic link is followed and its target written; a folder, a FIFO,
  a device or a socket is refused, never replaced.
- The text is written to a temporary file beside the target and renamed over it, so a reader
  never sees half a file; the temporary file is removed if anything goes wrong, Ctrl-C included.
- The file gets the mode any new file gets under the user's umask, not the temporary file's 0600.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from rnninspect.base import signals
from rnninspect.base.errors import OutputError as OutputError

#: Temporary files and folders being written now; removed on an interrupt that cannot wait.
PENDING: set[str] = set()
PENDING_FOLDERS: set[str] = set()


def target(path: str | Path, option: str) -> Path:
    """The file ``path`` stands for, checked writable before any work is done."""
    given = Path(path)
    folder_given = os.path.dirname(str(given)) or "."
    if not os.path.isdir(folder_given):  # walked as the system walks it: `a/../x` needs `a`
        raise OutputError(f"{option} {given}: folder {folder_given} does not exist")
    real = Path(os.path.realpath(given))
    try:
        mode = real.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise OutputError(f"{option} {given}: cannot use it: {exc.strerror}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise OutputError(f"{option} {given}: is a folder")
    if mode is not None and not stat.S_ISREG(mode):
        kind = file_kind(mode)
        raise OutputError(f"{option} {given}: is not a regular file ({kind}); not replaced")
    folder = real.parent
    if not folder.is_dir():
        raise OutputError(f"{option} {given}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {given}: folder {folder} is not writable")
    return real


def unreadable(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file, in words (``no such file``, ``is a folder, not a
    file``, ``is not a regular file (a character device)``, ``cannot be read: Permission
    denied``); None for a regular file this process may read."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "no such file"
    except OSError as exc:
        return f"cannot be read: {exc.strerror}"
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(mode):
        return f"is not a regular file ({file_kind(mode)})"
    if not os.access(path, os.R_OK):
        return "cannot be read: permission denied"
    return None


def file_kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a file"


def write_atomically(path: Path, text: str | bytes, option: str) -> None:
    """Write ``text`` (or bytes) beside ``path`` and rename it over ``path``."""
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise OutputError(f"{option} {path}: cannot write there: {exc.strerror}") from None
    PENDING.add(temporary)
    try:
        data = text.encode("utf-8") if isinstance(text, str) else text
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            os.fchmod(out.fileno(), 0o666 & ~_umask())
        os.replace(temporary, path)
    except OSError as exc:
        _remove(temporary)
        raise OutputError(f"{option} {path}: cannot write it: {exc.strerror}") from None
    except BaseException:
        _remove(temporary)
        raise
    finally:
        PENDING.discard(temporary)


@contextlib.contextmanager
def staged(path: Path, suffix: str, option: str) -> Iterator[Path]:
    """A temporary path beside ``path``, ending in ``suffix`` (savers such as Keras's insist on
    their own), for a writer that takes a path and a check that reads the file back. The caller
    renames it over ``path`` with :func:`commit`; whatever is left is removed on the way out,
    so a file that failed its check, or an interrupted write, never takes ``path``'s place."""
    try:
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    except OSError as exc:
        raise OutputError(f"{option} {path}: cannot write there: {exc.strerror}") from None
    os.close(handle)
    PENDING.add(name)
    try:
        yield Path(name)
    finally:
        _remove(name)
        PENDING.discard(name)


def commit(staged_path: Path, path: Path, option: str) -> None:
    """Give a :func:`staged` file the mode a new file gets and rename it over ``path``."""
    try:
        os.chmod(staged_path, 0o666 & ~_umask())
        os.replace(staged_path, path)
    except OSError as exc:
        raise OutputError(f"{option} {path}: cannot write it: {exc.strerror}") from None


def folder_target(path: str | Path, option: str) -> Path:
    """A folder to fill (``--export DIR``, ``vectors -o DIR``), checked before any work: new in
    an existing, writable folder, or existing and empty."""
    given = Path(path)
    parent = given.parent if str(given.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{option} {given}: folder {parent} does not exist")
    if given.exists() and not given.is_dir():
        raise OutputError(f"{option} {given}: exists and is not a folder")
    if given.is_dir() and any(given.iterdir()):
        raise OutputError(f"{option} {given}: exists and is not empty; give a new or empty folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {given}: cannot write in {parent}")
    return given


@contextlib.contextmanager
def staged_folder(path: Path, option: str) -> Iterator[Path]:
    """A temporary folder beside ``path`` to fill; :func:`commit_folder` renames it into place,
    and whatever is left (a failed or interrupted fill) is removed on the way out, so ``path``
    is never half-written."""
    try:
        name = tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"{option} {path}: cannot write there: {exc.strerror}") from None
    PENDING_FOLDERS.add(name)
    try:
        yield Path(name)
    finally:
        shutil.rmtree(name, ignore_errors=True)
        PENDING_FOLDERS.discard(name)


def commit_folder(staged_path: Path, path: Path, option: str) -> None:
    """Give a :func:`staged_folder` the mode a new folder gets and rename it to ``path`` (an
    empty folder there, as :func:`folder_target` allowed, is replaced)."""
    try:
        os.chmod(staged_path, 0o777 & ~_umask())
        if path.is_dir():
            path.rmdir()
        os.replace(staged_path, path)
    except OSError as exc:
        raise OutputError(f"{option} {path}: cannot write it: {exc.strerror}") from None


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_stream(stream: IO[str], text: str) -> None:
    """Write and flush ``text`` to an output stream; a stream that cannot take it (a full disk)
    is an :class:`OutputError`, and is pointed at /dev/null so that nothing more fails on it
    when Python exits. A pipe whose reader has closed it (``rnninspect ... | head``) is no
    error: the reader has what it wanted, and the command goes on quietly to its own exit code
    (a JUnit file still written, a failed check still exit 1), as Unix filters do."""
    try:
        stream.write(text)
        stream.flush()
    except OSError as exc:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
        if isinstance(exc, BrokenPipeError):
            return
        name = getattr(stream, "name", "the output")
        raise OutputError(f"cannot write to {name}: {exc.strerror or exc}") from None


def remove_pending() -> None:
    """Remove every temporary file still being written (an interrupt that cannot wait, which
    :func:`rnninspect.base.signals.stop` calls)."""
    for path in list(PENDING):
        _remove(path)
    for folder in list(PENDING_FOLDERS):
        shutil.rmtree(folder, ignore_errors=True)


signals.CLEANUPS.append(remove_pending)
