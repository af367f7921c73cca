"""The daily bulletin's content: what a published run says, for one reader, as one typed object.

The bulletin is what akimats and emergency services print, forward and file. Its content is decided here, once;
the renderers (bulletins/: PDF, XLSX, HTML) only lay it out, in kk, ru or en. It holds:

- a title block: the service, the issue date, when it was published, its review status and who approved it, the
  data age (newest observation the run used to the issue date) and the forecast age;
- a summary by basin: level (or no current data), first date, probability, trend, stations without a level;
- per basin its stations: observed discharge (m3/s) and water level (cm) on the newest observed day up to the
  issue date and their change over 24 h, the forecast for each lead (median and 90% range in m3/s and, through a
  rating curve or a level model, in cm), the probability of each threshold, the thresholds with their source;
  stations with stale data, a climatology or baseline fallback, no thresholds or a failed forecast have no level
  and carry their state and reason (never "normal");
- the hydrologists' notes: the reasons given with the approval and every override of the run;
- the spring flood outlook of each basin while its flood season lasts.

Only published runs make a bulletin (approved, overridden or published unreviewed; never a draft, also not for a
reviewer): the run is records.published.visible_run as a public reader with the principal's basin scope sees it.
A basin-limited principal gets its basins only. No published run for the date: BulletinNotFound (a 404 with the
reason). Basin trend: `rising` if one of its stations with a current level rises, `falling` if all of them fall,
else `steady` (None when none has a level).

Units: discharge m3/s, water level cm, probabilities in [0, 1], dates local days (Asia/Almaty); a forecast issued
on day t for lead k is valid for day t+k.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forecasting import flags as qcflags
from forecasting.thresholds import KINDS
from records.accounts import Principal
from records.db import ForecastRun, ReviewAction, utcnow
from records.outlooks import latest_outlook
from records.published import (
    StationInfo,
    StationLevelView,
    ThresholdView,
    _text,
    basin_levels,
    finite,
    forecast_age_days,
    is_outdated,
    no_run_message,
    readable_actions,
    run_view,
    station_levels,
    visible_run,
)

SERVICE_NAME = "Tasqyn"
HISTORY_DAYS = 30  # days of observations before the issue date in a station's thumbnail
LOW_Q, MEDIAN_Q, HIGH_Q = "0.05", "0.5", "0.95"  # the 90% range and the median

ForecastLoader = Callable[[ForecastRun], xr.Dataset]


class BulletinNotFound(LookupError):
    """No published run for the asked issue date (the message says so; a 404 in the API)."""


class BulletinLead(BaseModel):
    lead: int = Field(description="days after the issue date")
    valid_date: dt.date
    q_low: float | None = Field(description="5% quantile, m3/s")
    q_median: float | None = Field(description="median, m3/s")
    q_high: float | None = Field(description="95% quantile, m3/s")
    h_low: float | None = Field(default=None, description="5% quantile of the water level, cm")
    h_median: float | None = None
    h_high: float | None = None
    p_exceed: dict[str, float | None] = Field(description="probability of exceeding each threshold (warning, ...)")
    level: int | None


class BulletinStation(BaseModel):
    station_id: str
    name: str
    river: str
    basin_id: str
    level: int | None = Field(description="0-3, None without a current level (see state)")
    level_label: str
    state: str
    reason: str | None
    first_date: dt.date | None
    probability: float | None
    trend: str | None
    data_age_days: int | None
    model_name: str | None
    overridden: bool = False
    override_reason: str | None = None
    obs_date: dt.date | None = Field(description="the newest day with a usable observation up to the issue date")
    discharge_m3s: float | None = None
    discharge_change_m3s: float | None = Field(default=None, description="change from the day before obs_date")
    water_level_cm: float | None = None
    water_level_change_cm: float | None = None
    leads: list[BulletinLead] = Field(default_factory=list)
    thresholds: list[ThresholdView] = Field(default_factory=list)
    history_var: str = Field("discharge_m3s", description="what `history` holds: discharge_m3s or water_level_cm")
    history: list[tuple[dt.date, float]] = Field(default_factory=list, description="usable observations, 30 days")

    @property
    def has_levels(self) -> bool:
        return any(ld.h_median is not None for ld in self.leads)


class BulletinOutlook(BaseModel):
    """The spring flood outlook of a basin (records.outlooks), while its flood season lasts."""

    issue_date: dt.date | None
    season_start: dt.date | None
    season_end: dt.date | None
    volume_pct: float | None = Field(description="expected flood-season volume, % of the norm")
    volume_pct_low: float | None
    volume_pct_high: float | None
    peak_low: float | None = Field(description="80% range of the peak discharge, m3/s")
    peak_high: float | None


class BulletinBasin(BaseModel):
    basin_id: str
    name: str
    level: int | None
    level_label: str
    state: str = Field(description="ok, or no_data when none of its stations has a current level")
    first_date: dt.date | None
    probability: float | None
    trend: str | None
    n_stations: int
    n_no_level: int
    overridden: bool = False
    override_reason: str | None = None
    outlook: BulletinOutlook | None = None
    stations: list[BulletinStation] = Field(default_factory=list)


class BulletinNote(BaseModel):
    """A hydrologist's note: an approval with its reason, or an override (old and new level, reason)."""

    at: dt.datetime
    username: str
    action: str
    target_type: str
    target_id: str | None
    old_level: int | None
    new_level: int | None
    reason: str | None


