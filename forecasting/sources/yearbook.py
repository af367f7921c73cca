"""The `kazhydromet-yearbook` format: daily mean discharge tables of Kazhydromet's yearbooks (ЕДС), retyped.

"Ежегодные данные о режиме и ресурсах поверхностных вод суши" give, per post and year, a table with the days 1-31
as rows and the months I-XII as columns, followed by summary rows (mean, max, min, annual values). Hydrologists
keep archives in that layout as CSV (comma, semicolon or tab; UTF-8 or cp1251) or XLSX (every sheet is read).

A table is found by its month header (Roman numerals I..XII, Cyrillic look-alikes such as `І`, `Х` accepted, or
month names); the day number is in the column left of month I. The text rows above a header (the title) give the
post code (`код 11432`, `(11432)` or any five-digit number), the river and post (`р. Кылшакты – с. Балкашино`),
the year (`2023 г.`) and the unit (m3/s; `л/с` is converted). A table whose title names no post inherits the post
of the previous table in the same file; a sheet name (or file name) holding one post code or one year supplies
what a title lacks. A title speaking of levels (`уровни воды, см`) makes a table of daily water levels (cm);
tables of other quantities in the same layout (water temperature, sediment, ...) are quarantined, not read as
discharge. Cells: decimal commas, `-`/empty = missing, `нб` = no flow (0 m3/s).
Summary rows (Средний, Наибольший, Наименьший, Сред., Макс, Мин, Год..., Дата...) are recognised, skipped and
reported. A value on a day that does not exist (30 II, 31 IV) is quarantined; so is a cell that is not a number,
with its row and column. Provenance: the file (with `#sheet` for XLSX) and the 1-based row of the day.
"""

from __future__ import annotations

import calendar
import csv
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from forecasting.canonical import AdapterResult, QuarantinedRow, empty_stations
from forecasting.ids import ID_RULE, id_problem
from forecasting.sources import register
from forecasting.sources.kazhydromet import COUNTRY, post_registry
from forecasting.sources.numbers import clean, parse_number, read_head, read_table_text
from forecasting.sources.text import LineProblem, UnreadableFile, split_lines, split_rows
from forecasting.validate import date_problem
from forecasting.variables import STATION_FIELDS

