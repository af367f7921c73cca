"""The `kazhydromet` format: exports of Kazhydromet's hydrological data portal, one or several files per hydropost.

Three kinds of semicolon-separated files (UTF-8 or cp1251, any line ending), recognised by their header (Latin,
Russian or Kazakh column names) or, without a header, by their column count:
- the post list `basin; water_object; object_code; post_name; post_code` (optionally with the marks
  `неблагоприятная / опасная / критическая отметка`, cm, mapped to level_warning/danger/extreme_cm);
- daily discharge `post_code; date; discharge` (m3/s; a `л/с` unit in the header is converted);
- daily water level `post_code; date; level; symbol` (cm above the gauge zero; the observation symbol, e.g. an ice
  mark `Лд`, `Ледостав`, `≡`, is kept in the observations column `symbol`, stored as `water_level_cm_symbol`).

Cells: decimal commas, spaces as thousands separators, `-` = no observation (skipped, not an error), `нб` = no
flow (0 m3/s). Dates `dd.mm.yyyy` or ISO `yyyy-mm-dd`, per row; dates are local days. A path may be one file or a
folder holding the files. A file without a header is told by its column count (3 = discharge, 4 = level with
symbol; so a headerless level file without its symbol column would pass for discharge: keep the header).
Stations: `station_id` = post code; name, river, basin from the post list; coordinates (and a name or basin the
post list lacks) from the KazFlow85 list shipped as `kazhydromet_posts.csv`. Duplicated dates are passed on to
the store, which keeps the first value (flagged) and quarantines conflicting repeats.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.canonical import AdapterResult, QuarantinedRow, concat_observations, empty_stations
from forecasting.ids import MAX_ID_LENGTH, InvalidId, check_id
from forecasting.sources import register
from forecasting.sources.numbers import clean, normalize_code, parse_date, parse_number, read_head, read_table_text
from forecasting.sources.text import MAX_LINE_CHARS, LineProblem, UnreadableFile, split_lines, split_rows
from forecasting.validate import clean_metadata, date_problem, date_window
from forecasting.variables import STATION_FIELDS

SUFFIXES = {".csv", ".txt", ".tsv", ""}
COUNTRY = "KZ"

# Normalised header (lower case, ё -> е, units cut off) -> field.
EXACT: dict[str, str] = {}
for _field, _names in {
    "post_code": [
        "post_code",
        "code",
        "station_id",
        "код",
        "код поста",
        "код гидропоста",
        "индекс",
        "индекс поста",
        "бекет коды",
        "пост коды",
        "бекеттің коды",
        "гидробекет коды",
    ],
    "post_name": [
        "post_name",
        "name",
        "пост",
        "гидропост",
        "название поста",
        "наименование поста",
        "пункт",
        "пункт наблюдения",
        "бекет",
        "гидробекет",
        "бекет атауы",
        "бекеттің атауы",
        "пост атауы",
    ],
    "basin": ["basin", "бассейн", "бассейн реки", "водохозяйственный бассейн", "су алабы", "алап", "бассейні"],
    "water_object": ["water_object", "river", "водный объект", "водоток", "река", "су объектісі", "су нысаны", "өзен"],
    "object_code": ["object_code", "код объекта", "код водного объекта", "объект коды", "су объектісінің коды"],
    "date": ["date", "дата", "күні", "күн", "дата наблюдения", "дата измерения", "күні/дата"],
    "discharge": [
        "discharge",
        "discharge_m3s",
        "q",
        "расход",
        "расход воды",
        "среднесуточный расход",
        "среднесуточный расход воды",
        "средний расход воды",
        "су шығыны",
        "шығын",
    ],
    "level": [
        "level",
        "water_level_cm",
        "h",
        "уровень",
        "уровень воды",
        "среднесуточный уровень воды",
        "су деңгейі",
        "деңгей",
    ],
    "symbol": [
        "symbol",
        "символ",
        "знак",
        "признак",
        "примечание",
        "явления",
        "ледовые явления",
        "явления на реке",
        "белгі",
        "таңба",
        "шартты белгі",
    ],
    "level_danger_cm": ["level_danger_cm", "danger", "опасная отметка", "опасный уровень", "қауіпті белгі"],
    "level_extreme_cm": ["level_extreme_cm", "critical", "критическая отметка", "критический уровень", "сыни белгі"],
    "level_warning_cm": [
        "level_warning_cm",
        "warning",
        "неблагоприятная отметка",
        "неблагоприятный уровень",
        "выход воды на пойму",
    ],
    "lat": ["lat", "latitude", "широта", "ендік"],
    "lon": ["lon", "longitude", "долгота", "бойлық"],
    "area_km2": ["area_km2", "площадь водосбора", "су жинау алаңы"],
}.items():
    for _n in _names:
        EXACT[_n] = _field

# Fallback: the first rule whose words all occur in the header cell.
KEYWORDS: list[tuple[tuple[str, ...], str]] = [
    (("опасн",), "level_danger_cm"),
    (("критич",), "level_extreme_cm"),
    (("неблагопр",), "level_warning_cm"),
    (("пойм",), "level_warning_cm"),
    (("код", "объект"), "object_code"),
    (("код",), "post_code"),
    (("коды",), "post_code"),
    (("расход",), "discharge"),
    (("шығын",), "discharge"),
    (("уров",), "level"),
    (("деңгей",), "level"),
    (("дата",), "date"),
    (("күн",), "date"),
    (("бассейн",), "basin"),
    (("алап",), "basin"),
    (("символ",), "symbol"),
    (("явлен",), "symbol"),
    (("белгі",), "symbol"),
    (("пост",), "post_name"),
    (("бекет",), "post_name"),
    (("объект",), "water_object"),
    (("река",), "water_object"),
    (("өзен",), "water_object"),
]

# Units found in headers ("Расход воды, м3/с", "Уровень (см)") -> factor to canonical units.
DISCHARGE_UNITS = {"м3/с": 1.0, "м³/с": 1.0, "м3/сек": 1.0, "m3/s": 1.0, "куб.м/с": 1.0, "л/с": 1e-3, "l/s": 1e-3}
LEVEL_UNITS = {"см": 1.0, "cm": 1.0, "м": 100.0, "m": 100.0, "мм": 0.1, "mm": 0.1}
NUMBER_FIELDS = ("level_danger_cm", "level_extreme_cm", "level_warning_cm", "lat", "lon", "area_km2")
POSITIONAL = {
    "posts": ["basin", "water_object", "object_code", "post_name", "post_code"],
    "discharge": ["post_code", "date", "discharge"],
    "level": ["post_code", "date", "level", "symbol"],
}


@lru_cache(maxsize=1)
def post_registry() -> pd.DataFrame:
    """The KazFlow85 list of Kazhydromet posts (post_code -> name, lat, lon, basin), shipped with the package."""
    text = (resources.files("forecasting.sources") / "kazhydromet_posts.csv").read_text(encoding="utf-8")
    df = pd.read_csv(io.StringIO(text), dtype={"post_code": "str"})
    return df.set_index("post_code")


def split_header(cell: str) -> tuple[str, str]:
    """(normalised name, unit) of a header cell: 'Расход воды, м3/с' -> ('расход воды', 'м3/с')."""
    s = clean(cell).lower().replace("ё", "е").rstrip(":").strip()
    unit = ""
    m = re.match(r"^(.*?)\s*\(([^)]*)\)\s*$", s)
    if m:
        s, unit = m.group(1), m.group(2)
    elif "," in s:
        s, unit = (p.strip() for p in s.split(",", 1))
    return re.sub(r"\s+", " ", s).strip(), unit.replace(" ", "")


def header_field(cell: str) -> str | None:
    name, _ = split_header(cell)
    if name in EXACT:
        return EXACT[name]
    for words, fld in KEYWORDS:
        if all(w in name for w in words):
            return fld
    return None


@dataclass
class Layout:
    """How a file is laid out: its kind, the column of each field, the header line (0 = none), unit factors."""

    kind: str  # posts | data
    columns: dict[str, int]
    ncols: int
    header_line: int = 0
    factors: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str = ""  # set when the file is recognised but cannot be used (e.g. a unit not understood)

    @property
    def label(self) -> str:
        if self.kind == "posts":
            return "post list"
        return " and ".join(v for v in ("discharge", "level") if v in self.columns)


def sniff_delimiter(line: str) -> str | None:
    if ";" in line:
        return ";"
    if "\t" in line:
        return "\t"
    return None


def _is_data_row(row: list[str]) -> bool:
    """A row like '11432;01.04.2024;12,5': a five-digit post code, then a date."""
    return (
        len(row) >= 3 and re.fullmatch(r"\d{5}", normalize_code(row[0])) is not None and parse_date(row[1]) is not None
    )


def classify(rows: list[list[str]]) -> Layout | None:
    """Recognise a Kazhydromet file from its first rows (header names, else column count); None if not one.

    Up to 5 title lines above the header (rows with a single filled cell, e.g. 'Гидропост 11432') are skipped.
    """
    body = list(itertools.islice(((i, r) for i, r in enumerate(rows, start=1) if any(clean(c) for c in r)), 7))
    skip = 0
    while skip < min(5, len(body) - 1) and sum(1 for c in body[skip][1] if clean(c)) <= 1:
        skip += 1
    layout = _classify(body[skip:], body[skip - 1][0] if skip else 0)
    if layout is not None and skip:
        titles = " / ".join(clean(next(c for c in r if clean(c))) for _, r in body[:skip])
        layout.notes.insert(0, f"{skip} title lines above the table skipped: '{titles}'")
    return layout


def _classify(body: list[tuple[int, list[str]]], before: int) -> Layout | None:
    """classify() on the rows from the header (or first data row) on; `before` is the line above them."""
    if not body:
        return None
    line0, first = body[0]
    if _is_data_row(first):
        return _positional(first, before, "no header")
    fields = [header_field(c) for c in first]
    cols: dict[str, int] = {}
    for j, f in enumerate(fields):
        if f and f not in cols:
            cols[f] = j
    notes = [f"column '{clean(first[j])}' not used" for j, f in enumerate(fields) if not f and clean(first[j])]
    has_data = "discharge" in cols or "level" in cols
    width = len(_trim(first))  # spreadsheet exports pad rows with empty cells
    if "post_code" in cols and "date" in cols and has_data:
        layout = Layout("data", cols, width, line0, notes=notes)
        _units(layout, first)
        return layout
    if "post_code" in cols and "date" not in cols and ({"post_name", "water_object", "basin"} & set(cols)):
        return Layout("posts", cols, width, line0, notes=notes)
    # A header we do not understand: take the columns by position if the next row is data.
    if len(body) > 1 and _is_data_row(body[1][1]):
        return _positional(body[1][1], line0, f"header '{';'.join(clean(c) for c in first)}' not recognised")
    # A post list without a header, or with one we do not understand (and that names no date or values).
    if _is_post_row(first):
        layout = Layout("posts", {f: j for j, f in enumerate(POSITIONAL["posts"])}, 5, before)
        layout.notes.append("no header: post list columns taken by position")
        return layout
    if len(body) > 1 and _is_post_row(body[1][1]) and not {"date", "discharge", "level"} & set(cols):
        layout = Layout("posts", {f: j for j, f in enumerate(POSITIONAL["posts"])}, 5, line0)
        layout.notes.append("header not recognised; post list columns taken by position")
        return layout
    return None


def _is_post_row(row: list[str]) -> bool:
    """A row like 'Есіл;р. Кылшакты;0114;с. Балкашино;11432': five cells, a five-digit post code last, no date."""
    cells = _trim(row)
    return (
        len(cells) == 5
        and re.fullmatch(r"\d{5}", normalize_code(cells[4])) is not None
        and not any(parse_date(c) for c in cells)
        and all(parse_number(cells[k]).kind == "bad" for k in (0, 1, 3))
    )


def _trim(row: list[str]) -> list[str]:
    """The row without its trailing empty cells."""
    n = len(row)
    while n and not clean(row[n - 1]):
        n -= 1
    return row[:n]


def _positional(row: list[str], header_line: int, why: str) -> Layout | None:
    n = len(row) if len(row) <= 4 else len(_trim(row))
    kind = {3: "discharge", 4: "level"}.get(n)
    if kind is None:
        return None
    cols = {f: j for j, f in enumerate(POSITIONAL[kind])}
    return Layout("data", cols, len(POSITIONAL[kind]), header_line, notes=[f"{why}: columns taken as {kind} by count"])


def _units(layout: Layout, header: list[str]) -> None:
    for var, table in (("discharge", DISCHARGE_UNITS), ("level", LEVEL_UNITS)):
        if var not in layout.columns:
            continue
        _, unit = split_header(header[layout.columns[var]])
        if not unit:
            layout.factors[var] = 1.0
        elif unit in table:
            layout.factors[var] = table[unit]
            if table[unit] != 1.0:
                canon = "m3/s" if var == "discharge" else "cm"
                layout.notes.append(f"{var} given in '{unit}', converted to {canon}")
        else:
            layout.error = (
                f"unit '{unit}' of column '{clean(header[layout.columns[var]])}' not understood "
                f"(expected one of {', '.join(table)})"
            )


def read_table(path: Path, limit: int | None = None) -> tuple[list[list[str]], str | None]:
    """Rows of a semicolon (or tab) separated file and its delimiter (None if it has neither); unreadable lines give
    empty rows (read_table_checked names them). With `limit`, only the first `limit` bytes are read (for sniffing)."""
    rows, delim, _ = read_table_checked(path, limit)
    return rows, delim


def read_table_checked(path: Path, limit: int | None = None) -> tuple[list[list[str]], str | None, list[LineProblem]]:
    """read_table and the lines that could not be split into fields (over-long, a stray quote, a NUL): each line is
    read on its own, so such a line costs only itself."""
    text = read_table_text(path) if limit is None else read_head(path, limit)
    lines = split_lines(text)
    head = [ln for ln in lines[:40] if ln.strip() and len(ln) <= MAX_LINE_CHARS][:7]  # title lines above the table
    delim = next((d for d in map(sniff_delimiter, head) if d), None)
    if delim is None:
        return [[ln] for ln in lines], None, []
    rows, problems = split_rows(lines, delim)
    return rows, delim, problems


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(
            p for p in path.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in SUFFIXES
        )
    return [path]


def sniff(path: Path) -> Layout | None:
    """The layout of `path` from its first few kilobytes, or None (also for unreadable files)."""
    try:
        rows, delim = read_table(path, limit=8192)
    except (OSError, UnreadableFile, UnicodeDecodeError, csv.Error):
        return None
    if delim is None:
        return None
    return classify(rows[:-1] if len(rows) > 2 else rows)


@register
class Kazhydromet:
    name = "kazhydromet"
    description = "Kazhydromet portal exports: post list, daily discharge, daily level with symbol (';', Cyrillic)"

    def detect(self, path: Path) -> bool:
        path = Path(path)
        if path.is_dir():
            return any(sniff(p) is not None for p in _files(path)[:20])
        return path.is_file() and path.suffix.lower() in SUFFIXES and sniff(path) is not None

    def read(self, path: Path) -> AdapterResult:
        path = Path(path)
        result = AdapterResult()
        files = _files(path)
        posts: list[pd.DataFrame] = []
        data_files: list[str] = []
        for f in files:
            src = str(f)
            try:
                rows, delim, problems = read_table_checked(f)
            except (OSError, UnreadableFile, csv.Error) as exc:
                result.quarantine.append(QuarantinedRow(src, None, None, str(exc)))
                continue
            result.quarantine.extend(QuarantinedRow(src, p.line, None, p.reason, p.raw) for p in problems)
            if not any(any(clean(c) for c in r) for r in rows):
                result.quarantine.append(QuarantinedRow(src, None, None, "empty file"))
                continue
            layout = classify(rows) if delim else None
            if layout is None:
                head = rows[0][0] if delim is None else ";".join(rows[0])
                result.quarantine.append(
                    QuarantinedRow(
                        src,
                        1,
                        None,
                        "not recognised as a Kazhydromet export (post list, daily discharge or daily level, "
                        "';'-separated)",
                        head[:200],
                    )
                )
                continue
            result.messages.extend(f"{src}: {n}" for n in layout.notes)
            if layout.error:
                result.quarantine.append(
                    QuarantinedRow(src, layout.header_line or None, None, layout.error, ";".join(rows[0]))
                )
                continue
            if layout.kind == "posts":
                table, q, msgs = parse_posts(rows, layout, src)
                posts.append(table)
            else:
                part, q, msgs = parse_data(rows, layout, src)
                result.observations = concat_observations([result.observations, part])
                data_files.append(src)
            result.quarantine.extend(q)
            result.messages.extend(msgs)
        if path.is_file() and not posts:
            posts.extend(_sibling_posts(path, result))
        result.stations = station_metadata(result, posts, data_files)
        return result


def _sibling_posts(path: Path, result: AdapterResult) -> list[pd.DataFrame]:
    """A post list beside a single data file gives its stations their metadata."""
    found = []
    for f in _files(path.parent):
        if f == path:
            continue
        layout = sniff(f)
        if layout is not None and layout.kind == "posts":
            rows, _ = read_table(f)
            table, _, _ = parse_posts(rows, classify(rows) or layout, str(f))
            found.append(table)
            result.messages.append(f"{path}: station metadata taken from the post list {f}")
    return found


def is_post_code(code: str) -> bool:
    """A Kazhydromet post code: ASCII digits only (usually five), at most MAX_ID_LENGTH of them."""
    return code.isascii() and code.isdigit() and len(code) <= MAX_ID_LENGTH


def _fit_row(row: list[str], layout: Layout) -> tuple[list[str] | None, str]:
    """The row padded/trimmed to the layout, or None and the reason (wrong number of fields)."""
    n = layout.ncols
    if len(row) == n:
        return row, ""
    if len(row) > n and not any(clean(c) for c in row[n:]):
        return row[:n], ""  # trailing empty cells (a ';' at the end of the line)
    if len(row) == n - 1 and layout.columns.get("symbol") == n - 1:
        return [*row, ""], ""  # the empty symbol of a level row left off
    kind = "truncated row" if len(row) < n else "too many fields"
    return None, f"{kind}: {len(row)} fields, expected {n}"


def _cached(values: np.ndarray, fn) -> list:
    """fn applied to each distinct value only (post codes and dates repeat a lot)."""
    memo = {v: fn(v) for v in pd.unique(values)}
    return [memo[v] for v in values]


def parse_numbers(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised parse_number: (float values, kind codes 0 value / 1 missing / 2 no flow / 3 bad).

    Plain numbers (decimal comma or point) take a fast path; everything else goes through parse_number.
    """
    text = pd.Series(values, dtype="str")
    fast = pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce").to_numpy(dtype="float64")
    out = fast.copy()
    kinds = np.zeros(len(out), dtype=np.int8)
    slow = ~np.isfinite(fast)
    codes = {"value": 0, "missing": 1, "noflow": 2, "bad": 3}
    for k in np.flatnonzero(slow):
        cell = parse_number(values[k])
        kinds[k] = codes[cell.kind]
        out[k] = np.nan if cell.value is None else cell.value
    return out, kinds


