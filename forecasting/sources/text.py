"""Reading text files as hydrologists have them: UTF-8 (with or without BOM) or cp1251, any line ending, decided per
line where a file mixes them; and splitting them into rows one line at a time, so that one bad line (a stray quote,
a field of megabytes, a NUL) is quarantined alone instead of swallowing or failing the rest of the file."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

ENCODINGS: tuple[str, ...] = ("utf-8-sig", "cp1251")
MAX_LINE_CHARS = 65_536  # a longer line is quarantined (a data row is a few hundred characters at most)
LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE_BREAK_BYTES = re.compile(rb"(\r\n|\r|\n)")


class UnreadableFile(ValueError):
    """The file cannot be decoded or is not a text table."""


def read_text(path: Path) -> tuple[str, str]:
    """Return (text, encoding) of `path`: UTF-8 (BOM dropped) if the whole file is UTF-8, else cp1251 if it is
    cp1251 with no line that is valid non-ASCII UTF-8, else decided line by line (encoding 'mixed utf-8/cp1251':
    one cp1251 line among UTF-8 ones, or the reverse, keeps every line's letters right)."""
    data = Path(path).read_bytes()
    if b"\x00" in data[:4096]:
        raise UnreadableFile(f"{path}: binary file (NUL bytes); expected a text table")
    try:
        return data.decode("utf-8-sig"), "utf-8-sig"
    except UnicodeDecodeError:
        pass
    parts = _LINE_BREAK_BYTES.split(data.removeprefix(b"\xef\xbb\xbf"))
    out, utf8_lines = [], 0
    for k, part in enumerate(parts):
        if k % 2:  # a line break
            out.append(part.decode("ascii"))
            continue
        try:
            line = part.decode("utf-8")
            utf8_lines += not part.isascii()
        except UnicodeDecodeError:
            line = part.decode("cp1251", errors="replace")
        out.append(line)
    return "".join(out), "mixed utf-8/cp1251" if utf8_lines else "cp1251"


def split_lines(text: str) -> list[str]:
    """The lines of `text` split at \\r\\n, \\r or \\n only (line k of the file is element k-1); no empty last line."""
    lines = LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


@dataclass(frozen=True)
class LineProblem:
    """A line that was not split into fields, and why (1-based line number, the start of the line)."""

    line: int
    reason: str
    raw: str


def split_rows(
    lines: list[str], delimiter: str = ",", max_chars: int = MAX_LINE_CHARS
) -> tuple[list[list[str]], list[LineProblem]]:
    """Split each line into fields on its own (csv quoting within the line). A line longer than `max_chars`, with an
    unbalanced double quote (which would swallow the lines after it) or that csv cannot read (a NUL) gives an
    empty row and a LineProblem, so rows[k] is always line k+1."""
    rows: list[list[str]] = []
    problems: list[LineProblem] = []
    for k, line in enumerate(lines, start=1):
        why = ""
        if len(line) > max_chars:
            why = f"line of {len(line)} characters (more than {max_chars}); not read"
        elif line.count('"') % 2:
            why = 'unbalanced double quote (")'
        if not why:
            try:
                rows.append(next(csv.reader([line], delimiter=delimiter), []))
                continue
            except csv.Error as exc:
                why = f"not readable as a table row ({exc})"
        rows.append([])
        problems.append(LineProblem(k, f"{why}; the line is quarantined, the other lines are read", line[:500]))
    return rows, problems
