"""The `station-csv` format: a folder with `stations.csv` and one `<station_id>.csv` per station.

See ../shared/data/README.md. Column names carry the units (`discharge_m3s`, `tmin_c`, ...); a few other unit
spellings are converted (`discharge_ls`, `water_level_m`, `tmean_k`, ...); columns not understood are reported and
their values quarantined, never silently dropped.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting import progress
from forecasting.canonical import AdapterResult, QuarantinedRow, concat_observations, empty_stations
from forecasting.ids import ID_RULE, InvalidId, check_id, id_problem
from forecasting.sources import register
from forecasting.sources.text import MAX_LINE_CHARS, LineProblem, UnreadableFile, read_text, split_lines, split_rows
from forecasting.validate import clean_metadata, date_problem, date_window, dates_outside
from forecasting.variables import STATION_FIELDS, STATION_NUMBER_FIELDS, VARIABLE_NAMES

# Alternative column spellings: name -> (canonical variable, conversion to canonical units).
UNIT_ALIASES: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "discharge_ls": ("discharge_m3s", lambda v: v / 1000.0),
    "discharge_l_s": ("discharge_m3s", lambda v: v / 1000.0),
    "water_level_m": ("water_level_cm", lambda v: v * 100.0),
    "water_level_mm": ("water_level_cm", lambda v: v / 10.0),
    "precip_m": ("precip_mm", lambda v: v * 1000.0),
    "precip_cm": ("precip_mm", lambda v: v * 10.0),
    "tmin_k": ("tmin_c", lambda v: v - 273.15),
    "tmax_k": ("tmax_c", lambda v: v - 273.15),
    "tmean_k": ("tmean_c", lambda v: v - 273.15),
    "swe_m": ("swe_mm", lambda v: v * 1000.0),
    "swe_cm": ("swe_mm", lambda v: v * 10.0),
    "snow_depth_m": ("snow_depth_cm", lambda v: v * 100.0),
    "snow_depth_mm": ("snow_depth_cm", lambda v: v / 10.0),
}
MISSING_TOKENS = {"", "nan", "NaN", "NA", "na", "null", "NULL", "-", "--"}
DATE_FIELD = "date"


def read_rows(path: Path) -> tuple[list[str], list[list[str]], list[LineProblem]]:
    """Header, data rows and unreadable lines of a comma-separated file, read line by line (forecasting.sources.text
    .split_rows: a stray quote or an over-long line costs only that line). Raises UnreadableFile for binary or
    empty files."""
    text, _ = read_text(path)
    if not text.strip():
        raise UnreadableFile(f"{path}: empty file")
    rows, problems = split_rows(split_lines(text))
    if any(p.line == 1 for p in problems):
        raise UnreadableFile(f"{path}: the header line cannot be read ({problems[0].reason})")
    header = [h.strip() for h in rows[0]]
    return header, rows[1:], problems


def parse_station_table(
    header: list[str], rows: list[list[str]], station_id: str, source: str, first_line: int = 2
) -> AdapterResult:
    """Parse the data rows of one station file (`date` + variable columns) into canonical observations.

    `first_line` is the file line number of rows[0] (1-based, header on line 1).
    Rows with a bad date or the wrong number of fields are quarantined whole; a bad value quarantines that field.
    """
    result = AdapterResult()
    columns, date_col = _columns(header, len(rows), source, result)
    if date_col is None:
        return result
    n = len(header)
    good_rows: list[list[str]] = []
    good_lines: list[int] = []
    for i, row in enumerate(rows):
        line = first_line + i
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line
        if len(row) != n:
            kind = "truncated row" if len(row) < n else "too many fields"
            result.quarantine.append(
                QuarantinedRow(source, line, None, f"{kind}: {len(row)} fields, header has {n}", ",".join(row))
            )
            continue
        good_rows.append(row)
        good_lines.append(line)
    if not good_rows:
        if not result.quarantine:
            result.messages.append(f"{source}: no data rows (only a header)")
        return result
    table = np.array(good_rows, dtype=object)
    _add_observations(
        result,
        header,
        columns,
        table[:, date_col],
        {j: table[:, j] for j, _, _ in columns},
        np.array(good_lines, dtype=np.int64),
        lambda k: ",".join(good_rows[k]),
        station_id,
        source,
    )
    return result


def parse_station_text(text: str, station_id: str, source: str) -> AdapterResult:
    """Parse the text of one station file (header on line 1).

    A regular file (every line with the header's number of fields, no quotes, no blank lines) is read by pandas'
    C parser, which converts clean numeric columns directly; any other file, and any column holding something
    other than numbers and missing tokens, goes through the same checks field by field (`parse_station_table`).
    """
    lines = split_lines(text)
    header = [h.strip() for h in next(csv.reader(lines[:1]), [])]
    n = len(header)
    body = lines[1:]
    if (
        not body
        or '"' in text
        or any(ln.count(",") != n - 1 for ln in body)
        or any(not ln.strip() for ln in body)
        or any(len(ln) > MAX_LINE_CHARS for ln in body)
    ):
        rows, problems = split_rows(lines)
        if any(p.line == 1 for p in problems):
            raise UnreadableFile(f"{source}: the header line cannot be read ({problems[0].reason})")
        part = parse_station_table([h.strip() for h in rows[0]], rows[1:], station_id, source)
        part.quarantine.extend(QuarantinedRow(source, p.line, None, p.reason, p.raw) for p in problems)
        part.quarantine.sort(key=lambda q: q.line or 0)
        return part
    result = AdapterResult()
    columns, date_col = _columns(header, len(body), source, result)
    if date_col is None:
        return result
    text_cols = [date_col] + [j for j, var, _ in columns if not var]
    frame = pd.read_csv(
        io.StringIO(text),
        header=None,
        skiprows=1,
        names=list(range(n)),
        dtype={j: object for j in text_cols},
        na_values=sorted(MISSING_TOKENS),
        keep_default_na=False,
    )
    cells = {}
    for j, var, _ in columns:
        col = frame[j]
        if var and col.dtype.kind in "fiu":
            cells[j] = col.to_numpy(dtype="float64")
        else:
            cells[j] = col.to_numpy(dtype=object, na_value="")
    _add_observations(
        result,
        header,
        columns,
        frame[date_col].to_numpy(dtype=object, na_value=""),
        cells,
        np.arange(2, len(body) + 2, dtype=np.int64),
        lambda k: body[k],
        station_id,
        source,
    )
    return result


def _columns(
    header: list[str], n_rows: int, source: str, result: AdapterResult
) -> tuple[list[tuple[int, str, Callable[[np.ndarray], np.ndarray] | None]], int | None]:
    """The variable columns of a station file header: (index, canonical variable or '' if not understood,
    unit conversion or None), and the index of the date column (None, with the file quarantined, if absent)."""
    header_l = [h.lower() for h in header]
    if DATE_FIELD not in header_l:
        result.quarantine.append(
            QuarantinedRow(
                source,
                1,
                DATE_FIELD,
                f"no '{DATE_FIELD}' column in header {header}; none of the file's {n_rows} rows is ingested",
                ",".join(header),
            )
        )
        return [], None
    date_col = header_l.index(DATE_FIELD)
    columns: list[tuple[int, str, Callable[[np.ndarray], np.ndarray] | None]] = []
    for j, name in enumerate(header_l):
        if j == date_col:
            continue
        if name in VARIABLE_NAMES:
            columns.append((j, name, None))
        elif name in UNIT_ALIASES:
            var, conv = UNIT_ALIASES[name]
            columns.append((j, var, conv))
            result.messages.append(f"{source}: column '{header[j]}' converted to {var}")
        else:
            columns.append((j, "", None))  # unknown: quarantined in _add_observations
    return columns, date_col


def _add_observations(
    result: AdapterResult,
    header: list[str],
    columns: list[tuple[int, str, Callable[[np.ndarray], np.ndarray] | None]],
    date_cells: np.ndarray,
    cells: dict[int, np.ndarray],
    lines: np.ndarray,
    raw_row: Callable[[int], str],
    station_id: str,
    source: str,
) -> None:
    """Turn the columns of the well-formed rows into observations; bad dates quarantine the row, bad values the
    field, columns not understood all their values. `cells[j]` is text (object) or already parsed float64."""
    dates, outside = _parse_dates(date_cells)
    bad_date = np.isnat(dates)
    window = date_window()
    for k in np.flatnonzero(bad_date):
        text = str(date_cells[k]).strip()
        why = (
            f"{date_problem(dt.date.fromisoformat(text[:10]), window)}: '{text}'"
            if outside[k]
            else f"unparsable date '{text[:80]}' (expected YYYY-MM-DD)"
        )
        result.quarantine.append(QuarantinedRow(source, int(lines[k]), DATE_FIELD, why, raw_row(int(k))[:2000]))
    idx = np.flatnonzero(~bad_date)
    all_rows = len(idx) == len(dates)
    frames = []
    for j, var, conv in columns:
        col = cells[j] if all_rows else cells[j][idx]
        if not var:
            present = [k for k, c in enumerate(col) if str(c).strip() not in MISSING_TOKENS]
            if present:
                result.quarantine.append(
                    QuarantinedRow(
                        source,
                        1,
                        header[j],
                        f"column '{header[j]}' not understood (unknown variable or unit); "
                        f"{len(present)} values quarantined",
                        ";".join(f"{lines[idx[k]]}:{str(col[k]).strip()}" for k in present),
                    )
                )
            continue
        if col.dtype == np.float64:
            values = col.copy()
            bad = np.isinf(values)
            values[bad] = np.nan
        else:
            values, bad = parse_numbers(col)
        for k in np.flatnonzero(bad):
            raw = raw_row(int(idx[k]))
            fields = raw.split(",")
            text = fields[j] if col.dtype == np.float64 and len(fields) == len(header) else str(cells[j][idx[k]])
            result.quarantine.append(
                QuarantinedRow(source, int(lines[idx[k]]), header[j], f"not a number: '{text.strip()}'", raw)
            )
        ok = ~np.isnan(values)
        if conv is not None:
            values = conv(values)
        if ok.any():
            frames.append(
                pd.DataFrame(
                    {
                        "station_id": station_id,
                        "date": dates[idx][ok],
                        "variable": var,
                        "value": values[ok],
                        "source_file": source,
                        "source_row": lines[idx][ok],
                    }
                )
            )
    if frames:
        result.observations = pd.concat(frames, ignore_index=True)


def parse_numbers(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parse an object array of text cells: returns (float64 values, bad mask).

    Missing tokens (MISSING_TOKENS: empty, NaN, NA, '-', ...) give NaN and are not bad; anything else that is not
    a finite number (text, 'inf') gives NaN and is bad.
    """
    values = pd.to_numeric(cells, errors="coerce")
    values = np.asarray(values, dtype="float64").copy()
    bad = np.zeros(len(values), dtype=bool)
    nonfinite = np.flatnonzero(~np.isfinite(values))
    for k in nonfinite:
        if str(cells[k]).strip() not in MISSING_TOKENS:
            bad[k] = True
    values[nonfinite] = np.nan
    return values, bad


def _parse_dates(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """YYYY-MM-DD text cells to datetime64[ns] days (NaT where unparsable or outside the accepted window,
    forecasting.validate.date_window), and the mask of the dates outside the window. Parsed as days first: a year
    2300 never wraps around the nanosecond range into a wrong date."""
    dates = pd.to_datetime(cells, format="%Y-%m-%d", errors="coerce")
    if dates.isna().any():  # retry with surrounding blanks removed
        dates = pd.to_datetime(
            np.array([str(c).strip() for c in cells], dtype=object), format="%Y-%m-%d", errors="coerce"
        )
    days = np.asarray(dates.to_numpy(dtype="datetime64[D]"))
    outside = dates_outside(days)
    days = np.where(outside, np.datetime64("NaT", "D"), days)
    return days.astype("datetime64[ns]"), outside


def read_stations_csv(path: Path) -> tuple[pd.DataFrame, list[QuarantinedRow], list[str]]:
    """The station registry: metadata indexed by station_id; bad rows quarantined, bad numbers blanked."""
    quarantine: list[QuarantinedRow] = []
    messages: list[str] = []
    try:
        header, rows, problems = read_rows(path)
    except UnreadableFile as exc:
        return empty_stations(), [QuarantinedRow(str(path), None, None, str(exc).removeprefix(f"{path}: "))], messages
    quarantine.extend(QuarantinedRow(str(path), p.line, None, p.reason, p.raw) for p in problems)
    header = [h.lower() for h in header]
    if "station_id" not in header:
        quarantine.append(QuarantinedRow(str(path), 1, "station_id", "no station_id column", ",".join(header)))
        return empty_stations(), quarantine, messages
    records = []
    for i, row in enumerate(rows, start=2):
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            quarantine.append(
                QuarantinedRow(str(path), i, None, f"{len(row)} fields, header has {len(header)}", ",".join(row))
            )
            continue
        rec = dict(zip(header, (c.strip() for c in row), strict=True))
        if not rec["station_id"]:
            quarantine.append(QuarantinedRow(str(path), i, "station_id", "empty station_id", ",".join(row)))
            continue
        try:
            rec["station_id"] = check_id(rec["station_id"], "station_id")
        except InvalidId as exc:
            quarantine.append(QuarantinedRow(str(path), i, "station_id", str(exc), ",".join(row)[:1000]))
            continue
        if rec.get("basin"):
            try:
                rec["basin"] = check_id(rec["basin"], "basin")
            except InvalidId as exc:
                quarantine.append(
                    QuarantinedRow(str(path), i, "basin", f"{exc}; the station is its own basin", ",".join(row)[:1000])
                )
                rec["basin"] = ""
        out: dict[str, object] = {"station_id": rec["station_id"]}
        for f in STATION_FIELDS:
            val = rec.get(f, "")
            if f in STATION_NUMBER_FIELDS:
                if val in MISSING_TOKENS:
                    out[f] = np.nan
                    continue
                try:
                    out[f] = float(val.replace(",", "."))
                except ValueError:
                    quarantine.append(QuarantinedRow(str(path), i, f, f"not a number: '{val[:80]}'", ",".join(row)))
                    out[f] = np.nan
            else:
                out[f] = val or None
        out, problems = clean_metadata(out)
        quarantine.extend(
            QuarantinedRow(str(path), i, f, f"station {rec['station_id']}: {why}", ",".join(row)[:1000])
            for f, why in problems
        )
        records.append(out)
    if not records:
        return empty_stations(), quarantine, messages
    stations = pd.DataFrame.from_records(records).set_index("station_id")
    dup = stations.index.duplicated(keep="first")
    if dup.any():
        for sid in stations.index[dup]:
            messages.append(f"{path}: station '{sid}' listed twice; the first row is used")
        stations = stations[~dup]
    for f in STATION_NUMBER_FIELDS:
        stations[f] = pd.to_numeric(stations[f], errors="coerce").astype("float64")
    return stations, quarantine, messages


@register
class StationCsv:
    name = "station-csv"
    description = "folder with stations.csv and <station_id>.csv (daily, canonical column names with units)"

    def detect(self, path: Path) -> bool:
        path = Path(path)
        if path.is_dir():
            return (path / "stations.csv").exists() or any(
                _looks_like_station_file(p) for p in sorted(path.glob("*.csv"))[:5]
            )
        return path.suffix.lower() == ".csv" and _looks_like_station_file(path)

    def read(self, path: Path) -> AdapterResult:
        path = Path(path)
        result = AdapterResult()
        folder = path if path.is_dir() else path.parent
        registry = folder / "stations.csv"
        if registry.exists():
            stations, q, msgs = read_stations_csv(registry)
            result.quarantine.extend(q)
            result.messages.extend(msgs)
        else:
            stations = empty_stations()
            result.messages.append(f"{folder}: no stations.csv; stations have no metadata (name, coordinates)")
        files = sorted(p for p in folder.glob("*.csv") if p.name != "stations.csv") if path.is_dir() else [path]
        seen: set[str] = set()
        frames = [result.observations]  # concatenated once at the end (one concat per file was quadratic)
        for n_done, f in enumerate(files, start=1):
            progress.report("file", str(f), n_done, len(files))
            sid = unicodedata.normalize("NFC", f.stem)
            problem = id_problem(sid)
            if problem is not None:
                result.quarantine.append(
                    QuarantinedRow(
                        str(f),
                        None,
                        None,
                        f"file name gives the station id {sid!r}: not a valid id ({problem}; ids "
                        f"are {ID_RULE}); the file is not read",
                    )
                )
                continue
            seen.add(sid)
            try:
                text, _ = read_text(f)
                if not text.strip():
                    raise UnreadableFile(f"{f}: empty file")
                part = parse_station_text(text, sid, str(f))
            except (UnreadableFile, csv.Error) as exc:
                result.quarantine.append(QuarantinedRow(str(f), None, None, str(exc).removeprefix(f"{f}: ")))
                continue
            frames.append(part.observations)
            result.quarantine.extend(part.quarantine)
            result.messages.extend(part.messages)
            if sid not in stations.index and len(part.observations):
                result.messages.append(
                    f"{f}: station '{sid}' is not in stations.csv; its data is kept without metadata"
                )
        result.observations = concat_observations(frames)
        for sid in stations.index:
            if sid not in seen and path.is_dir():
                result.messages.append(f"{registry}: station '{sid}' has no data file {sid}.csv")
        if not path.is_dir():
            stations = stations.loc[stations.index.isin(seen)]
        known = set(stations.index)
        extra = sorted(seen - known)
        if extra:
            filler = pd.DataFrame(index=pd.Index(extra, name="station_id"), columns=stations.columns)
            stations = pd.concat([stations, filler]) if len(stations) else filler
        result.stations = stations
        return result


def _looks_like_station_file(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            first = fh.readline().decode("utf-8-sig", errors="replace").strip().lower()
    except OSError:
        return False
    cols = [c.strip() for c in first.split(",")]
    return bool(cols) and cols[0] == DATE_FIELD and any(c in VARIABLE_NAMES or c in UNIT_ALIASES for c in cols)
