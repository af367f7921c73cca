"""Identifiers that come from data files (station ids, basin ids, survey points, post codes) and the one way to
turn them into paths.

An id from a file reaches the file system (model folders `models/<basin>/`, quarantine files, basin files), so it
is checked where it enters the project, and every path built from an id goes through `safe_join`, which refuses
to leave its base folder.

The id rule (ID_RULE), one for every kind of id:
- 1 to MAX_ID_LENGTH (64) characters, no blanks at either end;
- letters of any script (Latin, Cyrillic, Kazakh: ә ғ қ ң ө ұ ү һ і ...), digits, and the separators
  space - _ . , ( ) №;
- not starting with '.' or '-' (hidden files, command-line options) and no '..' anywhere;
- so never '/', '\\', ':', a NUL or any other control character, quotes, or '=', '+', '@' (spreadsheet formulas).
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

MAX_ID_LENGTH = 64
SEPARATORS = " -_.,()№"
ID_RULE = (
    f"1-{MAX_ID_LENGTH} characters: letters (any script), digits and the separators "
    "space - _ . , ( ) №; not starting with '.' or '-', no '..'"
)
MAX_FILENAME_BYTES = 255  # a path component on Linux file systems


class InvalidId(ValueError):
    """An id that breaks ID_RULE."""


class UnsafePath(ValueError):
    """A path that would leave its base folder, or a component that is not a plain name."""


def id_problem(value: object) -> str | None:
    """Why `value` is not a valid id (a short reason), or None if it is one."""
    if not isinstance(value, str):
        return f"not text ({type(value).__name__})"
    if not value:
        return "empty"
    if value != value.strip():
        return "blank at the start or end"
    if len(value) > MAX_ID_LENGTH:
        return f"{len(value)} characters (at most {MAX_ID_LENGTH})"
    bad = sorted({c for c in value if not (c.isalpha() or c.isdecimal() or c in SEPARATORS)})
    if bad:
        shown = ", ".join(repr(c) if c.isprintable() else f"U+{ord(c):04X}" for c in bad[:5])
        return f"character(s) not allowed: {shown}"
    if value[0] in ".-":
        return f"starts with '{value[0]}'"
    if ".." in value:
        return "contains '..'"
    return None


def check_id(value: object, what: str = "id") -> str:
    """`value` (Unicode NFC-normalised) if it is a valid id (ID_RULE), else raise InvalidId naming `what`, the value
    and the reason."""
    norm = unicodedata.normalize("NFC", value) if isinstance(value, str) else value
    problem = id_problem(norm)
    if problem is not None:
        raise InvalidId(f"{what} {_show(value)} is not a valid id ({problem}); ids are {ID_RULE}")
    return norm  # type: ignore[return-value]


def is_valid_id(value: object) -> bool:
    """True if `value` (NFC-normalised) follows ID_RULE."""
    return id_problem(unicodedata.normalize("NFC", value) if isinstance(value, str) else value) is None


def _show(value: object, limit: int = 80) -> str:
    s = repr(value)
    return s if len(s) <= limit else s[: limit - 5] + "...'"


def safe_join(base: str | os.PathLike[str], *parts: str) -> Path:
    """`base / part1 / part2 ...`, refusing any part that is not a plain file name (empty, '.', '..', holding
    '/', '\\\\' or a control character, longer than 255 bytes) and any result outside `base` (after resolving
    symbolic links). The one way to build a path from an id. Raises UnsafePath."""
    root = Path(base).resolve()
    path = root
    for part in parts:
        if not isinstance(part, str) or not part or part in (".", ".."):
            raise UnsafePath(f"{_show(part)} is not a file name (joining it to {root})")
        if "/" in part or "\\" in part or any(unicodedata.category(c) == "Cc" for c in part):
            raise UnsafePath(f"{_show(part)} holds a path separator or a control character (joining it to {root})")
        if len(part.encode("utf-8")) > MAX_FILENAME_BYTES:
            raise UnsafePath(f"{_show(part)} is longer than {MAX_FILENAME_BYTES} bytes (joining it to {root})")
        path = path / part
    resolved = path.resolve()
    if resolved != root and root not in resolved.parents:
        raise UnsafePath(f"{path} leaves {root}")
    return path


_UNSAFE_CHARS = re.compile(r"[^\w\-.,() №]", re.UNICODE)


def safe_filename(name: str, max_length: int = 100, default: str = "source") -> str:
    """A harmless file name made from any text (e.g. a source path's last part, for a quarantine file): characters
    outside the id alphabet become '_', no leading '.' or '-', at most `max_length` characters."""
    s = _UNSAFE_CHARS.sub("_", unicodedata.normalize("NFC", str(name)))
    s = s.replace("..", "_").lstrip(".- ").strip()
    return s[:max_length] or default