def parse_data(rows: list[list[str]], layout: Layout, src: str) -> tuple[pd.DataFrame, list[QuarantinedRow], list[str]]:
    """Daily discharge and/or level rows -> observations (with `symbol` for levels), quarantine, messages."""
    quarantine: list[QuarantinedRow] = []
    messages: list[str] = []
    c = layout.columns
    variables = [(v, canon) for v, canon in (("discharge", "discharge_m3s"), ("level", "water_level_cm")) if v in c]
    good: list[list[str]] = []
    lines: list[int] = []
    raws: list[str] = []
    for line, raw_row in enumerate(rows, start=1):
        if line <= layout.header_line or not any(x.strip() for x in raw_row):
            continue
        row, why = (raw_row, "") if len(raw_row) == layout.ncols else _fit_row(raw_row, layout)
        if row is None:
            quarantine.append(QuarantinedRow(src, line, None, why, ";".join(raw_row)))
            continue
        good.append(row)
        lines.append(line)
    if not good:
        return _observations({}, src), quarantine, messages
    table = np.array(good, dtype=object)
    line_arr = np.array(lines, dtype=np.int64)
    raws = [";".join(r) for r in good]
    codes = np.array(_cached(table[:, c["post_code"]], normalize_code), dtype=object)
    days = np.array(_cached(table[:, c["date"]], parse_date), dtype=object)
    ok = np.ones(len(good), dtype=bool)
    window = date_window()
    for k, code in enumerate(codes):
        if not is_post_code(code):
            reason = "empty post code" if not code else f"not a post code: '{code[:80]}'"
            quarantine.append(QuarantinedRow(src, int(line_arr[k]), "post_code", reason, raws[k]))
            ok[k] = False
        elif days[k] is not None and (why := date_problem(days[k], window)):
            quarantine.append(QuarantinedRow(src, int(line_arr[k]), "date", why, raws[k]))
            ok[k] = False
        elif days[k] is None:
            raw_date = clean(table[k, c["date"]])
            quarantine.append(
                QuarantinedRow(
                    src,
                    int(line_arr[k]),
                    "date",
                    f"not a valid date: '{raw_date}' (expected dd.mm.yyyy or yyyy-mm-dd)",
                    raws[k],
                )
            )
            ok[k] = False
    symbols = (
        np.array([clean(x) for x in table[:, c["symbol"]]], dtype=object)
        if "symbol" in c
        else np.full(len(good), "", dtype=object)
    )
    rec: dict[str, list] = {k: [] for k in ("station_id", "date", "variable", "value", "source_row", "symbol")}
    missing = 0
    for var, canon in variables:
        values, kinds = parse_numbers(table[:, c[var]])
        for k in np.flatnonzero(ok & (kinds == 3)):
            raw_cell = clean(table[k, c[var]])
            quarantine.append(QuarantinedRow(src, int(line_arr[k]), var, f"not a number: '{raw_cell}'", raws[k]))
        if var == "level":
            for k in np.flatnonzero(ok & (kinds == 2)):
                symbols[k] = f"{symbols[k]} нб".strip()
                messages.append(f"{src}, line {line_arr[k]}: level 'нб' (no flow) is not a level; kept as symbol only")
            kinds = np.where(kinds == 2, 1, kinds)
            for k in np.flatnonzero(ok & (kinds == 1) & (symbols != "")):
                messages.append(
                    f"{src}, line {line_arr[k]}: symbol '{symbols[k]}' on a day without a level value "
                    f"(post {codes[k]}, {days[k].isoformat()})"
                )
        missing += int((ok & (kinds == 1)).sum())
        keep = ok & ((kinds == 0) | (kinds == 2))
        rec["station_id"].extend(codes[keep])
        rec["date"].extend(days[keep])
        rec["variable"].extend([canon] * int(keep.sum()))
        rec["value"].extend(values[keep] * layout.factors.get(var, 1.0))
        rec["source_row"].extend(line_arr[keep])
        rec["symbol"].extend([(x or None) for x in symbols[keep]] if var == "level" else [None] * int(keep.sum()))
    if missing:
        messages.append(f"{src}: {missing} cells without observation ('-' or empty), not stored")
    quarantine.sort(key=lambda q: q.line or 0)
    return _observations(rec, src), quarantine, messages


