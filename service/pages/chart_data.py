"""The data of the station's interactive hydrographs (`<script type="application/json" id="chart-data">` and
`id="level-chart-data"`, read by static/chart_app.js; the contract is in static/vendor/README.md): the usable
observations of the last year, the day-of-year climatology band (forecasting.climatology, from the record up to the
issue date and without the shown years, so the season is never compared with itself), last year's and the record
year's curves, the marks, the forecast fan and the medians of the earlier forecasts the reader sees
(records.published.forecast_history)."""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import xarray as xr

from forecasting.climatology import hydrograph_context
from records.published import ForecastHistoryRun, ForecastRun, ThresholdView, usable_daily, usable_series
from service import i18n

WINDOWS = (60, 180, 365)  # days back from the issue date: 60 days, a season, a year
FAN = (("q05", "0.05"), ("q25", "0.25"), ("q50", "0.5"), ("q75", "0.75"), ("q95", "0.95"))
_LOCK = threading.Lock()
_CONTEXT: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
_MEDIANS: OrderedDict[tuple, xr.Dataset] = OrderedDict()


def labels(lang: str, clim_years: Sequence[int] | None = None) -> dict[str, Any]:
    """Every text chart_app.js shows, in `lang`."""

    def tr(key: str, **fields: Any) -> str:
        return i18n.t(key, lang, **fields)

    first, last = (clim_years[0], clim_years[-1]) if clim_years else ("", "")
    return {
        "observed": tr("chart.observed"),
        "forecast": tr("chart.forecast"),
        "fan90": tr("chart.fan90"),
        "fan50": tr("chart.fan50"),
        "clim": tr("chart.clim", first=first, last=last),
        "last_year": tr("chart.last_year"),
        "record_year": tr("chart.record_year", year="{year}"),
        "history": tr("chart.history"),
        "history_run": tr("chart.history_run", date="{date}"),
        "issue": tr("chart.issue"),
        "window": tr("chart.window"),
        "windows": {"60": tr("chart.window_60"), "180": tr("chart.window_180"), "365": tr("chart.window_365")},
        "zoom_hint": tr("chart.zoom_hint"),
        **i18n.date_parts(lang),
    }


def _remember(cache: OrderedDict, key: tuple, make: Callable[[], Any], size: int) -> Any:
    with _LOCK:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    value = make()
    with _LOCK:
        cache[key] = value
        while len(cache) > size:
            cache.popitem(last=False)
    return value


def context(
    store: xr.Dataset, station_id: str, issue: dt.date, dates: pd.DatetimeIndex, var: str, stamp: object
) -> dict[str, Any]:
    """`clim`, `last_year`, `record_year` of the chart (forecasting.climatology.hydrograph_context().to_chart()) from
    the station's usable record up to the issue date; the band leaves out the years of the shown dates. Kept per
    (store generation `stamp`, station, issue date, variable)."""

    def make() -> dict[str, Any]:
        series = usable_daily(store, station_id, issue, var)
        if series.dropna().empty:
            return {"clim": None, "last_year": None, "record_year": None}
        return hydrograph_context(series, dates).to_chart()

    return _remember(_CONTEXT, (stamp, station_id, issue, var, len(dates), dates[-1]), make, 256)


def medians_loader(load: Callable[[ForecastRun], xr.Dataset | None], var: str) -> Callable[[ForecastRun], Any]:
    """A loader for records.published.forecast_history that keeps only each run's medians of `var` (all stations,
    every lead) in memory, so that a station page does not read the earlier runs' files again."""

    def loader(run: ForecastRun) -> xr.Dataset | None:
        def make() -> xr.Dataset | None:
            ds = load(run)
            if ds is None or var not in ds:
                return None
            med = ds[var].sel(quantile=0.5, method="nearest") if "quantile" in ds[var].dims else ds[var]
            return xr.Dataset({var: med.load()}, coords={"valid_date": ds["valid_date"]})

        return _remember(_MEDIANS, (run.run_id, run.forecast_path, var), make, 512)

    return loader


def _ucfirst(text: str) -> str:
    return text[:1].upper() + text[1:]


def _pairs(values: Sequence[tuple[dt.date, float]]) -> list[list[Any]]:
    return [[d.isoformat(), round(float(v), 4)] for d, v in values]


def chart_payload(
    *,
    store: xr.Dataset | None,
    station_id: str,
    issue: dt.date,
    fan: list[dict[str, Any]],
    thresholds: Sequence[ThresholdView],
    history: Sequence[ForecastHistoryRun],
    lang: str,
    var: str = "discharge_m3s",
    stamp: object = None,
) -> dict[str, Any] | None:
    """The chart data of one variable (discharge m3/s, or water level cm with `var="water_level_cm"` and the marks
    in cm); None when there is nothing to draw. `fan`: [{"date", "q05".."q95"}] per lead."""
    since = issue - dt.timedelta(days=max(WINDOWS) - 1)
    obs = usable_series(store, station_id, since, issue, var)
    if not obs and not fan:
        return None
    last = max([issue] + [f["date"] for f in fan])
    dates = pd.date_range(since, last, freq="D")
    ctx = context(store, station_id, issue, dates, var, stamp) if store is not None else {}
    units = "cm" if var == "water_level_cm" else "m3/s"
    clim = ctx.get("clim")
    payload = {
        "lang": lang,
        "units": i18n.unit(units, lang),
        "labels": labels(lang, clim.get("years") if clim else None),
        "issue_date": issue.isoformat(),
        "series": {
            "obs": _pairs(obs),
            "clim": clim,
            "last_year": ctx.get("last_year"),
            "record_year": ctx.get("record_year"),
            "fan": (
                {"dates": [f["date"].isoformat() for f in fan], **{k: [f.get(k) for f in fan] for k, _ in FAN}}
                if fan
                else None
            ),
            "history": [
                {
                    "issue_date": h.issue_date.isoformat(),
                    "values": [[p.valid_date.isoformat(), p.median] for p in h.points],
                }
                for h in history
            ],
        },
        "thresholds": [
            {"kind": t.kind, "label": _ucfirst(i18n.t(f"threshold.{t.kind}", lang)), "value": t.value}
            for t in thresholds
            if t.units == units
        ],
        "windows": list(WINDOWS),
    }
    return payload


def fan_rows(leads: Sequence[Any], water_level: bool = False) -> list[dict[str, Any]]:
    """The forecast fan of one variable: per lead the valid date and q05..q95 (None if missing); leads without a
    median are left out."""
    rows = []
    for ld in leads:
        qs = (ld.water_level_quantiles or {}) if water_level else ld.quantiles
        row: dict[str, Any] = {"date": ld.valid_date}
        for name, level in FAN:
            row[name] = qs.get(level)
        if row["q50"] is not None:
            rows.append(row)
    return rows


def history_summary(history: Sequence[ForecastHistoryRun]) -> dict[str, Any] | None:
    """How the earlier forecasts did on the days already observed: the number of runs, their first and last issue
    date, the mean absolute error of their medians and the mean observed value (units of the variable); None
    without earlier runs, `mae` None when none of their days has been observed yet."""
    if not history:
        return None
    pairs = [(p.median, p.observed) for h in history for p in h.points if p.observed is not None]
    out: dict[str, Any] = {"n": len(history), "first": history[0].issue_date, "last": history[-1].issue_date}
    out["mae"] = sum(abs(m - o) for m, o in pairs) / len(pairs) if pairs else None
    out["obs"] = sum(o for _, o in pairs) / len(pairs) if pairs else None
    return out
