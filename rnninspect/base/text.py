"""Strings made safe to show: text from outside escaped, and our own symbols spelt in ASCII
where the output stream cannot encode them.

Text from outside (file names, checkpoint keys, matrix case names, messages of user code and of
the libraries reading a file) may hold terminal escape sequences, other control characters and
bidirectional overrides (U+202E) that make a terminal show what is not there. They are shown
escaped (``\\x1b``, ``\\u202e``), on stdout and stderr alike.
"""

from __future__ import annotations

import re
from typing import IO, Any

#: Control characters (C0 but newline, DEL, C1) and the bidirectional formatting characters.
_UNSAFE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

#: The longest message an error line shows; past it, the middle is cut and the cut said.
LONGEST = 600


def printable(text: str) -> str:
    """``text`` with every unsafe character shown as an escape; newlines kept."""
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def exception_line(exc: BaseException, named: bool = True) -> str:
    """An exception's message on one line (``RuntimeError: shapes differ``; with ``named``
    false, the message alone); its type alone where it has no message."""
    text = " ".join(str(exc).split())
    if not named:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def one_line(text: str, longest: int = LONGEST) -> str:
    """``text`` on one line, escaped, and cut in the middle past ``longest`` characters."""
    line = printable(" ".join(text.split()))
    if len(line) <= longest:
        return line
    head, tail = line[: longest * 2 // 3], line[-(longest // 3) :]
    return f"{head} … ({len(line) - len(head) - len(tail):,} characters cut) … {tail}"


#: ASCII for the symbols rnninspect prints, where the stream cannot encode them.
ASCII = str.maketrans(
    {
        "·": "-",
        "→": "->",
        "←": "<-",
        "─": "-",
        "━": "=",
        "│": "|",
        "█": "#",
        "▌": "|",
        "×": "x",
        "…": "...",
        "∝": "~",
        "‖": "||",
        "≥": ">=",
        "≤": "<=",
        "—": "-",
        "–": "-",
        "’": "'",
    }
)


def encodable(text: str, stream: IO[str] | Any) -> str:
    """``text`` as ``stream`` can encode it: our symbols in ASCII, anything else escaped."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
        return text
    except (UnicodeEncodeError, LookupError):
        pass
    plain = text.translate(ASCII)
    try:
        return plain.encode(encoding, errors="backslashreplace").decode(encoding)
    except LookupError:
        return plain.encode("ascii", errors="backslashreplace").decode("ascii")