def _observations(rec: dict[str, list], src: str) -> pd.DataFrame:
    n = len(rec.get("value", []))
    return pd.DataFrame(
        {
            "station_id": pd.Series(rec.get("station_id", []), dtype="str"),
            "date": pd.to_datetime(pd.Series(rec.get("date", []), dtype="object")).astype("datetime64[ns]"),
            "variable": pd.Series(rec.get("variable", []), dtype="str"),
            "value": pd.Series(rec.get("value", []), dtype="float64"),
            "source_file": pd.Series([src] * n, dtype="str"),
            "source_row": pd.Series(rec.get("source_row", []), dtype="int64"),
            "symbol": pd.Series(rec.get("symbol", []), dtype="object"),
        }
    )


def parse_posts(
    rows: list[list[str]], layout: Layout, src: str
) -> tuple[pd.DataFrame, list[QuarantinedRow], list[str]]:
    """The post list -> station metadata indexed by post code (station_id), quarantine, messages."""
    quarantine: list[QuarantinedRow] = []
    messages: list[str] = []
    c = layout.columns
    records: list[dict[str, object]] = []
    seen: set[str] = set()
    for line, raw_row in enumerate(rows, start=1):
        if line <= layout.header_line or not any(clean(x) for x in raw_row):
            continue
        raw = ";".join(raw_row)
        row, why = _fit_row(raw_row, layout)
        if row is None:
            quarantine.append(QuarantinedRow(src, line, None, why, raw))
            continue
        code = normalize_code(row[c["post_code"]])
        if not is_post_code(code):
            reason = "empty post code" if not code else f"not a post code: '{code[:80]}'"
            quarantine.append(QuarantinedRow(src, line, "post_code", reason, raw))
            continue
        if code in seen:
            messages.append(f"{src}, line {line}: post {code} listed twice; the first row is used")
            continue
        seen.add(code)
        out: dict[str, object] = {"station_id": code}
        for fld, key in (("post_name", "name"), ("water_object", "river"), ("basin", "basin")):
            if fld in c:
                out[key] = clean(row[c[fld]]) or None
        if out.get("basin"):
            try:
                out["basin"] = check_id(out["basin"], "basin")
            except InvalidId as exc:
                quarantine.append(QuarantinedRow(src, line, "basin", f"{exc}; the post is its own basin", raw))
                out["basin"] = None
        for fld in NUMBER_FIELDS:
            if fld not in c:
                continue
            cell = parse_number(row[c[fld]])
            if cell.kind == "bad":
                quarantine.append(QuarantinedRow(src, line, fld, f"not a number: '{clean(row[c[fld]])}'", raw))
            out[fld] = cell.value if cell.kind == "value" else np.nan
        out, problems = clean_metadata(out)
        quarantine.extend(QuarantinedRow(src, line, f, f"post {code}: {why}", raw) for f, why in problems)
        records.append(out)
    if not records:
        return empty_stations(), quarantine, messages
    table = pd.DataFrame.from_records(records).set_index("station_id")
    return table, quarantine, messages


