"""The read model: what a reader sees of what was forecast, reviewed and published.

Every reader renders these objects: the JSON API serialises them, the dashboard renders them to HTML, the command
line prints them, the bulletins lay them out. The rules are written once, here:

- **Which run a reader sees** (`visible_run`): reviewers (admin, hydrologist) see the newest successful run, draft
  or published (of the asked issue date, else the newest issue date); everybody else sees the newest *published*
  successful run (of the asked date, else of the newest published date). A rerun of a date supersedes the older
  run once it is published (for the public) or at once (for reviewers).
- **Two ages**: the *data age* of a station is the days between its newest usable observation and the issue date
  (forecasting.forecast writes it, forecasting.risk turns it into a state); the *forecast age* of a run is the days
  between its issue date and today (wall clock, local day: forecasting.config.local_today). A run whose forecast
  age exceeds OUTDATED_AFTER_DAYS is outdated and shown so.
- **States**: only a station in state `ok` has a level; `stale`, `climatology`, `fallback`, `no_thresholds`,
  `failed` have `level: None` and a reason (forecasting.risk.station_state), never a level 0 "normal". A basin's
  level is the maximum over its stations that have one; it counts those that have none. A reviewer's override
  gives a level whatever the state, with its reason.
- **Skill** shown beside a forecast is the backtest skill of the model that made it (the LightGBM ensemble the
  backtest scores), or none for a baseline fallback.

Units: discharge m3/s, water level cm, probabilities in [0, 1], dates local days (Asia/Almaty).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from forecasting import flags as qcflags
from forecasting.config import DEFAULTS, ForecastConfig, local_today
from forecasting.explain import as_percent
from forecasting.risk import LEVEL_LABELS, STATES
from forecasting.store import station_table
from forecasting.thresholds import KINDS, OFFICIAL_MARKS
from records.accounts import Principal
from records.db import BasinLevel, ForecastRun, ReviewAction, StationLevel

OUTDATED_AFTER_DAYS = 1  # a run issued more than this many days before today is outdated (shown in red)
BACKTESTED_MODELS = ("lightgbm", "lightgbm-nwp")  # the models whose skill a backtest report can give
State = Literal["ok", "stale", "climatology", "fallback", "no_thresholds", "failed", "no_forecast"]
STATE_REASONS: dict[str, str] = {**STATES, "no_forecast": "not in the forecast of this issue date"}


# --- which run a reader sees ------------------------------------------------------------------------------------


def visible_run(session: Session, principal: Principal, issue_date: dt.date | None = None) -> ForecastRun | None:
    """The run `principal` sees (of `issue_date`, else the newest): the one rule of visibility (module docstring)."""
    stmt = select(ForecastRun).where(ForecastRun.status == "success")
    if issue_date is not None:
        stmt = stmt.where(ForecastRun.issue_date == issue_date)
    if principal.sees_drafts:
        stmt = stmt.order_by(ForecastRun.issue_date.desc(), ForecastRun.id.desc())
    else:
        stmt = stmt.where(ForecastRun.published_at.is_not(None)).order_by(
            ForecastRun.issue_date.desc(), ForecastRun.published_at.desc(), ForecastRun.id.desc()
        )
    return session.scalars(stmt.limit(1)).first()


def visible_runs(session: Session, principal: Principal, limit: int = 60) -> list[ForecastRun]:
    """The runs list (newest first): every run for reviewers (failed and running ones too), published ones else."""
    stmt = select(ForecastRun)
    if not principal.sees_drafts:
        stmt = stmt.where(ForecastRun.published_at.is_not(None), ForecastRun.status == "success")
    return list(session.scalars(stmt.order_by(ForecastRun.issue_date.desc(), ForecastRun.id.desc()).limit(limit)))


def no_run_message(issue_date: dt.date | None) -> str:
    """Why there is nothing to show (the 404 of the API, the empty state of the pages)."""
    if issue_date is None:
        return "no forecast has been published yet (run 'tasqyn forecast' and publish it)"
    return f"no published forecast for issue date {issue_date.isoformat()}"


# --- ages -------------------------------------------------------------------------------------------------------


def forecast_age_days(issue_date: dt.date, today: dt.date | None = None) -> int:
    """Days between the issue date and today (local day): 0 for today's forecast."""
    return ((today or local_today()) - issue_date).days


def is_outdated(issue_date: dt.date, today: dt.date | None = None) -> bool:
    """True when the run is older than OUTDATED_AFTER_DAYS: it must not be presented as today's."""
    return forecast_age_days(issue_date, today) > OUTDATED_AFTER_DAYS


# --- runs -------------------------------------------------------------------------------------------------------


class RunView(BaseModel):
    """A forecast run as readers see it."""

    run_id: str
    issue_date: dt.date
    status: str = Field(description="running | success | failed")
    review_status: str = Field(description="draft (not published) | approved | unreviewed")
    published: bool
    published_at: dt.datetime | None
    approved_by: str | None = Field(description="who approved it (None unless approved)")
    superseded: bool = Field(description="a newer successful run of the same issue date exists")
    forecast_age_days: int = Field(description="days from the issue date to today (local day)")
    outdated: bool = Field(description=f"issued more than {OUTDATED_AFTER_DAYS} day(s) before today")
    data_cutoff: dt.date | None = Field(description="newest observation day the run used")
    alert_probability: float | None
    n_stations: int
    n_forecast: int
    n_stale: int
    n_failed: int
    n_no_level: int = Field(description="stations without a current level (stale, climatology, fallback, ...)")
    state_counts: dict[str, int]
    config: dict[str, Any] | None
    message: str | None