class Bulletin(BaseModel):
    service: str = SERVICE_NAME
    run_id: str
    issue_date: dt.date
    published_at: dt.datetime | None
    review_status: str = Field(description="approved | unreviewed")
    approved_by: str | None
    data_cutoff: dt.date | None = Field(description="newest observation day the run used")
    data_age_days: int | None = Field(description="days from data_cutoff to the issue date")
    forecast_age_days: int
    outdated: bool
    alert_probability: float | None
    revision: int = Field(0, description="review actions on the run so far (an override after publication: +1)")
    generated_at: dt.datetime
    scope: list[str] | None = Field(description="the basins a limited reader may see (None: all)")
    basins: list[BulletinBasin]
    notes: list[BulletinNote]
    quantiles: tuple[str, str, str] = (LOW_Q, MEDIAN_Q, HIGH_Q)

    @property
    def stations(self) -> list[BulletinStation]:
        return [s for b in self.basins for s in b.stations]

    @property
    def no_level(self) -> list[BulletinStation]:
        """Stations without a current level (stale, climatology, fallback, no thresholds, failed)."""
        return [s for s in self.stations if s.level is None]

    @property
    def overrides(self) -> list[BulletinStation]:
        return [s for s in self.stations if s.overridden]

    def file_stem(self, lang: str) -> str:
        return file_stem(self.issue_date, self.run_id, self.revision, lang)


def file_stem(issue_date: dt.date, run_id: str, revision: int, lang: str) -> str:
    """`bulletin-<issue_date>-<run_id>-r<revision>-<lang>`: a rerun of a date has another run id and a review action
    on a published run another revision, so a bulletin file is never overwritten by different content."""
    return f"bulletin-{issue_date.isoformat()}-{run_id}-r{revision}-{lang}"


def bulletin_revision(session: Session, run: ForecastRun) -> int:
    """The number of review actions on `run` so far (its bulletin's revision)."""
    return int(session.scalar(select(func.count(ReviewAction.id)).where(ReviewAction.run_id == run.id)) or 0)


# --- which run ----------------------------------------------------------------------------------------------------


def as_public_reader(principal: Principal) -> Principal:
    """The principal as a public reader (keeps its basin scope; never sees drafts)."""
    return principal if not principal.sees_drafts else dataclasses.replace(principal, role="akimat")