def station_metadata(result: AdapterResult, posts: list[pd.DataFrame], data_files: list[str]) -> pd.DataFrame:
    """Metadata of the posts with data (or of the whole post list if there is no data), completed from KazFlow85."""
    listed = pd.concat([p for p in posts if len(p)]) if any(len(p) for p in posts) else empty_stations()
    listed = listed[~listed.index.duplicated(keep="first")]
    obs = result.observations
    if len(obs):
        first = obs.drop_duplicates("station_id")
        ids = list(first["station_id"])
        for sid, f, ln in zip(first["station_id"], first["source_file"], first["source_row"], strict=True):
            if len(listed) and sid not in listed.index:
                result.messages.append(
                    f"{f}, line {ln}: post {sid} is not in the post list; its data is kept"
                    + ("" if sid in post_registry().index else " (unknown post: no name or coordinates)")
                )
            elif not posts and sid not in post_registry().index:
                result.messages.append(f"{f}, line {ln}: unknown post {sid}; its data is kept without metadata")
        if not posts:
            result.messages.append(
                f"no post list among {', '.join(data_files)}; names and coordinates from the KazFlow85 list"
            )
        unused = sorted(set(listed.index) - set(ids))
        if unused:
            result.messages.append(f"{len(unused)} posts of the post list have no data here: {', '.join(unused)}")
    else:
        ids = list(listed.index)
        if ids:
            result.messages.append(
                f"post list only ({len(ids)} posts): no observations to store; ingest it together with the "
                "discharge and level files (one folder)"
            )
    reg = post_registry()
    records = []
    for sid in ids:
        row = listed.loc[sid] if sid in listed.index else pd.Series(dtype="object")
        out: dict[str, object] = {"station_id": sid}
        for f in STATION_FIELDS:
            v = row.get(f, None)
            out[f] = None if v is None or (isinstance(v, float) and np.isnan(v)) else v
        if sid in reg.index:
            for f in ("name", "basin", "lat", "lon"):
                if out[f] is None:
                    out[f] = reg.loc[sid, f]
        out["country"] = out["country"] or COUNTRY
        records.append(out)
    if not records:
        return empty_stations()
    table = pd.DataFrame.from_records(records).set_index("station_id")
    for f in NUMBER_FIELDS + ("q_warning_m3s", "q_danger_m3s", "q_extreme_m3s"):
        if f in table:
            table[f] = pd.to_numeric(table[f], errors="coerce").astype("float64")
    return table