def run_view(session: Session, run: ForecastRun, today: dt.date | None = None) -> RunView:
    """The view of one run (approver and supersession read from the database)."""
    approver = None
    if run.review_status == "approved":
        approver = session.scalars(
            select(ReviewAction.username)
            .where(ReviewAction.run_id == run.id, ReviewAction.action == "approve")
            .order_by(ReviewAction.id.desc())
            .limit(1)
        ).first()
    newer = session.scalars(
        select(ForecastRun.id).where(
            ForecastRun.issue_date == run.issue_date, ForecastRun.status == "success", ForecastRun.id > run.id
        )
    ).first()
    counts = {str(k): int(v) for k, v in (run.state_counts or {}).items()}
    return RunView(
        run_id=run.run_id,
        issue_date=run.issue_date,
        status=run.status,
        review_status=run.review_status if run.published_at is not None else "draft",
        published=run.published_at is not None,
        published_at=run.published_at,
        approved_by=approver,
        superseded=newer is not None,
        forecast_age_days=forecast_age_days(run.issue_date, today),
        outdated=is_outdated(run.issue_date, today),
        data_cutoff=run.data_cutoff,
        alert_probability=run.alert_probability,
        n_stations=run.n_stations,
        n_forecast=run.n_forecast,
        n_stale=run.n_stale,
        n_failed=run.n_failed,
        n_no_level=sum(v for k, v in counts.items() if k != "ok") if counts else run.n_stale + run.n_failed,
        state_counts=counts,
        config=run.run_config,
        message=run.message,
    )


def run_config(run: ForecastRun) -> ForecastConfig:
    """The configuration the run was made with (defaults for runs recorded before it was kept)."""
    return ForecastConfig.from_dict(run.run_config)


# --- stations: metadata in one shape ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StationInfo:
    """Station metadata (from the observation store: forecasting.store.station_table). Numbers are None when
    unknown, text ''; the basin defaults to the station itself."""

    station_id: str
    name: str
    river: str
    country: str
    basin_id: str
    region: str
    lat: float | None
    lon: float | None
    area_km2: float | None

    @property
    def has_coords(self) -> bool:
        return self.lat is not None and self.lon is not None


def station_infos(store: xr.Dataset | None) -> dict[str, StationInfo]:
    """The metadata of every station of the observation store by id ({} when nothing was ingested)."""
    if store is None or store.sizes.get("station", 0) == 0:
        return {}
    table = station_table(store)
    out = {}
    for sid, row in zip(table.index, table.to_dict("records"), strict=True):
        out[str(sid)] = StationInfo(
            station_id=str(sid),
            name=str(row.get("name") or sid),
            river=str(row.get("river") or ""),
            country=str(row.get("country") or ""),
            basin_id=str(row.get("basin") or sid),
            region=str(row.get("region") or ""),
            lat=finite(row.get("lat")),
            lon=finite(row.get("lon")),
            area_km2=finite(row.get("area_km2")),
        )
    return out


def finite(v: Any) -> float | None:
    """A finite float, else None (NaN, inf, text, None)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


# --- station and basin levels -----------------------------------------------------------------------------------


def level_label(level: int | None, state: str) -> str:
    """normal | warning | danger | extreme for a level; the state (stale, climatology, ...) without one."""
    return LEVEL_LABELS.get(level, "normal") if level is not None else state


class StationLevelView(BaseModel):
    """One station's level in a run (or its state without one)."""

    station_id: str
    name: str
    river: str
    basin_id: str
    lat: float | None
    lon: float | None
    level: int | None = Field(ge=0, le=3, description="0-3; null when the station has no current forecast")
    level_label: str = Field(description="normal | warning | danger | extreme, or the state when level is null")
    state: State = Field(
        description="ok, or why there is no level: " + "; ".join(f"{k}: {v}" for k, v in STATES.items())
    )  # noqa: E501
    reason: str | None = Field(description="why the state is not ok (or the model's note)")
    model_level: int | None = Field(description="the level the risk computation gave (before state and override)")
    first_date: dt.date | None = Field(description="first valid day at that level (None for level 0 or null)")
    probability: float | None
    trend: str | None = Field(description="rising | steady | falling")
    data_age_days: int | None = Field(description="days from the newest usable observation to the issue date")
    model_name: str | None = Field(description="lightgbm, climatology or persistence")
    overridden: bool = False
    override_reason: str | None = None
    status: str | None = Field(description="the forecast's status: ok | stale | fallback | failed")
    stale: bool
    message: str | None


def _station_view(row: StationLevel | None, info: StationInfo | None, station_id: str) -> StationLevelView:
    if row is None:  # in the store, not in this run
        return StationLevelView(
            station_id=station_id,
            name=info.name if info else station_id,
            river=info.river if info else "",
            basin_id=info.basin_id if info else station_id,
            lat=info.lat if info else None,
            lon=info.lon if info else None,
            level=None,
            level_label="no_forecast",
            state="no_forecast",
            reason=STATE_REASONS["no_forecast"],
            model_level=None,
            first_date=None,
            probability=None,
            trend=None,
            data_age_days=None,
            model_name=None,
            status=None,
            stale=False,
            message=None,
        )
    level = row.effective_level
    state = row.state or "ok"
    return StationLevelView(
        station_id=row.station_id,
        name=info.name if info else row.station_id,
        river=info.river if info else "",
        basin_id=row.basin_id,
        lat=info.lat if info else None,
        lon=info.lon if info else None,
        level=level,
        level_label=level_label(level, state),
        state=state,  # type: ignore[arg-type]
        reason=row.message if state != "ok" else None,
        model_level=row.model_level if row.model_level is not None else row.level,
        first_date=row.first_date if level else None,
        probability=row.probability,
        trend=row.trend,
        data_age_days=row.data_age_days,
        model_name=row.model_name,
        overridden=row.override_level is not None,
        override_reason=row.override_reason if row.override_level is not None else None,
        status=row.status,
        stale=state == "stale",
        message=row.message,
    )