TEXT_SUFFIXES = {".csv", ".txt", ".tsv"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
OLD_WORKBOOKS = {".xls", ".ods"}  # not readable here: quarantined with a hint
ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")
# Cyrillic and other look-alikes typed for Latin Roman numerals; Unicode Roman numeral characters.
LOOKALIKES = str.maketrans({"І": "I", "Ӏ": "I", "l": "I", "Х": "X", "х": "X", "Ⅰ": "I", "Ⅴ": "V", "Ⅹ": "X"})
UNICODE_ROMAN = {chr(0x2160 + k): ROMAN[k] for k in range(12)}
MONTH_PREFIXES = (
    ("янв", "jan", "қаң"),
    ("фев", "feb", "ақп"),
    ("мар", "mar", "нау"),
    ("апр", "apr", "сәу"),
    ("мая", "май", "may", "мам"),
    ("июн", "jun", "мау"),
    ("июл", "jul", "шіл"),
    ("авг", "aug", "там"),
    ("сен", "sep", "қыр"),
    ("окт", "oct", "қаз"),
    ("ноя", "nov", "қар"),
    ("дек", "dec", "жел"),
)
# Words that open a summary row (lower case, ё -> е). Kazakh: орташа = mean, ең көп / ең үлкен = max, ең аз /
# ең кіші = min, жыл = year.
SUMMARY = re.compile(
    r"^(сред|ср\b|ср\.|наиб|наим|макс|мин|max|min|mean|avg|сумм|итог|год|за год|дата|число дней|модул|слой|"
    r"объем|норм|декад|орташа|ең |жыл|annual|year|total)"
)
YEAR = re.compile(r"(?<!\d)(1[89]\d\d|20\d\d)(?!\d)")
CODE_TAGGED = re.compile(r"(?:код(?:\s+поста)?|индекс|пост|бекет коды|№|code)\s*[:№#]?\s*\(?(\d{5})(?!\d)", re.I)
CODE_ANY = re.compile(r"(?<![\d.,])(\d{5})(?![\d.,])")
RIVER_POST = re.compile(
    r"(?:^|[\s(])(?:р\.|река|өз\.|өзені)\s*(?P<river>[^–—\-,;()]+?)\s*[–—\-]\s*(?P<post>[^,;()]+)", re.I
)
# Yearbook tables in the same layout that hold no variable of the store: quarantined, not read as discharge.
UNSUPPORTED = ("наносов", "температур", "мутност", "минерализ", "толщин", "ледовых", "химическ")
POST_CUT = re.compile(r"\s(?:код|индекс|№|пост\s+\d)|\s\d{4,5}(?!\d)|\s*\.\s*$", re.I)


def month_of(cell: object) -> int | None:
    """1..12 if the cell is a month label (Roman numeral, also Cyrillic look-alikes, or a month name)."""
    s = clean(cell)
    if not s or len(s) > 12:
        return None
    s = s.strip(" .")
    if s in UNICODE_ROMAN:
        s = UNICODE_ROMAN[s]
    up = s.translate(LOOKALIKES).upper()
    if up in ROMAN:
        return ROMAN.index(up) + 1
    low = s.lower()
    for k, prefixes in enumerate(MONTH_PREFIXES, start=1):
        if any(low.startswith(p) for p in prefixes) and low.isalpha():
            return k
    return None


def header_months(cells: list[object]) -> dict[int, int] | None:
    """Month -> column of a month header row (at least 10 months, left to right), else None."""
    found: dict[int, int] = {}
    last = 0
    for j, c in enumerate(cells):
        m = month_of(c)
        if m is None:
            continue
        if m <= last or m in found:
            return None
        found[m] = j
        last = m
    return found if len(found) >= 10 else None


def day_number(cell: object) -> int | None:
    """The integer in a day cell (1, '1', 1.0, '1.'), or None if it holds no integer."""
    if isinstance(cell, bool):
        return None
    if isinstance(cell, int | float):
        v = float(cell)
    else:
        s = clean(cell).rstrip(".")
        if not re.fullmatch(r"\d{1,4}", s):
            return None
        v = float(s)
    return int(v) if v == int(v) else None


@dataclass
class Title:
    """What the text above a table says: post code, post name, river, year, variable, unit factor."""

    code: str = ""
    name: str = ""
    river: str = ""
    year: int | None = None
    factor: float | None = None  # to canonical units; None: the title names no unit
    variable: str | None = None  # discharge_m3s | water_level_cm | "" (not stored); None: the title does not say
    other: str = ""  # what an unsupported table holds (e.g. 'температур')
    text: str = ""


def parse_title(lines: list[str]) -> Title:
    """Read the post, river, year and unit from the title lines of a table (later lines win for the year)."""
    text = " ".join(" ".join(ln.split()) for ln in lines)
    t = Title(text=text)
    for ln in lines:
        years = YEAR.findall(ln)
        if years:
            t.year = int(years[-1])
    m = CODE_TAGGED.search(text)
    if m:
        t.code = m.group(1)
    else:
        codes = [c for c in CODE_ANY.findall(text) if not (t.year and c.startswith(str(t.year)))]
        t.code = codes[0] if codes else ""
    m = RIVER_POST.search(text)
    if m:
        t.river = "р. " + m.group("river").strip()
        t.name = POST_CUT.split(m.group("post"))[0].strip(" .")
    low = text.lower()
    other = next((w for w in UNSUPPORTED if w in low), "")
    if other:
        t.variable, t.other = "", other
    elif "уровн" in low or "деңгей" in low:
        t.variable, t.factor = "water_level_cm", 1.0
    elif "расход" in low or "шығын" in low or "discharge" in low:
        t.variable = "discharge_m3s"
    low = low.replace(" ", "")
    if t.variable != "water_level_cm":
        if "л/с" in low or "l/s" in low:
            t.factor = 1e-3
        elif any(u in low for u in ("м3/с", "м³/с", "m3/s", "куб.м/с")):
            t.factor = 1.0
    return t


@dataclass
class Table:
    """A table being read: where it is, its columns, whose and which year it is, what it skipped."""

    source: str
    header_line: int
    day_col: int
    month_cols: dict[int, int]
    title: Title
    station_id: str = ""
    summary: list[str] = field(default_factory=list)
    n_values: int = 0
    id_error: str = ""  # why the post named by the title cannot be a station id
    width: int = 0  # cells of the month header row up to its last filled one (0: not known)


def _col_label(j: int, excel: bool) -> str:
    if excel:
        from openpyxl.utils import get_column_letter

        return get_column_letter(j + 1)
    return str(j + 1)


def parse_sheet(
    rows: list[list[object]], source: str, excel: bool = False, label: str = ""
) -> tuple[AdapterResult, int]:
    """All yearbook tables of one sheet (rows of cells; row k of the list is line k+1 of the file).

    `label` (the sheet name, or the file name) supplies a post code or a year that a table's title lacks, when it
    holds exactly one. Returns the result and the number of tables found.
    """
    codes = sorted(set(CODE_ANY.findall(label)))
    years = sorted(set(YEAR.findall(label)))
    label_code = codes[0] if len(codes) == 1 else ""
    label_year = int(years[0]) if len(years) == 1 else None
    result = AdapterResult()
    rec: dict[str, list] = {k: [] for k in ("station_id", "date", "variable", "value", "source_row")}
    meta: dict[str, dict[str, object]] = {}
    title_lines: list[str] = []
    table: Table | None = None
    last: Table | None = None  # the previous table: its post and columns carry over
    tables: list[Table] = []

    def start(header_line: int, month_cols: dict[int, int], day_col: int, width: int = 0) -> Table:
        title = parse_title(title_lines)
        title_lines.clear()
        t = Table(source, header_line, day_col, month_cols, title, width=width)
        if not title.code and label_code and (last is None or title.name):
            title.code = label_code
            result.messages.append(f"{source}, line {header_line}: post {label_code} taken from the name '{label}'")
        if title.year is None and label_year is not None:
            title.year = label_year
            result.messages.append(f"{source}, line {header_line}: year {label_year} taken from the name '{label}'")
        if not title.code and not title.name and last is not None:
            t.station_id = last.station_id
            t.title.code, t.title.name, t.title.river = last.title.code, last.title.name, last.title.river
            result.messages.append(
                f"{source}, line {header_line}: the title names no post; post {t.station_id} of the previous "
                "table is used"
            )
        else:
            t.station_id = title.code or title.name
            if not title.code and title.name:
                result.messages.append(
                    f"{source}, line {header_line}: no post code in the title '{title.text}'; "
                    f"station id '{title.name}' is the post name"
                )
        if t.station_id:
            sid = unicodedata.normalize("NFC", t.station_id)
            problem = id_problem(sid)
            if problem is None:
                t.station_id = sid
            else:
                t.id_error = f"gives the station id {sid[:80]!r}, not a valid id ({problem}; ids are {ID_RULE})"
                t.station_id = ""
        if title.variable is None:
            title.variable = last.title.variable if last is not None else "discharge_m3s"
        if title.factor is None:
            title.factor = last.title.factor if last is not None and last.title.variable == title.variable else 1.0
        if title.factor != 1.0:
            result.messages.append(f"{source}, line {header_line}: discharge in l/s, converted to m3/s")
        if title.variable == "water_level_cm":
            result.messages.append(f"{source}, line {header_line}: a table of daily water levels (cm), stored as such")
        tables.append(t)
        return t

    for i, cells in enumerate(rows, start=1):
        texts = [clean(c) if not isinstance(c, int | float) else str(c) for c in cells]
        if not any(texts):
            continue
        raw = ";".join(texts)
        months = header_months(cells)
        if months:
            first_col = months[min(months)]
            if first_col == 0:
                result.quarantine.append(
                    QuarantinedRow(source, i, None, "month header without a day column on its left", raw)
                )
                table = None
                continue
            table = start(i, months, first_col - 1, _filled_width(texts))
            last = table
            continue
        layout = table or last
        if layout is not None:
            d = day_number(cells[layout.day_col]) if layout.day_col < len(cells) else None
            has_values = any(j < len(cells) and parse_number(cells[j]).ok for j in layout.month_cols.values())
            if d is not None and 1 <= d <= 31:
                if table is None or title_lines:
                    # day rows after new title lines but no header: a table that reuses the previous columns
                    table = start(i, layout.month_cols, layout.day_col, layout.width)
                    last = table
                    result.messages.append(f"{source}, line {i}: table without a month header; previous columns used")
                if not excel and table.width and _filled_width(texts) > table.width:
                    result.quarantine.append(
                        QuarantinedRow(
                            source,
                            i,
                            None,
                            f"too many fields: {_filled_width(texts)}, the month header (line {table.header_line}) "
                            f"has {table.width}; an unquoted decimal comma (12,5 in a comma-separated file) would "
                            "shift the months, so the row is not read",
                            raw[:2000],
                        )
                    )
                    continue
                _day_row(table, cells, texts, d, i, raw, excel, result, rec)
                continue
            first_text = next((t for t in texts if t), "")
            is_summary = SUMMARY.match(first_text.lower().replace("ё", "е")) is not None
            if table is not None and is_summary and not title_lines and (has_values or not YEAR.search(raw)):
                table.summary.append(f"{first_text} (line {i})")
                continue
            if has_values:  # a row with values that is neither a day nor a summary: never read as a title
                why = f"day number {d} not in 1..31" if d is not None else "row not recognised (not a day 1-31"
                result.quarantine.append(
                    QuarantinedRow(
                        source,
                        i,
                        None,
                        why if d is not None else why + " nor a known summary row)",
                        raw,
                    )
                )
                continue
        title_lines.append(" ".join(t for t in texts if t))
    for t in tables:
        if t.summary:
            result.messages.append(
                f"{source}: post {t.station_id} {t.title.year}: {len(t.summary)} summary rows skipped: "
                + ", ".join(t.summary)
            )
        if t.station_id and t.title.year:
            m = meta.setdefault(t.station_id, {})
            for key, val in (("name", t.title.name), ("river", t.title.river)):
                if val and not m.get(key):
                    m[key] = val
    if rec["value"]:
        result.observations = pd.DataFrame(
            {
                "station_id": pd.Series(rec["station_id"], dtype="str"),
                "date": pd.to_datetime(pd.Series(rec["date"], dtype="object")).astype("datetime64[ns]"),
                "variable": pd.Series(rec["variable"], dtype="str"),
                "value": pd.Series(rec["value"], dtype="float64"),
                "source_file": source,
                "source_row": pd.Series(rec["source_row"], dtype="int64"),
            }
        )
    result.stations = _stations(meta)
    return result, len(tables)


def _filled_width(texts: list[str]) -> int:
    """Cells of a row up to its last non-empty one."""
    n = len(texts)
    while n and not texts[n - 1]:
        n -= 1
    return n


def _day_row(
    table: Table,
    cells: list[object],
    texts: list[str],
    day: int,
    line: int,
    raw: str,
    excel: bool,
    result: AdapterResult,
    rec: dict[str, list],
) -> None:
    year = table.title.year
    for month, j in table.month_cols.items():
        if j >= len(cells):
            continue
        cell = parse_number(cells[j])
        if cell.kind == "missing":
            continue
        where = f"{ROMAN[month - 1]} (column {_col_label(j, excel)})"
        if not table.station_id or year is None or not table.title.variable:
            if not table.title.variable:
                why = f"a table of '{table.title.other}...' (not discharge or level); not stored"
            elif table.id_error:
                why = table.id_error
            else:
                why = "gives no " + ("post" if not table.station_id else "year")
            result.quarantine.append(
                QuarantinedRow(
                    table.source,
                    line,
                    where,
                    f"the title of the table (header line {table.header_line}) {why}: '{table.title.text}'",
                    raw,
                )
            )
            return  # one record per row: the whole row is kept in `raw`
        if day > calendar.monthrange(year, month)[1]:
            result.quarantine.append(
                QuarantinedRow(
                    table.source,
                    line,
                    where,
                    f"day {day} does not exist in {ROMAN[month - 1]} {year}; value '{texts[j]}'",
                    raw,
                )
            )
            continue
        if cell.kind == "bad":
            result.quarantine.append(
                QuarantinedRow(table.source, line, where, f"not a number: '{texts[j][:80]}' ({year})", raw[:2000])
            )
            continue
        why = date_problem(date(year, month, day))
        if why:
            result.quarantine.append(QuarantinedRow(table.source, line, where, f"{why}; not stored", raw[:2000]))
            continue
        if cell.kind == "noflow" and table.title.variable == "water_level_cm":
            result.messages.append(
                f"{table.source}, line {line}, {where}: level 'нб' (no flow) is not a level; not stored"
            )
            continue
        rec["station_id"].append(table.station_id)
        rec["variable"].append(table.title.variable)
        rec["date"].append(date(year, month, day))
        rec["value"].append(float(cell.value) * table.title.factor)
        rec["source_row"].append(line)
        table.n_values += 1


def _stations(meta: dict[str, dict[str, object]]) -> pd.DataFrame:
    if not meta:
        return empty_stations()
    reg = post_registry()
    records = []
    for sid, m in meta.items():
        out: dict[str, object] = {f: None for f in STATION_FIELDS}
        out.update({k: v for k, v in m.items() if v})
        if sid in reg.index:
            for f in ("name", "basin", "lat", "lon"):
                if out[f] is None:
                    out[f] = reg.loc[sid, f]
        out["country"] = COUNTRY
        records.append({"station_id": sid, **out})
    table = pd.DataFrame.from_records(records).set_index("station_id")
    for f in ("lat", "lon", "area_km2", "level_warning_cm", "level_danger_cm", "level_extreme_cm"):
        table[f] = pd.to_numeric(table[f], errors="coerce").astype("float64")
    return table


def read_csv_rows(path: Path, limit: int | None = None) -> list[list[str]]:
    """Rows of a yearbook CSV, split at the delimiter (';', tab or ',') that yields a month header; each line on its
    own (a stray quote or an over-long line gives an empty row there: read_csv_rows_checked names them).

    With `limit`, only the first `limit` bytes are read (for sniffing).
    """
    return read_csv_rows_checked(path, limit)[0]


def read_csv_rows_checked(path: Path, limit: int | None = None) -> tuple[list[list[str]], list[LineProblem]]:
    """read_csv_rows and the lines that could not be split into fields."""
    text = read_table_text(path) if limit is None else read_head(path, limit)
    lines = split_lines(text)
    fallback: tuple[list[list[str]], list[LineProblem]] | None = None
    for delim in (";", "\t", ","):
        if not any(delim in ln for ln in lines[:80]):
            continue
        rows, problems = split_rows(lines, delim)
        if fallback is None:
            fallback = rows, problems
        if any(header_months(r) for r in rows[:200]):
            return rows, problems
    return fallback if fallback is not None else ([[ln] for ln in lines], [])


def read_xlsx_sheets(path: Path, read_only: bool = False) -> list[tuple[str, list[list[object]]]]:
    """(sheet name, rows of cell values) of every sheet of a workbook; row k of the list is sheet row k+1."""
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=read_only, data_only=True)
    try:
        return [(ws.title, [list(r) for r in ws.iter_rows(min_row=1, values_only=True)]) for ws in wb.worksheets]
    finally:
        wb.close()


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(
            p
            for p in path.iterdir()
            if p.is_file()
            and not p.name.startswith((".", "~$"))
            and p.suffix.lower() in TEXT_SUFFIXES | EXCEL_SUFFIXES | OLD_WORKBOOKS
        )
    return [path]


