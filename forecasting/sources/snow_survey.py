"""Snow surveys (`snow-survey`): snow depth, density and water equivalent per survey point or route.

Input: tables as Kazhydromet keeps them (semicolon-, tab- or comma-separated; UTF-8 or cp1251; cells read by
forecasting.sources.numbers: decimal commas, spaces as thousands separators, `-`/`н/д` missing; dates as dd.mm.yyyy,
dd.mm.yy or ISO), one row per point and survey date, for example
    Дата;Пункт;Высота снега, см;Плотность, г/см3;Запас воды, мм
    15.02.2024;Улькен Нарын, маршрут 1;45;0,24;108
Header names are recognised in Russian or English (date/Дата, station/route/Пункт/Маршрут/Станция,
snow_depth_cm/Высота снега, density_g_cm3/Плотность, swe_mm/Запас воды); units in the header are honoured
(depth cm or m; density g/cm3 or kg/m3; SWE mm or cm).

Station-to-basin table: a CSV with columns `survey_station` and `basin_id` (any separator), in the same folder as
the surveys (any file whose header has those two columns) or given to `read_surveys(..., basins=...)`. Points of a
basin are averaged per date into the basin's series (station_id = basin_id). A point not in the table is kept as a
series of its own (station_id = the point's name) with a message.

Computed SWE: where only depth and density are given, SWE = 10 * depth_cm * density_g_cm3 (mm). The store has no
per-value "computed" flag bit, so the marker is kept (1) in the `note` column of the AdapterResult observations
("computed: SWE = 10 x depth x density", or "mean of N points, K computed" for basin means) and (2) in a message
listing the lines; the provenance (`source_row`) points at the survey line (for basin means, the first line).

Bad input (each named with file, line and field; the rest of the row is kept):
- depth without density and without SWE: depth kept, SWE not computed (message);
- a density outside 0.01..0.6 g/cm3, or a SWE larger than the depth allows (implied density > 0.6): that SWE
  (or density) quarantined, depth kept;
- negative or unparsable numbers (also `нб` and `inf`), unparsable dates (also an empty one or one outside the
  store's time range), rows with too few fields: quarantined.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.canonical import AdapterResult, QuarantinedRow, empty_stations
from forecasting.ids import InvalidId, check_id
from forecasting.sources import register
from forecasting.sources.numbers import parse_date, parse_number
from forecasting.sources.text import UnreadableFile, read_text, split_lines, split_rows
from forecasting.validate import date_problem, date_window

MAX_DENSITY = 0.6  # g/cm3: denser than firn-like spring snow is not a snow survey value
MIN_DENSITY = 0.01
COMPUTED_NOTE = "computed: SWE = 10 x depth x density"

_FIELDS: dict[str, tuple[str, ...]] = {
    "date": ("дата", "date"),
    "station": ("пункт", "маршрут", "станция", "пост", "survey_station", "station", "route", "point", "site"),
    "depth": ("высота", "snow_depth", "depth", "глубина"),
    "density": ("плотность", "density"),
    "swe": ("запас", "swe", "water equivalent", "водный эквивалент"),
}


def _field_of(header: str) -> str | None:
    h = header.strip().lower()
    for f, keys in _FIELDS.items():
        if any(h.startswith(k) or h == k for k in keys):
            return f
    return None


def _scale(field: str, header: str) -> float:
    """Factor to canonical units (depth cm, density g/cm3, SWE mm) from the unit written in the header."""
    h = header.lower().replace(" ", "")
    unit = h.split(",", 1)[1] if "," in h else (h.split("_", 1)[1] if "_" in h else "")
    unit = unit.strip("()[] ")
    if field == "depth":
        return 100.0 if unit in ("м", "m") else (0.1 if unit in ("мм", "mm") else 1.0)
    if field == "density":
        return 0.001 if "кг" in unit or "kg" in unit else 1.0
    if field == "swe":
        return 10.0 if unit in ("см", "cm") else 1.0
    return 1.0


def _delimiter(line: str) -> str:
    for d in (";", "\t"):
        if d in line:
            return d
    return ","


def _rows(path: Path, problems: list[QuarantinedRow] | None = None) -> tuple[list[str], list[list[str]], str]:
    """Header, rows (rows[k] is line first+k+1) and delimiter of a table, each line split on its own; lines that
    cannot be split (over-long, a stray quote) give empty rows and, with `problems`, a QuarantinedRow each.
    Leading blank lines are skipped (the returned rows keep the file's numbering through `_first_line`)."""
    text, _ = read_text(path)
    lines = split_lines(text)
    skipped = 0
    while lines and not lines[0].strip():
        lines.pop(0)
        skipped += 1
    if not lines:
        raise UnreadableFile(f"{path}: empty file")
    d = _delimiter(lines[0])
    parsed, bad = split_rows(lines, d)
    if any(p.line == 1 for p in bad):
        raise UnreadableFile(f"{path}: the header line cannot be read ({bad[0].reason})")
    if problems is not None:
        problems.extend(QuarantinedRow(str(path), p.line + skipped, None, p.reason, p.raw) for p in bad)
    header = [h.strip() for h in parsed[0]]
    return header, parsed[1:], d


def read_basin_table(path: Path) -> tuple[dict[str, str], list[QuarantinedRow]]:
    """The station-to-basin table (`survey_station`, `basin_id`): {survey station name: basin id}."""
    q: list[QuarantinedRow] = []
    try:
        header, rows, d = _rows(path, q)
    except (UnreadableFile, OSError) as exc:
        return {}, [QuarantinedRow(str(path), None, None, str(exc))]
    low = [h.lower() for h in header]
    if "survey_station" not in low or "basin_id" not in low:
        q.append(QuarantinedRow(str(path), 1, None, "expected columns survey_station and basin_id", d.join(header)))
        return {}, q
    i, j = low.index("survey_station"), low.index("basin_id")
    out: dict[str, str] = {}
    for k, row in enumerate(rows, start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) <= max(i, j) or not row[i].strip() or not row[j].strip():
            q.append(QuarantinedRow(str(path), k, None, "incomplete row", d.join(row)))
            continue
        try:
            out[_key(row[i])] = check_id(row[j].strip(), "basin_id")
        except InvalidId as exc:
            q.append(QuarantinedRow(str(path), k, header[j], str(exc), d.join(row)[:1000]))
    return out, q


def _key(name: str) -> str:
    return re.sub(r"\s+", " ", name.strip()).lower()


def parse_survey_file(path: Path) -> tuple[pd.DataFrame, AdapterResult]:
    """Point records of one survey file: DataFrame (station, date, snow_depth_cm, swe_mm, computed, line).

    Returns the records and an AdapterResult holding the quarantine and messages (no observations).
    """
    res = AdapterResult()
    src = str(path)
    cols = ["station", "date", "snow_depth_cm", "swe_mm", "computed", "line"]
    try:
        header, rows, d = _rows(path, res.quarantine)
    except (UnreadableFile, OSError) as exc:
        res.quarantine.append(QuarantinedRow(src, None, None, str(exc)))
        return pd.DataFrame(columns=cols), res
    pos: dict[str, int] = {}
    for j, h in enumerate(header):
        f = _field_of(h)
        if f and f not in pos:
            pos[f] = j
    missing = [f for f in ("date", "station") if f not in pos]
    if missing or not ({"depth", "swe"} & set(pos)):
        res.quarantine.append(
            QuarantinedRow(
                src, 1, None, f"not a snow survey table: header {header} lacks date, station and depth or SWE", ""
            )
        )
        return pd.DataFrame(columns=cols), res
    scale = {f: _scale(f, header[j]) for f, j in pos.items()}
    records = []
    computed_lines: list[int] = []
    no_density_lines: list[int] = []
    window = date_window()
    for line, row in enumerate(rows, start=2):
        raw = d.join(row)
        if not any(c.strip() for c in row):
            continue
        if len(row) < len(header):
            row = row + [""] * (len(header) - len(row))  # trailing empty cells dropped by the exporting program
        day = parse_date(row[pos["date"]], two_digit_year=True)
        if day is None:
            res.quarantine.append(
                QuarantinedRow(src, line, header[pos["date"]], f"unparsable date '{row[pos['date']].strip()}'", raw)
            )
            continue
        why = date_problem(day, window)
        if why:
            res.quarantine.append(QuarantinedRow(src, line, header[pos["date"]], why, raw))
            continue
        date = pd.Timestamp(day)
        station = row[pos["station"]].strip()
        if not station:
            res.quarantine.append(QuarantinedRow(src, line, header[pos["station"]], "empty station name", raw))
            continue
        try:
            station = check_id(" ".join(station.split()), "survey point")
        except InvalidId as exc:
            res.quarantine.append(QuarantinedRow(src, line, header[pos["station"]], str(exc), raw[:1000]))
            continue
        vals: dict[str, float | None] = {}
        for f in ("depth", "density", "swe"):
            if f not in pos:
                vals[f] = None
                continue
            cell = parse_number(row[pos[f]])
            if cell.kind not in ("value", "missing"):  # 'нб' (no flow) is no snow survey value either
                res.quarantine.append(
                    QuarantinedRow(src, line, header[pos[f]], f"not a number: '{row[pos[f]].strip()}'", raw)
                )
            v = cell.value if cell.kind == "value" else None
            if v is not None:
                v *= scale[f]
                if v < 0:
                    res.quarantine.append(QuarantinedRow(src, line, header[pos[f]], f"negative value {v:g}", raw))
                    v = None
            vals[f] = v
        depth, dens, swe = vals["depth"], vals["density"], vals["swe"]
        if dens is not None and not (MIN_DENSITY <= dens <= MAX_DENSITY) and not (dens == 0 and depth == 0):
            res.quarantine.append(
                QuarantinedRow(
                    src,
                    line,
                    header[pos["density"]],
                    f"density {dens:g} g/cm3 outside {MIN_DENSITY}..{MAX_DENSITY}; SWE not computed from it",
                    raw,
                )
            )
            dens = None
        if swe is not None and depth is not None and swe > 10.0 * depth * MAX_DENSITY + 1e-9:
            implied = swe / (10.0 * depth) if depth > 0 else float("inf")
            res.quarantine.append(
                QuarantinedRow(
                    src,
                    line,
                    header[pos["swe"]],
                    f"SWE {swe:g} mm larger than a {depth:g} cm snow cover allows (density {implied:.2f} g/cm3 > "
                    f"{MAX_DENSITY}); SWE quarantined, depth kept",
                    raw,
                )
            )
            swe = None
            swe_rejected = True
        else:
            swe_rejected = False
        computed = False
        if swe is None and depth is not None and not swe_rejected:
            if depth == 0:
                swe, computed = 0.0, True
            elif dens is not None:
                swe, computed = 10.0 * depth * dens, True
            elif vals["density"] is None:
                no_density_lines.append(line)
        if computed and depth:
            computed_lines.append(line)
        if depth is None and swe is None:
            if vals["depth"] is None and vals["swe"] is None and not any(q.line == line for q in res.quarantine):
                res.messages.append(f"{src}, line {line}: no depth and no SWE for '{station}'; row skipped")
            continue
        records.append((station, date, depth, swe, computed, line))
    if computed_lines:
        res.messages.append(
            f"{src}: SWE computed from depth x density (SWE = 10 x depth_cm x density) on {len(computed_lines)} "
            f"rows (lines {_ranges(computed_lines)}); marked '{COMPUTED_NOTE}'"
        )
    if no_density_lines:
        res.messages.append(
            f"{src}: depth without density (and no SWE) on lines {_ranges(no_density_lines)}: depth kept, "
            "SWE not computed"
        )
    df = pd.DataFrame.from_records(records, columns=cols)
    df["date"] = pd.to_datetime(df["date"]).astype("datetime64[ns]")
    for c in ("snow_depth_cm", "swe_mm"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    return df, res


def _ranges(lines: list[int], limit: int = 20) -> str:
    shown = ", ".join(str(x) for x in lines[:limit])
    return shown + (f", ... ({len(lines)} in all)" if len(lines) > limit else "")


def read_surveys(
    files: list[Path], basins: dict[str, str] | None = None, per: str = "basin", table_source: str = ""
) -> AdapterResult:
    """Read survey files into canonical `swe_mm` (mm) and `snow_depth_cm` (cm) series on survey dates.

    per="basin": points mapped through `basins` ({survey station: basin id}, matched case- and
    space-insensitively) are averaged per basin and date (unmapped points kept on their own);
    per="station": one series per survey point.
    """
    result = AdapterResult()
    parts = []
    for f in files:
        df, res = parse_survey_file(Path(f))
        result.extend(res)
        if len(df):
            parts.append(df.assign(source_file=str(f)))
    if not parts:
        return result
    pts = pd.concat(parts, ignore_index=True)
    mapping = {_key(k): v for k, v in (basins or {}).items()}
    if per == "basin" and mapping:
        keys = pts["station"].map(_key)
        mapped = keys.map(mapping)
        unknown = sorted(set(pts.loc[mapped.isna(), "station"]))
        if unknown:
            result.messages.append(
                f"survey points not in the station-to-basin table{' ' + table_source if table_source else ''}: "
                f"{', '.join(unknown)}; kept as their own series"
            )
        pts = pts.assign(target=mapped.fillna(pts["station"]), single=mapped.isna())
    else:
        if per == "basin":
            result.messages.append("no station-to-basin table: one series per survey point")
        pts = pts.assign(target=pts["station"], single=True)

    frames = []
    for var in ("snow_depth_cm", "swe_mm"):
        sub = pts[pts[var].notna()]
        if sub.empty:
            continue
        g = sub.sort_values("line").groupby(["target", "date"], sort=True)
        agg = g.agg(
            value=(var, "mean"),
            n=(var, "size"),
            n_computed=("computed", "sum"),
            source_file=("source_file", "first"),
            source_row=("line", "first"),
            single=("single", "first"),
        ).reset_index()
        if var == "swe_mm":
            note = np.where(
                agg["n"] == 1,
                np.where(agg["n_computed"] > 0, COMPUTED_NOTE, ""),
                [
                    f"mean of {n} points" + (f", {k} computed" if k else "")
                    for n, k in zip(agg["n"], agg["n_computed"], strict=True)
                ],
            )
        else:
            note = np.where(agg["n"] == 1, "", [f"mean of {n} points" for n in agg["n"]])
        frames.append(
            pd.DataFrame(
                {
                    "station_id": agg["target"].astype("str"),
                    "date": agg["date"].to_numpy(),
                    "variable": var,
                    "value": agg["value"].to_numpy(dtype="float64"),
                    "source_file": agg["source_file"].astype("str"),
                    "source_row": agg["source_row"].to_numpy(dtype="int64"),
                    "note": note,
                }
            )
        )
    if frames:
        result.observations = pd.concat(frames, ignore_index=True)
        ids = sorted(set(result.observations["station_id"]))
        meta = empty_stations().reindex(ids)
        meta.index.name = "station_id"
        result.stations = meta
    return result


def _is_table(path: Path) -> bool:
    try:
        header, _, _ = _rows(path)
    except (UnreadableFile, OSError):
        return False
    low = [h.lower() for h in header]
    return "survey_station" in low and "basin_id" in low


def _is_survey(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(2048)
        try:
            first = head.decode("utf-8-sig").splitlines()[0]
        except UnicodeDecodeError:
            first = head.decode("cp1251", errors="replace").splitlines()[0]
    except (OSError, IndexError):
        return False
    fields = {_field_of(h) for h in first.split(_delimiter(first))}
    return {"date", "station"} <= fields and bool({"density", "swe"} & fields)


@register
class SnowSurvey:
    name = "snow-survey"
    description = "snow surveys (Дата;Пункт;Высота снега, см;Плотность, г/см3;Запас воды, мм), survey_station->basin_id"

    def detect(self, path: Path) -> bool:
        path = Path(path)
        if path.is_dir():
            return any(_is_survey(p) for p in sorted([*path.glob("*.csv"), *path.glob("*.txt")])[:10])
        return path.suffix.lower() in (".csv", ".txt") and _is_survey(path)

    def read(self, path: Path) -> AdapterResult:
        path = Path(path)
        folder = path if path.is_dir() else path.parent
        candidates = sorted([*folder.glob("*.csv"), *folder.glob("*.txt")])
        tables = [p for p in candidates if _is_table(p)]
        files = [p for p in candidates if _is_survey(p)] if path.is_dir() else [path]
        result = AdapterResult()
        mapping: dict[str, str] = {}
        for t in tables:
            m, q = read_basin_table(t)
            mapping.update(m)
            result.quarantine.extend(q)
        result.extend(read_surveys(files, mapping, "basin", ", ".join(str(t) for t in tables)))
        return result


# The registry imports this module by name; importing the gridded adapter here registers it too.
from forecasting.sources import gridded as _gridded  # noqa: E402, F401