def station_levels(
    session: Session,
    run: ForecastRun | None,
    stations: Mapping[str, StationInfo],
    principal: Principal,
    include_unforecast: bool = True,
) -> list[StationLevelView]:
    """Every station the principal may read, with its level in `run` (and, with `include_unforecast`, the
    stations of the store that are not in it, state `no_forecast`), highest level first, then by name."""
    rows: list[StationLevelView] = []
    seen: set[str] = set()
    if run is not None:
        for sl in session.scalars(select(StationLevel).where(StationLevel.run_id == run.id)):
            if principal.can_read_basin(sl.basin_id):
                rows.append(_station_view(sl, stations.get(sl.station_id), sl.station_id))
            seen.add(sl.station_id)
    if include_unforecast:
        for sid, info in stations.items():
            if sid not in seen and principal.can_read_basin(info.basin_id):
                rows.append(_station_view(None, info, sid))
    rows.sort(key=lambda r: (-(r.level if r.level is not None else -1), r.name.lower(), r.station_id))
    return rows


def station_level(
    session: Session, run: ForecastRun | None, stations: Mapping[str, StationInfo], station_id: str
) -> StationLevelView | None:
    """One station's level in `run` (state `no_forecast` if the store has it but the run not; None if unknown)."""
    row = None
    if run is not None:
        row = session.scalars(
            select(StationLevel).where(StationLevel.run_id == run.id, StationLevel.station_id == station_id)
        ).first()
    if row is None and station_id not in stations:
        return None
    return _station_view(row, stations.get(station_id), station_id)


class BasinView(BaseModel):
    """A basin's level in a run: the maximum over its stations that have a current level."""

    basin_id: str
    name: str
    level: int | None = Field(ge=0, le=3, description="0-3; null when none of its stations has a current level")
    level_label: str
    state: Literal["ok", "no_data"] = Field(description="no_data: no station of the basin has a current level")
    first_date: dt.date | None
    probability: float | None
    n_stations: int
    n_no_level: int = Field(description="stations of the basin without a current level (stale, fallback, ...)")
    issue_date: dt.date
    review_status: str
    data_age_days: int | None = Field(description="the oldest data age at the issue date among its stations")
    forecast_age_days: int
    outdated: bool
    model_level: int | None
    overridden: bool = False
    override_reason: str | None = None


class BasinDetailView(BasinView):
    stations: list[StationLevelView]


def basin_name(row: BasinLevel | None, basin_id: str, stations: Mapping[str, StationInfo]) -> str:
    """A basin's display name: its published name, else for a basin of one station that station's river (or
    name), else the id."""
    if row is not None and row.name and row.name != basin_id:
        return row.name
    members = [s for s in stations.values() if s.basin_id == basin_id]
    if len(members) == 1:
        return members[0].river or members[0].name
    return basin_id


def basin_levels(
    session: Session,
    run: ForecastRun | None,
    stations: Mapping[str, StationInfo],
    principal: Principal,
    basin_id: str | None = None,
    today: dt.date | None = None,
) -> list[BasinView]:
    """The basins of `run` the principal may read (or only `basin_id`), highest level first."""
    if run is None:
        return []
    stmt = select(BasinLevel).where(BasinLevel.run_id == run.id)
    if basin_id is not None:
        stmt = stmt.where(BasinLevel.basin_id == basin_id)
    ages: dict[str, int] = {}
    for bid, age in session.execute(
        select(StationLevel.basin_id, StationLevel.data_age_days).where(StationLevel.run_id == run.id)
    ):
        if age is not None:
            ages[bid] = max(ages.get(bid, age), age)
    review = run.review_status if run.published_at is not None else "draft"
    out = []
    for b in session.scalars(stmt):
        if not principal.can_read_basin(b.basin_id):
            continue
        level = b.effective_level
        out.append(
            BasinView(
                basin_id=b.basin_id,
                name=basin_name(b, b.basin_id, stations),
                level=level,
                level_label=level_label(level, "no_data"),
                state="ok" if level is not None else "no_data",
                first_date=b.first_date if level else None,
                probability=b.probability,
                n_stations=b.n_stations,
                n_no_level=b.n_no_level,
                issue_date=run.issue_date,
                review_status=review,
                data_age_days=ages.get(b.basin_id),
                forecast_age_days=forecast_age_days(run.issue_date, today),
                outdated=is_outdated(run.issue_date, today),
                model_level=b.level,
                overridden=b.override_level is not None,
                override_reason=b.override_reason,
            )
        )
    out.sort(key=lambda b: (-(b.level if b.level is not None else -1), b.name.lower()))
    return out


# --- the forecast of one station --------------------------------------------------------------------------------


class ThresholdView(BaseModel):
    """A threshold with its source, as recorded (`source`, `years`: English text of forecasting.thresholds) and in
    structured parts for readers in other languages (`origin` and the fields after it, filled from the recorded
    text by `threshold_origin`)."""

    kind: Literal["warning", "danger", "extreme"]
    value: float
    units: Literal["m3/s", "cm"]
    source: str = Field(examples=["derived: Gumbel L-moments 2-year flood of annual maxima"])
    years: str | None = Field(default=None, examples=["1981-2020: 40 complete years (<= 30 missing days)"])
    version: int | None = None
    origin: Literal["registry", "file", "derived", "unknown"] = Field(
        default="unknown",
        description="registry: an official mark of the station registry; file: from a thresholds file; derived: a "
        "T-year flood fitted to the station's record; unknown: a source text of another form",
    )
    source_text: str | None = Field(default=None, description="a thresholds file's own source text (as written)")
    source_file: str | None = Field(default=None, description="the thresholds file's name")
    return_period_years: float | None = Field(default=None, description="T of a derived T-year flood")
    first_year: int | None = Field(default=None, description="first year of the record a derived value was fitted to")
    last_year: int | None = None
    n_years: int | None = Field(default=None, description="complete years used")
    years_left_out: str | None = Field(default=None, description="incomplete years left out, e.g. '1990, 2003-2005'")
    short_record: bool = Field(default=False, description="fitted to fewer years than forecasting.thresholds wants")

    @model_validator(mode="after")
    def _structured(self) -> ThresholdView:
        if self.origin == "unknown":
            for name, value in threshold_origin(self.source, self.years).items():
                setattr(self, name, value)
        return self


