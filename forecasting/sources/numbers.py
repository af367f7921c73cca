"""Parsing the cells of Kazhydromet tables: numbers with decimal commas, `-`, `нб`, dates in two forms.

Shared by the `kazhydromet` (portal exports), `kazhydromet-yearbook` (ЕДС tables) and `snow-survey` adapters.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from forecasting.sources.text import UnreadableFile, read_text

# A cell that means "no observation": not stored, not an error.
MISSING_TOKENS: frozenset[str] = frozenset(
    {"", "-", "--", "---", "—", "–", "−", "...", "…", "nan", "na", "n/a", "null", "none", "нет", "нет данных", "н/д"}
)
# A cell that means "no flow" (нет бега / перемерзание, пересыхание): discharge 0 m3/s.
NO_FLOW_TOKENS: frozenset[str] = frozenset({"нб", "н/б", "н.б.", "н.б", "нб."})

# Spaces used as thousands separators: ordinary, no-break, narrow no-break, thin.
_SPACES = re.compile(r"[ \u00a0\u202f\u2009]+")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class Cell:
    """A parsed cell: `kind` is 'value', 'missing', 'noflow' (value 0.0) or 'bad' (value None)."""

    kind: str
    value: float | None = None

    @property
    def ok(self) -> bool:
        return self.kind in ("value", "noflow")


def clean(raw: object) -> str:
    """A cell as stripped text (None -> '', quotes and a BOM removed)."""
    if raw is None:
        return ""
    s = str(raw).replace("\ufeff", "").strip()
    if len(s) >= 2 and s[0] == s[-1] == '"':
        s = s[1:-1].strip()
    return s


def parse_number(raw: object) -> Cell:
    """Parse a Kazhydromet number cell.

    Accepts decimal commas ("12,5"), decimal points, spaces as thousands separators ("1 140,0"), a dot as
    thousands separator when a decimal comma follows ("1.140,5"), a Unicode minus; `-`, empty and similar
    are missing; `нб` (no flow) is 0. Anything else is 'bad', also a number that overflows to infinity ('1e400').
    """
    if isinstance(raw, bool):
        return Cell("bad")
    if isinstance(raw, int | float):
        v = float(raw)
        if v != v:
            return Cell("missing")
        return Cell("value", v) if math.isfinite(v) else Cell("bad")
    s = clean(raw)
    low = s.lower()
    if low in MISSING_TOKENS:
        return Cell("missing")
    if low in NO_FLOW_TOKENS:
        return Cell("noflow", 0.0)
    s = _SPACES.sub("", s).replace("\u2212", "-")
    if "," in s and "." in s:
        # "1.140,5" (dot thousands, decimal comma) or "1,140.5"
        s = s.replace(".", "").replace(",", ".") if s.rfind(",") > s.rfind(".") else s.replace(",", "")
    elif s.count(",") == 1:
        s = s.replace(",", ".")
    if not _NUMBER.match(s):
        return Cell("bad")
    v = float(s)
    return Cell("value", v) if math.isfinite(v) else Cell("bad")  # '1e400' overflows to inf: not a number


_DMY = re.compile(r"^(\d{1,2})[./](\d{1,2})[./](\d{4}|\d{2})$")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_TIME = re.compile(r"[ T]0?0:00(:00(\.0+)?)?$")


def parse_date(raw: object, two_digit_year: bool = False) -> date | None:
    """A day from `dd.mm.yyyy` (also `dd/mm/yyyy`) or ISO `yyyy-mm-dd`, or None if invalid (31.04, text).

    A midnight time part (`2024-04-01 00:00:00`, as spreadsheets write dates) is accepted. With `two_digit_year`,
    `dd.mm.yy` is accepted too, as strptime's %y reads it: 69-99 -> 1969-1999, 00-68 -> 2000-2068.
    """
    if isinstance(raw, datetime):
        return raw.date() if raw.time() == datetime.min.time() else None
    if isinstance(raw, date):
        return raw
    s = _TIME.sub("", clean(raw))
    m = _DMY.match(s)
    if m:
        d, mo, y = (int(g) for g in m.groups())
        if len(m.group(3)) == 2:
            if not two_digit_year:
                return None
            y += 1900 if y >= 69 else 2000
    else:
        m = _ISO.match(s)
        if not m:
            return None
        y, mo, d = (int(g) for g in m.groups())
    try:
        return date(y, mo, d)
    except ValueError:
        return None


def normalize_code(raw: object) -> str:
    """A post code as a string: '11432', also from spreadsheet floats ('11432.0') or with spaces."""
    s = _SPACES.sub("", clean(raw))
    if re.fullmatch(r"\d+\.0+", s):
        s = s.split(".")[0]
    return s


def read_table_text(path: Path) -> str:
    """The text of a table file: UTF-16 with a BOM (Excel's "Unicode text" export), else UTF-8 or cp1251.

    Raises forecasting.sources.text.UnreadableFile for binary or undecodable files.
    """
    data = Path(path).read_bytes()
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise UnreadableFile(f"{path}: broken UTF-16 text ({exc.reason})") from exc
    return read_text(path)[0]


def read_head(path: Path, limit: int = 8192) -> str:
    """The first `limit` bytes of a text file, decoded as UTF-8 (BOM dropped) or cp1251, for format sniffing.

    A UTF-8 character cut at the end is dropped. Raises UnicodeDecodeError for neither, OSError if unreadable.
    """
    with open(path, "rb") as fh:
        data = fh.read(limit)
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data[: len(data) // 2 * 2].decode("utf-16", errors="ignore")
    if b"\x00" in data:
        raise UnicodeDecodeError("utf-8", data, 0, 1, "binary file (NUL bytes)")
    for cut in range(4):
        try:
            return data[: len(data) - cut].decode("utf-8-sig")
        except UnicodeDecodeError:
            if len(data) < limit:
                break  # the whole file was read: no character was cut
    return data.decode("cp1251")