def bulletin_run(session: Session, principal: Principal, issue_date: dt.date | None = None) -> ForecastRun:
    """The published run a bulletin of `issue_date` (None: the newest published date) is made of."""
    run = visible_run(session, as_public_reader(principal), issue_date)
    if run is None:
        raise BulletinNotFound(no_run_message(issue_date))
    return run


# --- building -----------------------------------------------------------------------------------------------------


def _basin_trend(rows: list[StationLevelView]) -> str | None:
    trends = [r.trend for r in rows if r.level is not None and r.trend]
    if not trends:
        return None
    if "rising" in trends:
        return "rising"
    if all(t == "falling" for t in trends):
        return "falling"
    return "steady"


def _today_and_change(series: list[tuple[dt.date, float]]) -> tuple[dt.date | None, float | None, float | None]:
    """The newest value and its change from the day before (None if that day has no value)."""
    if not series:
        return None, None, None
    day, value = series[-1]
    before = series[-2] if len(series) > 1 else None
    change = value - before[1] if before is not None and before[0] == day - dt.timedelta(days=1) else None
    return day, value, change


class _Forecast:
    """The forecast dataset's variables a bulletin shows, read into arrays once (station, lead, quantile/threshold);
    per station the same values records.published.station_forecast_view gives (a test checks it), without an
    xarray selection per station and variable."""

    def __init__(self, ds: xr.Dataset) -> None:
        self.index = {str(sid): i for i, sid in enumerate(ds["station"].values)}
        self.qkeys = [f"{float(q):g}" for q in ds["quantile"].values]
        self.kinds = [str(k) for k in ds["threshold"].values] if "threshold" in ds.coords else list(KINDS)
        self.leads = [int(x) for x in ds["lead"].values]
        self.valid = [pd.Timestamp(v).date() for v in ds["valid_date"].values]

        def arr(name: str, *dims: str) -> np.ndarray | None:
            return ds[name].transpose("station", *dims).values if name in ds else None

        self.dq = arr("discharge_m3s", "lead", "quantile")
        self.wl = arr("water_level_cm", "lead", "quantile")
        self.p = arr("p_exceed", "lead", "threshold")
        self.lv = arr("level", "lead")
        self.th_value = arr("threshold_value", "threshold")
        self.th_units = arr("threshold_units", "threshold")
        self.th_source = arr("threshold_source", "threshold")
        self.th_years = arr("threshold_years", "threshold")

    def leads_of(self, station_id: str, with_level: bool) -> list[BulletinLead]:
        i = self.index[station_id]
        q = {key: j for j, key in enumerate(self.qkeys)}
        lo, med, hi = q.get(LOW_Q), q.get(MEDIAN_Q), q.get(HIGH_Q)

        def pick(a: np.ndarray | None, k: int, j: int | None) -> float | None:
            return finite(a[i, k, j]) if a is not None and j is not None else None

        out = []
        for k, lead in enumerate(self.leads):
            wl = self.wl if self.wl is not None and np.isfinite(self.wl[i, k]).any() else None
            out.append(
                BulletinLead(
                    lead=lead,
                    valid_date=self.valid[k],
                    q_low=pick(self.dq, k, lo),
                    q_median=pick(self.dq, k, med),
                    q_high=pick(self.dq, k, hi),
                    h_low=pick(wl, k, lo),
                    h_median=pick(wl, k, med),
                    h_high=pick(wl, k, hi),
                    p_exceed={
                        kd: (finite(self.p[i, k, j]) if self.p is not None else None) for j, kd in enumerate(self.kinds)
                    },
                    level=int(self.lv[i, k]) if self.lv is not None and with_level else None,
                )
            )
        return out

    def thresholds_of(self, station_id: str, version: int | None) -> list[ThresholdView]:
        if self.th_value is None:
            return []
        i = self.index[station_id]
        out = []
        for j, kind in enumerate(self.kinds):
            value = finite(self.th_value[i, j])
            if value is None or kind not in KINDS:
                continue

            def text(a: np.ndarray | None, j: int = j) -> str:
                return _text(a[i, j]) if a is not None else ""

            out.append(
                ThresholdView(
                    kind=kind,  # type: ignore[arg-type]
                    value=value,
                    units="cm" if text(self.th_units) == "cm" else "m3/s",
                    source=text(self.th_source),
                    years=text(self.th_years) or None,
                    version=version,
                )
            )
        return out