_REGISTRY = re.compile(r"^official: .* \(station registry, (?:m3/s|cm)\)$")
_DERIVED = re.compile(r"^derived: .*?(\d+(?:\.\d+)?)-year flood")
_FILE = re.compile(r"^(.*) \(([^()/\\]+\.[A-Za-z0-9]+)\)$")
_YEARS = re.compile(r"^(\d{4})-(\d{4}): (\d+) complete years")
_LEFT_OUT = re.compile(r"left out: ([0-9, -]+)")


def threshold_origin(source: str | None, years: str | None) -> dict[str, Any]:
    """The structured parts of a threshold's recorded source and years text, as forecasting.thresholds writes them
    ("official: <mark> (station registry, cm)", "<source> (<file>.csv)", "derived: Gumbel L-moments 5-year flood
    of annual maxima" with "1981-2020: 40 complete years (...); left out: 1990; short record ..."). A text of
    another form gives origin "unknown" (readers then show it as recorded)."""
    src = (source or "").strip()
    out: dict[str, Any] = {"origin": "unknown"}
    if _REGISTRY.match(src):
        return {"origin": "registry"}
    d = _DERIVED.match(src)
    if d:
        out = {"origin": "derived", "return_period_years": float(d.group(1))}
        y = _YEARS.match((years or "").strip())
        if y:
            out.update(first_year=int(y.group(1)), last_year=int(y.group(2)), n_years=int(y.group(3)))
        left = _LEFT_OUT.search(years or "")
        if left:
            out["years_left_out"] = left.group(1).strip(" ,")
        out["short_record"] = "short record" in (years or "")
        return out
    f = _FILE.match(src)
    if f:
        text = f.group(1).strip()
        return {
            "origin": "file",
            "source_file": f.group(2),
            "source_text": None if text.startswith("official: ") else text,
        }
    return out


class ObservationView(BaseModel):
    date: dt.date
    discharge_m3s: float | None = None
    water_level_cm: float | None = None
    precip_mm: float | None = None
    flags: list[str] = Field(default_factory=list, description="QC flags of the discharge")


class LeadView(BaseModel):
    lead: int = Field(description="days after the issue date")
    valid_date: dt.date
    quantiles: dict[str, float | None] = Field(examples=[{"0.05": 4.1, "0.5": 5.3, "0.95": 7.9}])
    p_exceed: dict[str, float | None] = Field(examples=[{"warning": 0.12, "danger": 0.03, "extreme": 0.004}])
    level: int | None = Field(description="the level of this lead (null when the station has no current level)")
    water_level_quantiles: dict[str, float | None] | None = None
    drivers: dict[str, float | None] | None = Field(
        default=None,
        description="why the median changes from the issue day: per driver (flow, rain, snow, temperature, season, "
        "basin, calibration) the percentage by which it moves the forecast (model contributions; null when the "
        "station was forecast by a baseline)",
    )
    driver_log: dict[str, float] | None = Field(default=None, exclude=True)  # log units, for the totals shown
    nwp_precip_mm: float | None = Field(
        default=None, description="the weather forecast's precipitation of the valid day used (mm), null without"
    )
    nwp_tmean_c: float | None = Field(
        default=None, description="the weather forecast's mean air temperature of the valid day used (degC)"
    )
    heavy_rain_band: bool = Field(
        default=False,
        description="the range comes from the errors of past days with heavy rain (forecast over the lead time, or "
        "observed over the last 3 days), which were larger: the range is wider than on other days",
    )


class NwpRunView(BaseModel):
    """The weather-forecast (NWP) run a forecast used, or why none."""

    used: bool = Field(description="the models with weather-forecast inputs made this forecast")
    source: str | None = Field(description="the NWP model, e.g. ecmwf-ifs, graphcast")
    run_time: str | None = Field(description="the run's start time (UTC, ISO 8601)")
    message: str | None = Field(description="which run was used, or why none (missing, too old, ...)")


def skill_of_model(model_name: str | None, skill: dict[str, Any] | None) -> dict[str, Any] | None:
    """The backtest skill of the model that made a forecast, from a station's entry of a backtest report: the
    plain LightGBM ensemble's (`without_nwp` where the report was made with weather forecasts), the NWP models'
    only from a backtest on archived real forecasts (never the observed-future upper bound); None for a baseline."""
    if skill is None or model_name not in BACKTESTED_MODELS:
        return None
    mode = str((skill.get("nwp") or {}).get("mode") or "")
    if model_name == "lightgbm-nwp":
        return skill if mode == "archive" else None
    if mode:
        plain = skill.get("without_nwp")
        return {**skill, "leads": plain} if plain else None
    return skill


class RatingNote(BaseModel):
    """The rating curve behind a water-level forecast (forecasting.rating.RatingCurve.note in structured parts)."""

    n_pairs: int = Field(description="days with both discharge and water level the curve was fitted on")
    start: dt.date
    end: dt.date
    rmse_cm: float
    q_max_m3s: float = Field(description="largest discharge of the fitted days: levels above its level extrapolated")


_RATING = re.compile(
    r"^rating curve from (\d+) paired days (\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2}) \(RMSE ([0-9.]+) cm; "
    r"levels above the one of ([0-9.eE+-]+) m3/s"
)


