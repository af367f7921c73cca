"""The `nwp-csv` format: weather forecasts as basin (or station) series, one file or a folder of files.

Columns `station_id, issue_date, lead_day, precip_mm` and optionally `valid_date`, `tmin_c`, `tmax_c`, `tmean_c`,
`source` (the model; default: the file name's prefix before `_`, e.g. `graphcast_lamah_1145.csv` -> graphcast)
and `run_time` (the run's start, ISO, UTC). Lead day 1 is valid on the issue date itself:
`valid_date = issue_date + lead_day - 1` (the Caravan-MultiMet convention of ../shared/data/nwp/forecasts), so the
store's lead (days from the issue day, forecasting.forcing) is `lead_day - 1`. Without `run_time` a run is dated
00:00 local time of its issue date.

Bad rows are quarantined with file, line and field, the rest kept: lead days outside 1..NWP_MAX_DAY+1, a
`valid_date` that disagrees with the lead day, unparsable numbers or dates, the same issue date and lead day given
twice with different values (every copy quarantined: which one is right is unknown), precipitation below
-NEGATIVE_TOLERANCE_MM (small negatives, which numerical models produce, are set to 0 and counted in a message),
temperatures outside -90..60 degC.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.canonical import QuarantinedRow
from forecasting.config import DEFAULTS
from forecasting.features import NWP_MAX_DAY
from forecasting.forcing import RUN_COLUMNS, ForcingResult, local_midnight_utc
from forecasting.sources import register

REQUIRED = ("station_id", "issue_date", "lead_day", "precip_mm")
VALUE_COLUMNS = ("precip_mm", "tmin_c", "tmax_c", "tmean_c")
NEGATIVE_TOLERANCE_MM = 0.5  # forecast precipitation down to -0.5 mm is a numerical artefact: set to 0
T_RANGE_C = (-90.0, 60.0)


def read_nwp_csv(path: Path, time_zone: str = DEFAULTS.time_zone) -> ForcingResult:
    """Read one nwp-csv file (see module docstring); never raises for bad rows."""
    path = Path(path)
    result = ForcingResult()
    src = str(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        result.quarantine.append(QuarantinedRow(src, None, None, f"not a readable CSV file: {exc}"))
        return result
    raw.columns = [c.strip().lower() for c in raw.columns]
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        result.quarantine.append(
            QuarantinedRow(src, 1, ",".join(missing), f"not an nwp-csv file: columns {', '.join(missing)} missing")
        )
        return result
    unknown = [c for c in raw.columns if c not in {*REQUIRED, *VALUE_COLUMNS, "valid_date", "source", "run_time"}]
    if unknown:
        result.messages.append(f"{src}: columns not understood, ignored: {', '.join(unknown)}")
    line = np.arange(2, len(raw) + 2)
    bad = np.zeros(len(raw), dtype=bool)

    def reject(mask: np.ndarray, fld: str, why: pd.Series | str) -> None:
        nonlocal bad
        for i in np.flatnonzero(mask & ~bad):
            reason = why if isinstance(why, str) else str(why.iloc[i])
            result.quarantine.append(
                QuarantinedRow(src, int(line[i]), fld, reason, ",".join(str(v) for v in raw.iloc[i].tolist()))
            )
        bad |= mask

    issue = pd.to_datetime(raw["issue_date"].str.strip(), errors="coerce", format="ISO8601")
    reject(issue.isna().to_numpy(), "issue_date", "issue_date is not a date (YYYY-MM-DD)")
    lead_day = pd.to_numeric(raw["lead_day"].str.strip(), errors="coerce")
    out_of_range = lead_day.isna() | (lead_day != lead_day.round()) | (lead_day < 1) | (lead_day > NWP_MAX_DAY + 1)
    reject(
        out_of_range.to_numpy(),
        "lead_day",
        raw["lead_day"].map(lambda v: f"lead_day '{v}' is not a whole number in 1..{NWP_MAX_DAY + 1}"),
    )
    if "valid_date" in raw:
        valid = pd.to_datetime(raw["valid_date"].str.strip(), errors="coerce", format="ISO8601")
        expect = issue + pd.to_timedelta(lead_day.fillna(1) - 1, unit="D")
        wrong = valid.notna() & issue.notna() & (valid.dt.normalize() != expect.dt.normalize())
        reject(
            wrong.to_numpy(),
            "valid_date",
            "valid_date disagrees with issue_date + lead_day - 1 (lead day 1 is valid on the issue date)",
        )
    values = {}
    for col in VALUE_COLUMNS:
        if col not in raw:
            continue
        txt = raw[col].str.strip()
        v = pd.to_numeric(txt.where(~txt.isin(["", "nan", "NaN", "NA"]), None), errors="coerce")
        unparsable = v.isna() & ~txt.isin(["", "nan", "NaN", "NA"])
        reject(unparsable.to_numpy(), col, raw[col].map(lambda s, c=col: f"{c} '{s}' is not a number"))
        if col == "precip_mm":
            neg = (v < -NEGATIVE_TOLERANCE_MM).to_numpy()
            reject(neg, col, f"negative precipitation below -{NEGATIVE_TOLERANCE_MM:g} mm")
            small = ((v < 0) & (v >= -NEGATIVE_TOLERANCE_MM)).to_numpy() & ~bad
            if small.any():
                result.messages.append(
                    f"{src}: {int(small.sum())} small negative precipitation values (>= -{NEGATIVE_TOLERANCE_MM:g} "
                    "mm, a numerical artefact of the model) set to 0"
                )
            v = v.clip(lower=0.0)
        else:
            reject(((v < T_RANGE_C[0]) | (v > T_RANGE_C[1])).to_numpy(), col, f"{col} outside {T_RANGE_C} degC")
        values[col] = v
    sids = raw["station_id"].str.strip()
    reject((sids == "").to_numpy(), "station_id", "empty station_id")
    if "source" in raw:
        source = raw["source"].str.strip().replace("", np.nan).fillna(_source_from_name(path))
    else:
        source = pd.Series(_source_from_name(path), index=raw.index)
    if "run_time" in raw:
        rt = pd.to_datetime(raw["run_time"].str.strip(), errors="coerce", utc=True, format="ISO8601")
        reject((rt.isna() & (raw["run_time"].str.strip() != "")).to_numpy(), "run_time", "run_time is not a time")
        frt = rt.dt.tz_convert("UTC").dt.tz_localize(None)
    else:
        frt = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    by_day = {d: local_midnight_utc(d, time_zone) for d in issue.dropna().unique()}
    frt = frt.fillna(issue.map(by_day))
    rows = []
    for col, v in values.items():
        keep = ~bad & v.notna().to_numpy()
        rows.append(
            pd.DataFrame(
                {
                    "station_id": sids[keep].to_numpy(),
                    "forecast_reference_time": frt[keep].to_numpy(),
                    "lead": (lead_day[keep] - 1).astype(int).to_numpy(),
                    "variable": col,
                    "value": v[keep].to_numpy(dtype=float),
                    "source": source[keep].to_numpy(),
                    "source_file": src,
                    "row": line[keep],
                }
            )
        )
    runs = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=RUN_COLUMNS)
    key = ["station_id", "source", "forecast_reference_time", "lead", "variable"]
    dup = runs.duplicated(key, keep=False)
    if dup.any():
        spread = runs[dup].groupby(key)["value"].transform(lambda s: s.max() - s.min())
        conflict = runs[dup][spread > 1e-9]
        for r in conflict.itertuples(index=False):
            result.quarantine.append(
                QuarantinedRow(
                    src,
                    int(r.row),
                    str(r.variable),
                    f"issue {local_day_text(r.forecast_reference_time, time_zone)} lead_day {int(r.lead) + 1} of "
                    f"{r.station_id} given more than once with different values; none kept",
                    f"{r.station_id},{r.value}",
                )
            )
        runs = runs.drop(index=conflict.index).drop_duplicates(key)
    result.runs = runs[RUN_COLUMNS].reset_index(drop=True)
    return result


def local_day_text(frt: object, time_zone: str) -> str:
    from forecasting.forcing import local_day

    return str(local_day(pd.Timestamp(frt), time_zone).date())


def _source_from_name(path: Path) -> str:
    stem = Path(path).stem
    return stem.split("_", 1)[0] if "_" in stem else "unknown"


def read_nwp_csv_folder(path: Path, time_zone: str = DEFAULTS.time_zone) -> ForcingResult:
    """One nwp-csv file, or every *.csv of a folder."""
    path = Path(path)
    result = ForcingResult()
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    if not files:
        result.quarantine.append(QuarantinedRow(str(path), None, None, "no *.csv files"))
    for f in files:
        result.extend(read_nwp_csv(f, time_zone))
    return result


def _looks_like(path: Path) -> bool:
    try:
        with Path(path).open(encoding="utf-8", errors="replace") as fh:
            head = fh.readline().lower()
    except OSError:
        return False
    return all(c in head for c in ("issue_date", "lead_day", "precip_mm"))


@register
class NwpCsv:
    name = "nwp-csv"
    kind = "forcing"  # goes to the forcing store (forecasting.forcing), not the observation store
    description = "weather forecasts as basin series: station_id, issue_date, lead_day, precip_mm[, valid_date, t*]"

    def detect(self, path: Path) -> bool:
        path = Path(path)
        files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
        return bool(files) and all(f.suffix.lower() == ".csv" and _looks_like(f) for f in files)

    def read(self, path: Path) -> ForcingResult:
        return read_nwp_csv_folder(Path(path))