class _Observed:
    """The usable observations (QC flags of forecasting.flags.BAD left out) of every station over the thumbnail's
    window, read into arrays once: per station what records.published.usable_series gives."""

    def __init__(self, store: xr.Dataset | None, start: dt.date, end: dt.date) -> None:
        self.index: dict[str, int] = {}
        self.series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.times: list[dt.date] = []
        if store is None:
            return
        one = store.sel(time=slice(np.datetime64(start, "ns"), np.datetime64(end, "ns")))
        self.index = {str(sid): i for i, sid in enumerate(one["station"].values)}
        self.times = [pd.Timestamp(t).date() for t in one["time"].values]
        for var in ("discharge_m3s", "water_level_cm"):
            if var not in one:
                continue
            vals = one[var].transpose("station", "time").values.astype(float)
            qc_name = f"{var}_qc"
            qc = (
                one[qc_name].transpose("station", "time").values.astype(int)
                if qc_name in one
                else np.zeros(vals.shape, dtype=int)
            )
            self.series[var] = (vals, np.isfinite(vals) & ((qc & qcflags.BAD) == 0))

    def of(self, station_id: str, var: str) -> list[tuple[dt.date, float]]:
        i = self.index.get(station_id)
        if i is None or var not in self.series:
            return []
        vals, keep = self.series[var]
        return [(self.times[k], float(vals[i, k])) for k in np.flatnonzero(keep[i])]


def _station(run: ForecastRun, row: StationLevelView, fc: _Forecast | None, observed: _Observed) -> BulletinStation:
    q = observed.of(row.station_id, "discharge_m3s")
    h = observed.of(row.station_id, "water_level_cm")
    q_day, q_now, q_change = _today_and_change(q)
    h_day, h_now, h_change = _today_and_change(h)
    obs_day = max((d for d in (q_day, h_day) if d is not None), default=None)
    in_forecast = fc is not None and row.station_id in fc.index
    with_level = row.level is not None and row.state == "ok"
    return BulletinStation(
        station_id=row.station_id,
        name=row.name,
        river=row.river,
        basin_id=row.basin_id,
        level=row.level,
        level_label=row.level_label,
        state=row.state,
        reason=row.reason,
        first_date=row.first_date,
        probability=row.probability,
        trend=row.trend,
        data_age_days=row.data_age_days,
        model_name=row.model_name,
        overridden=row.overridden,
        override_reason=row.override_reason,
        obs_date=obs_day,
        discharge_m3s=q_now if q_day == obs_day else None,
        discharge_change_m3s=q_change if q_day == obs_day else None,
        water_level_cm=h_now if h_day == obs_day else None,
        water_level_change_cm=h_change if h_day == obs_day else None,
        leads=fc.leads_of(row.station_id, with_level) if in_forecast else [],
        thresholds=fc.thresholds_of(row.station_id, run.threshold_version) if in_forecast else [],
        history_var="discharge_m3s" if q or not h else "water_level_cm",
        history=q if q or not h else h,
    )


def _outlook(root: Path | None, basin_id: str, issue: dt.date) -> BulletinOutlook | None:
    """The basin's newest spring flood outlook on or before the issue date, if it has a result and its flood
    season has not ended (None otherwise)."""
    if root is None:
        return None
    out = latest_outlook(root, basin_id, issue)
    if not out or out.get("status") != "ok":
        return None
    season = out.get("season") or {}

    def day(v: Any) -> dt.date | None:
        try:
            return dt.date.fromisoformat(str(v)[:10]) if v else None
        except ValueError:
            return None

    end = day(season.get("end"))
    if end is not None and issue > end:
        return None
    vol, peak = out.get("volume") or {}, out.get("peak") or {}
    return BulletinOutlook(
        issue_date=day(out.get("issue_date")),
        season_start=day(season.get("start")),
        season_end=end,
        volume_pct=vol.get("pct_of_norm"),
        volume_pct_low=vol.get("pct_low"),
        volume_pct_high=vol.get("pct_high"),
        peak_low=peak.get("low"),
        peak_high=peak.get("high"),
    )