_LEVEL_ONLY = re.compile(r"^level-only post: the water level is forecast directly \(reference ([0-9.eE+-]+) cm\)")


def level_only_reference(text: str | None) -> float | None:
    """The reference level (cm) of a level-only post's forecast from its rating note, else None."""
    m = _LEVEL_ONLY.match((text or "").strip())
    return float(m.group(1)) if m else None


def rating_note_of(text: str | None) -> RatingNote | None:
    """The structured parts of a rating note as forecasting.rating writes it; None for any other text."""
    m = _RATING.match((text or "").strip())
    if m is None:
        return None
    return RatingNote(
        n_pairs=int(m.group(1)),
        start=dt.date.fromisoformat(m.group(2)),
        end=dt.date.fromisoformat(m.group(3)),
        rmse_cm=float(m.group(4)),
        q_max_m3s=float(m.group(5)),
    )


class StationForecastView(BaseModel):
    """A station's forecast in a run, with everything a reader needs to judge it."""

    station_id: str
    issue_date: dt.date
    review_status: str
    run_id: str
    forecast_age_days: int
    outdated: bool
    data_age_days: int | None = Field(description="days from the newest usable observation to the issue date")
    last_obs_date: dt.date | None
    last_obs_m3s: float | None
    model_version: str | None
    model_name: str | None
    status: str | None
    state: State
    reason: str | None
    message: str | None = None
    level: int | None
    level_label: str
    model_level: int | None
    first_date: dt.date | None
    probability: float | None
    trend: str | None
    overridden: bool = False
    override_reason: str | None = None
    units: str = "m3/s"
    threshold_version: int | None = None
    alert_probability: float | None = None
    rating_note: str | None = None
    thresholds: list[ThresholdView]
    observations: list[ObservationView]
    leads: list[LeadView]
    skill: dict[str, Any] | None = Field(default=None, description="backtest skill of the model that made it")
    nwp: NwpRunView | None = Field(default=None, description="the weather-forecast run used, or why none")
    rating: RatingNote | None = Field(default=None, description="rating_note in structured parts (None: unknown)")
    level_only_reference_cm: float | None = Field(
        default=None, description="a level-only post: its water level is forecast directly, above this level (cm)"
    )


def _text(v: Any) -> str:
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    s = str(v)
    return "" if s == "nan" else s


def _date(v: Any) -> dt.date | None:
    if v is None:
        return None
    ts = pd.Timestamp(v)
    return None if pd.isna(ts) else ts.date()


def forecast_stations(ds: xr.Dataset | None) -> set[str]:
    return set() if ds is None else {str(s) for s in ds["station"].values}


def thresholds_of(ds: xr.Dataset, station_id: str, version: int | None) -> list[ThresholdView]:
    """The thresholds a forecast was computed with (from the file), in order warning, danger, extreme."""
    if "threshold_value" not in ds:
        return []
    one = ds.sel(station=station_id)
    out = []
    for kind in (str(k) for k in ds["threshold"].values):
        value = finite(one["threshold_value"].sel(threshold=kind).values)
        if value is None or kind not in KINDS:
            continue

        def text(var: str, kind: str = kind) -> str:
            return _text(one[var].sel(threshold=kind).values) if var in one else ""

        out.append(
            ThresholdView(
                kind=kind,  # type: ignore[arg-type]
                value=value,
                units="cm" if text("threshold_units") == "cm" else "m3/s",
                source=text("threshold_source"),
                years=text("threshold_years") or None,
                version=version,
            )
        )
    return out


def observations_of(
    store: xr.Dataset | None, station_id: str, start: dt.date | None, end: dt.date | None
) -> list[ObservationView]:
    """Observed daily discharge (m3/s), water level (cm) and precipitation (mm) of a station between two local
    days (inclusive; None: open), with the discharge's QC flags; days with nothing observed are left out."""
    if store is None or station_id not in forecast_stations(store):
        return []
    lo = None if start is None else np.datetime64(start, "ns")
    hi = None if end is None else np.datetime64(end, "ns")
    one = store.sel(station=station_id).sel(time=slice(lo, hi))
    names = [v for v in ("discharge_m3s", "water_level_cm", "precip_mm") if v in one]
    cols = {v: one[v].values for v in names}
    qc = one["discharge_m3s_qc"].values if "discharge_m3s_qc" in one else None
    out = []
    for k, t in enumerate(pd.DatetimeIndex(one["time"].values)):
        vals = {v: finite(cols[v][k]) for v in names}
        if all(x is None for x in vals.values()):
            continue
        flags = qcflags.describe(int(qc[k])) if qc is not None and qc[k] else []
        out.append(ObservationView(date=t.date(), flags=flags, **vals))
    return out


def usable_series(
    store: xr.Dataset | None, station_id: str, start: dt.date, end: dt.date, var: str = "discharge_m3s"
) -> list[tuple[dt.date, float]]:
    """Observed daily values of `var` (discharge m3/s, or water level cm) between two local days, with the values
    QC flagged as unusable (forecasting.flags.BAD) left out: what a chart draws."""
    if store is None or var not in store or station_id not in forecast_stations(store):
        return []
    one = store.sel(station=station_id).sel(time=slice(np.datetime64(start, "ns"), np.datetime64(end, "ns")))
    vals = one[var].values.astype(float)
    qc = one[f"{var}_qc"].values.astype(int) if f"{var}_qc" in one else np.zeros(len(vals), dtype=int)
    keep = np.isfinite(vals) & ((qc & qcflags.BAD) == 0)
    times = pd.DatetimeIndex(one["time"].values)
    return [(times[i].date(), float(vals[i])) for i in np.flatnonzero(keep)]