def _looks_like_yearbook(path: Path) -> bool:
    suffix = path.suffix.lower()
    try:
        if suffix in EXCEL_SUFFIXES:
            return any(any(header_months(r) for r in rows[:200]) for _, rows in read_xlsx_sheets(path, read_only=True))
        if suffix in TEXT_SUFFIXES:
            return any(header_months(r) for r in read_csv_rows(path, limit=16384)[:200])
    except Exception:  # noqa: BLE001 - detection must never fail: an unreadable file is just not ours
        return False
    return False


@register
class Yearbook:
    name = "kazhydromet-yearbook"
    description = "Kazhydromet yearbook (ЕДС) daily discharge tables, days x months I-XII, as CSV or XLSX"

    def detect(self, path: Path) -> bool:
        path = Path(path)
        if path.is_dir():
            return any(_looks_like_yearbook(p) for p in _files(path)[:20])
        return path.is_file() and _looks_like_yearbook(path)

    def read(self, path: Path) -> AdapterResult:
        path = Path(path)
        result = AdapterResult()
        for f in _files(path):
            suffix = f.suffix.lower()
            if suffix in OLD_WORKBOOKS:
                result.quarantine.append(
                    QuarantinedRow(str(f), None, None, f"{suffix} workbooks are not read: save it as .xlsx or CSV")
                )
                continue
            try:
                if suffix in EXCEL_SUFFIXES:
                    sheets = [(f"{f}#{name}", rows, True, name) for name, rows in read_xlsx_sheets(f)]
                else:
                    rows, problems = read_csv_rows_checked(f)
                    result.quarantine.extend(QuarantinedRow(str(f), p.line, None, p.reason, p.raw) for p in problems)
                    sheets = [(str(f), rows, False, f.stem)]
            except (UnreadableFile, csv.Error, OSError) as exc:
                result.quarantine.append(QuarantinedRow(str(f), None, None, str(exc)))
                continue
            except Exception as exc:  # noqa: BLE001 - a corrupt workbook (zip/xml errors) is quarantined, not fatal
                result.quarantine.append(QuarantinedRow(str(f), None, None, f"cannot read workbook: {exc}"))
                continue
            if all(not any(clean(c) for r in rows for c in r) for _, rows, _, _ in sheets):
                result.quarantine.append(QuarantinedRow(str(f), None, None, "empty file"))
                continue
            n_tables = 0
            for source, rows, excel, label in sheets:
                part, n = parse_sheet(rows, source, excel, label)
                n_tables += n
                if n == 0 and excel:
                    result.messages.append(f"{source}: no yearbook table in this sheet")
                result.extend(part)
            if n_tables == 0:
                result.quarantine.append(
                    QuarantinedRow(str(f), None, None, "no yearbook table found (no row with the months I..XII)")
                )
        if len(result.stations):
            result.stations = result.stations[~result.stations.index.duplicated(keep="first")]
        return result


__all__ = ["Yearbook", "header_months", "month_of", "parse_sheet", "parse_title"]