def _notes(
    session: Session, run: ForecastRun, principal: Principal, stations: Mapping[str, StationInfo]
) -> list[BulletinNote]:
    actions = session.scalars(
        select(ReviewAction).where(ReviewAction.run_id == run.id).order_by(ReviewAction.at, ReviewAction.id)
    ).all()
    keep = [
        a
        for a in readable_actions(actions, principal, stations)
        if a.action == "override" or (a.action == "approve" and a.reason)
    ]
    return [
        BulletinNote(
            at=a.at,
            username=a.username,
            action=a.action,
            target_type=a.target_type,
            target_id=a.target_id,
            old_level=a.old_level,
            new_level=a.new_level,
            reason=a.reason,
        )
        for a in keep
    ]


def bulletin_for(
    session: Session,
    issue_date: dt.date | None,
    principal: Principal,
    stations: Mapping[str, StationInfo],
    load_forecast: ForecastLoader | None,
    store: xr.Dataset | None = None,
    outlooks_root: Path | None = None,
    today: dt.date | None = None,
) -> Bulletin:
    """The bulletin of the published run of `issue_date` (None: the newest published one) as `principal` may read
    it (its basins only). `stations`: records.published.station_infos of the store; `load_forecast(run)`: the
    run's forecast dataset (None: levels and states only, no lead tables; a loader's error propagates); `store`:
    the observation store (observations and thumbnails; None: without them); `outlooks_root`: the home root whose
    outlooks/ folder holds the spring outlooks (None: none). Raises BulletinNotFound without a published run."""
    run = bulletin_run(session, principal, issue_date)
    rv = run_view(session, run, today)
    reader = as_public_reader(principal)
    ds = load_forecast(run) if load_forecast is not None else None
    fc = _Forecast(ds) if ds is not None else None
    observed = _Observed(store, run.issue_date - dt.timedelta(days=HISTORY_DAYS - 1), run.issue_date)
    rows = station_levels(session, run, stations, reader, include_unforecast=False)
    by_basin: dict[str, list[StationLevelView]] = {}
    for r in rows:
        by_basin.setdefault(r.basin_id, []).append(r)
    basins = []
    for b in basin_levels(session, run, stations, reader, today=today):
        members = by_basin.get(b.basin_id, [])
        basins.append(
            BulletinBasin(
                basin_id=b.basin_id,
                name=b.name,
                level=b.level,
                level_label=b.level_label,
                state=b.state,
                first_date=b.first_date,
                probability=b.probability,
                trend=_basin_trend(members),
                n_stations=b.n_stations,
                n_no_level=b.n_no_level,
                overridden=b.overridden,
                override_reason=b.override_reason,
                outlook=_outlook(outlooks_root, b.basin_id, run.issue_date),
                stations=[_station(run, r, fc, observed) for r in members],
            )
        )
    age = (run.issue_date - run.data_cutoff).days if run.data_cutoff is not None else None
    return Bulletin(
        run_id=run.run_id,
        issue_date=run.issue_date,
        published_at=run.published_at,
        review_status=rv.review_status,
        approved_by=rv.approved_by,
        data_cutoff=run.data_cutoff,
        data_age_days=age,
        forecast_age_days=forecast_age_days(run.issue_date, today),
        outdated=is_outdated(run.issue_date, today),
        alert_probability=run.alert_probability,
        revision=bulletin_revision(session, run),
        generated_at=utcnow(),
        scope=sorted(principal.basins) if principal.basins is not None else None,
        basins=basins,
        notes=_notes(session, run, reader, stations),
    )