def registry_marks(
    store: xr.Dataset | None, station_id: str, units: Literal["m3/s", "cm"] = "cm"
) -> list[ThresholdView]:
    """The official marks of a station in the registry (station metadata `level_<kind>_cm`, or `q_<kind>_m3s`), in
    `units`, whatever thresholds its forecast used (a station with both compares its forecast in m3/s, while its water
    level is read against the marks in cm)."""
    if store is None or station_id not in forecast_stations(store):
        return []
    row = station_table(store.sel(station=[station_id])).iloc[0]
    out = []
    for kind in KINDS:
        field = f"level_{kind}_cm" if units == "cm" else f"q_{kind}_m3s"
        value = finite(row.get(field))
        if value is not None:
            source = f"official: {OFFICIAL_MARKS[kind]} (station registry, {units})"
            out.append(ThresholdView(kind=kind, value=value, units=units, source=source))  # type: ignore[arg-type]
    return out


def usable_daily(
    store: xr.Dataset | None, station_id: str, end: dt.date | None = None, var: str = "discharge_m3s"
) -> pd.Series:
    """A station's whole usable daily record of `var` (discharge m3/s or water level cm) up to the local day `end`
    (inclusive; None: all), QC-flagged (BAD) values as NaN, indexed by day: the input of a climatology."""
    if store is None or var not in store or station_id not in forecast_stations(store):
        return pd.Series(dtype="float64")
    hi = None if end is None else np.datetime64(end, "ns")
    one = store.sel(station=station_id).sel(time=slice(None, hi))
    vals = one[var].values.astype(float)
    if f"{var}_qc" in one:
        vals = np.where((one[f"{var}_qc"].values.astype(int) & qcflags.BAD) != 0, np.nan, vals)
    return pd.Series(vals, index=pd.DatetimeIndex(one["time"].values), name=station_id)


def _observed(store: xr.Dataset, station_id: str | None) -> np.ndarray:
    """Days with a discharge or water-level value (of one station, or of any)."""
    names = [v for v in ("discharge_m3s", "water_level_cm") if v in store]
    one = store.sel(station=[station_id]) if station_id is not None else store
    ok = np.zeros(one.sizes.get("time", 0), dtype=bool)
    for v in names:
        ok |= np.isfinite(one[v].transpose("station", "time").values).any(axis=0)
    return ok


def newest_observation(store: xr.Dataset, station_id: str | None = None) -> dt.date | None:
    """The newest day with a discharge or water-level value, of one station or of any."""
    ok = _observed(store, station_id)
    return pd.Timestamp(store["time"].values[np.flatnonzero(ok)[-1]]).date() if ok.any() else None


def newest_days(store: xr.Dataset) -> dict[str, dt.date | None]:
    """Each station's newest day with a discharge or water-level value (None: never), all stations at once."""
    stations = [str(s) for s in store["station"].values]
    times = store["time"].values if store.sizes.get("time", 0) else np.array([], dtype="datetime64[ns]")
    ok = np.zeros((len(stations), len(times)), dtype=bool)
    for var in ("discharge_m3s", "water_level_cm"):
        if var in store:
            ok |= np.isfinite(store[var].transpose("station", "time").values)
    has = ok.any(axis=1)
    last = ok.shape[1] - 1 - np.argmax(ok[:, ::-1], axis=1) if ok.shape[1] else np.zeros(len(stations), dtype=int)
    return {sid: pd.Timestamp(times[last[i]]).date() if has[i] else None for i, sid in enumerate(stations)}


def stale_now(
    newest: Mapping[str, dt.date | None], today: dt.date, limit: int = DEFAULTS.stale_after_days
) -> list[str]:
    """The stations (sorted) whose newest observation (`newest_days`) is more than `limit` days before `today`, or
    that never had one: stale as of today (a forecast's own stale state, at its issue date, is
    forecasting.risk.station_state's)."""
    return sorted(s for s, d in newest.items() if d is None or (today - d).days > limit)


def observed_period(store: xr.Dataset, station_id: str) -> tuple[dt.date | None, dt.date | None]:
    """The first and the last day with a discharge or water-level value of a station."""
    ok = np.flatnonzero(_observed(store, station_id))
    if not ok.size:
        return None, None
    times = store["time"].values
    return pd.Timestamp(times[ok[0]]).date(), pd.Timestamp(times[ok[-1]]).date()


def _percent(row: np.ndarray, names: list[str]) -> tuple[dict[str, float | None] | None, dict[str, float] | None]:
    if not np.isfinite(row).any():
        return None, None
    pct = {n: (round(float(as_percent(v)), 1) if np.isfinite(v) else None) for n, v in zip(names, row, strict=True)}
    log = {n: float(v) for n, v in zip(names, row, strict=True) if np.isfinite(v)}
    return pct, log


def station_forecast_view(
    session: Session,
    run: ForecastRun,
    ds: xr.Dataset,
    station_id: str,
    stations: Mapping[str, StationInfo],
    store: xr.Dataset | None = None,
    observation_days: int = 30,
    skill: dict[str, Any] | None = None,
    today: dt.date | None = None,
) -> StationForecastView | None:
    """The forecast of `station_id` in `run` (its dataset `ds`), or None if the run has no forecast for it.
    `observation_days` recent days of observations up to the issue date come with it; `skill` (the newest backtest
    report's entry for the station) is kept only if the model that made this forecast is the one it scores."""
    if station_id not in forecast_stations(ds):
        return None
    level_row = station_level(session, run, stations, station_id)
    one = ds.sel(station=station_id)
    qkeys = [f"{float(q):g}" for q in ds["quantile"].values]
    kinds = [str(k) for k in ds["threshold"].values] if "threshold" in ds.coords else list(KINDS)
    dq = one["discharge_m3s"].transpose("lead", "quantile").values
    wl = one["water_level_cm"].transpose("lead", "quantile").values if "water_level_cm" in one else None
    p = one["p_exceed"].transpose("lead", "threshold").values if "p_exceed" in one else None
    lv = one["level"].values if "level" in one else None
    dc = one["driver_contribution"].transpose("lead", "driver").values if "driver_contribution" in one else None
    nwp_p = one["nwp_precip_mm"].values if "nwp_precip_mm" in one else None
    nwp_t = one["nwp_tmean_c"].values if "nwp_tmean_c" in one else None
    heavy = one["heavy_rain_band"].values if "heavy_rain_band" in one else None  # older files: none
    driver_names = [str(d) for d in ds["driver"].values] if dc is not None else []
    state = level_row.state if level_row is not None else "ok"
    has_level = level_row is not None and level_row.level is not None
    valid = pd.DatetimeIndex(ds["valid_date"].values)
    leads = []
    for k, lead in enumerate(ds["lead"].values):
        pct, log = _percent(dc[k], driver_names) if dc is not None else (None, None)
        levels_k = wl[k] if wl is not None and np.isfinite(wl[k]).any() else None
        leads.append(
            LeadView(
                lead=int(lead),
                valid_date=valid[k].date(),
                quantiles={key: finite(dq[k, j]) for j, key in enumerate(qkeys)},
                p_exceed={kind: (finite(p[k, j]) if p is not None else None) for j, kind in enumerate(kinds)},
                level=int(lv[k]) if lv is not None and has_level and state == "ok" else None,
                water_level_quantiles=(
                    {key: finite(levels_k[j]) for j, key in enumerate(qkeys)} if levels_k is not None else None
                ),
                drivers=pct,
                driver_log=log,
                nwp_precip_mm=finite(nwp_p[k]) if nwp_p is not None else None,
                nwp_tmean_c=finite(nwp_t[k]) if nwp_t is not None else None,
                heavy_rain_band=bool(heavy is not None and heavy[k] == 1),
            )
        )

    def sval(name: str) -> str | None:
        return (_text(one[name].values) or None) if name in one else None

    model_name = sval("model_name")
    obs: list[ObservationView] = []
    if store is not None and observation_days > 0:
        start = run.issue_date - dt.timedelta(days=observation_days - 1)
        obs = observations_of(store, station_id, start, run.issue_date)
    level = level_row.level if level_row is not None else None
    age = level_row.data_age_days if level_row is not None else None
    if age is None and "data_age_days" in one:
        a = finite(one["data_age_days"].values)
        age = int(a) if a is not None else None
    review = run.review_status if run.published_at is not None else "draft"
    return StationForecastView(
        station_id=station_id,
        issue_date=run.issue_date,
        review_status=review,
        run_id=run.run_id,
        forecast_age_days=forecast_age_days(run.issue_date, today),
        outdated=is_outdated(run.issue_date, today),
        data_age_days=age,
        last_obs_date=_date(one["last_obs_date"].values) if "last_obs_date" in one else None,
        last_obs_m3s=finite(one["last_obs_m3s"].values) if "last_obs_m3s" in one else None,
        model_version=sval("model_version"),
        model_name=model_name,
        status=sval("status"),
        state=state,  # type: ignore[arg-type]
        reason=level_row.reason if level_row is not None else None,
        message=(level_row.message if level_row is not None else None) or sval("message"),
        level=level,
        level_label=level_row.level_label if level_row is not None else "normal",
        model_level=level_row.model_level if level_row is not None else None,
        first_date=level_row.first_date if level_row is not None else None,
        probability=level_row.probability if level_row is not None else None,
        trend=level_row.trend if level_row is not None else sval("trend"),
        overridden=level_row.overridden if level_row is not None else False,
        override_reason=level_row.override_reason if level_row is not None else None,
        threshold_version=run.threshold_version,
        alert_probability=run.alert_probability,
        rating_note=sval("rating_note"),
        rating=rating_note_of(sval("rating_note")),
        level_only_reference_cm=level_only_reference(sval("rating_note")),
        thresholds=thresholds_of(ds, station_id, run.threshold_version),
        observations=obs,
        leads=leads,
        skill=skill_of_model(model_name, skill),
        nwp=_nwp_view(ds, one),
    )


def _nwp_view(ds: xr.Dataset, one: xr.Dataset) -> NwpRunView | None:
    """The NWP run of a station's forecast (None for a forecast file made without the NWP machinery)."""
    if "nwp_used" not in one:
        return None
    used = bool(int(np.nan_to_num(float(one["nwp_used"].values))))
    source, run_time = _text(ds.attrs.get("nwp_source")) or None, _text(ds.attrs.get("nwp_run_time")) or None
    message = _text(one["nwp_message"].values) if "nwp_message" in one else ""
    return NwpRunView(
        used=used, source=source if used else None, run_time=run_time if used else None, message=message or None
    )


# --- how earlier forecasts did ------------------------------------------------------------------------------------


class HistoryPoint(BaseModel):
    lead: int
    valid_date: dt.date
    median: float = Field(description="the forecast median (m3/s, or cm for the water level)")
    observed: float | None = Field(default=None, description="the usable observation of that day, if any")


class ForecastHistoryRun(BaseModel):
    """One earlier run's medians of a station for its valid days, beside what was observed."""

    run_id: str
    issue_date: dt.date
    review_status: str
    points: list[HistoryPoint]


def forecast_history(
    session: Session,
    principal: Principal,
    station_id: str,
    until_issue_date: dt.date,
    n_runs: int,
    loader: Callable[[ForecastRun], xr.Dataset | None],
    store: xr.Dataset | None = None,
    var: str = "discharge_m3s",
) -> list[ForecastHistoryRun]:
    """The forecasts of `station_id` issued on the `n_runs` issue dates before `until_issue_date` that `principal`
    sees, oldest first: for each date the run visible_run gives this reader (the one rule of visibility: published
    runs only for the public), its median of `var` per lead on the valid day, and the usable observation of that day
    from `store` up to `until_issue_date` (None where not observed by then, also when the store holds later days).
    `loader(run)` reads a run's forecast dataset (None when it cannot); runs without the station or the variable are
    left out."""
    if n_runs <= 0:
        return []
    stmt = select(ForecastRun.issue_date).where(
        ForecastRun.status == "success", ForecastRun.issue_date < until_issue_date
    )
    if not principal.sees_drafts:
        stmt = stmt.where(ForecastRun.published_at.is_not(None))
    days = list(session.scalars(stmt.distinct().order_by(ForecastRun.issue_date.desc()).limit(n_runs)))
    out: list[ForecastHistoryRun] = []
    for day in sorted(days):
        run = visible_run(session, principal, day)
        ds = loader(run) if run is not None else None
        if ds is None or var not in ds or station_id not in forecast_stations(ds):
            continue
        med = ds[var].sel(station=station_id)
        if "quantile" in med.dims:
            med = med.sel(quantile=0.5, method="nearest")
        values = med.transpose("lead").values.astype(float)
        valid = pd.DatetimeIndex(ds["valid_date"].values)
        leads = [int(x) for x in ds["lead"].values]
        obs: dict[dt.date, float] = {}
        if store is not None and len(valid) and valid.min().date() <= until_issue_date:
            end = min(valid.max().date(), until_issue_date)  # what was observed by the issue date (replays hold more)
            obs = dict(usable_series(store, station_id, valid.min().date(), end, var))
        points = [
            HistoryPoint(lead=leads[k], valid_date=valid[k].date(), median=float(v), observed=obs.get(valid[k].date()))
            for k, v in enumerate(values)
            if math.isfinite(v)
        ]
        if points:
            review = run.review_status if run.published_at is not None else "draft"
            out.append(ForecastHistoryRun(run_id=run.run_id, issue_date=day, review_status=review, points=points))
    return out


# --- one CSV export ---------------------------------------------------------------------------------------------

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: Any) -> str:
    """A text cell safe to open in a spreadsheet: a leading = + - @ (a formula) is neutralised with a quote."""
    s = "" if value is None else str(value)
    return "'" + s if s.startswith(FORMULA_STARTS) else s


def _num(v: float | None) -> str:
    return "" if v is None else f"{v:.6g}"


def forecast_csv(f: StationForecastView) -> str:
    """The forecast as CSV, one row per lead: the one export of a station forecast (API and dashboard).

    Columns: station_id, issue_date, review_status, forecast_age_days, data_age_days, state, model_name,
    model_version, lead, valid_date, q<level>_m3s..., p_exceed_<threshold>..., level, h<level>_cm... (where the
    station has a water-level forecast). Probabilities in [0, 1]; empty cells where unknown."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    qkeys = list(f.leads[0].quantiles) if f.leads else []
    kinds = list(f.leads[0].p_exceed) if f.leads else list(KINDS)
    has_levels = any(ld.water_level_quantiles for ld in f.leads)
    w.writerow(
        [
            "station_id",
            "issue_date",
            "review_status",
            "forecast_age_days",
            "data_age_days",
            "state",
            "model_name",
            "model_version",
            "lead",
            "valid_date",
        ]
        + [f"q{k}_m3s" for k in qkeys]
        + [f"p_exceed_{k}" for k in kinds]
        + ["level"]
        + [f"h{k}_cm" for k in (qkeys if has_levels else [])]
    )
    for ld in f.leads:
        levels = ld.water_level_quantiles or {}
        w.writerow(
            [
                csv_text(f.station_id),
                f.issue_date.isoformat(),
                f.review_status,
                f.forecast_age_days,
                "" if f.data_age_days is None else f.data_age_days,
                f.state,
                csv_text(f.model_name or ""),
                csv_text(f.model_version or ""),
                ld.lead,
                ld.valid_date.isoformat(),
            ]
            + [_num(ld.quantiles[k]) for k in qkeys]
            + [_num(ld.p_exceed[k]) for k in kinds]
            + ["" if ld.level is None else ld.level]
            + [_num(levels.get(k)) for k in (qkeys if has_levels else [])]
        )
    return buf.getvalue()


# --- review summary ---------------------------------------------------------------------------------------------


class ApprovalSummary(BaseModel):
    """What an approval will publish: the levels by basin, the overrides, the stations without a current level."""

    run: RunView
    basins: list[BasinView]
    overrides: list[StationLevelView]
    no_level: list[StationLevelView]
    levels: dict[str, int] = Field(description="number of stations per level label (and per state)")


def approval_summary(
    session: Session, run: ForecastRun, stations: Mapping[str, StationInfo], principal: Principal
) -> ApprovalSummary:
    rows = station_levels(session, run, stations, principal, include_unforecast=False)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.level_label] = counts.get(r.level_label, 0) + 1
    return ApprovalSummary(
        run=run_view(session, run),
        basins=basin_levels(session, run, stations, principal),
        overrides=[r for r in rows if r.overridden],
        no_level=[r for r in rows if r.level is None],
        levels=counts,
    )


def readable_actions(
    actions: Iterable[ReviewAction], principal: Principal, stations: Mapping[str, StationInfo]
) -> list[ReviewAction]:
    """The audit-trail entries a basin-limited reader may see (actions on runs, and on its basins' stations)."""
    if principal.basins is None:
        return list(actions)

    def readable(a: ReviewAction) -> bool:
        if a.target_type == "basin":
            return principal.can_read_basin(a.target_id)
        if a.target_type == "station":
            info = stations.get(a.target_id or "")
            return principal.can_read_basin(info.basin_id if info else a.target_id)
        return True

    return [a for a in actions if readable(a)]
