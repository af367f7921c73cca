"""Pydantic response models of the JSON API (version 1), with OpenAPI examples.

Dates are local days (Asia/Almaty) as YYYY-MM-DD; a forecast issued on day t for lead k is valid for day t+k.
Discharge in m3/s, water level in cm, probabilities in [0, 1]. Levels: 0 normal, 1 warning, 2 danger, 3 extreme.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Level = int
ReviewStatus = Literal["draft", "approved", "unreviewed"]


class ErrorOut(BaseModel):
    detail: str = Field(examples=["unknown station 'XX1'"])


class HealthOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "status": "ok",
                "database": "ok",
                "latest_issue_date": "2024-04-02",
                "review_status": "approved",
                "newest_observation": "2024-04-01",
                "observation_age_days": 1,
                "n_stations": 10,
                "version": "0.1.0",
            }
        }
    )
    status: Literal["ok", "degraded"] = Field(
        description="ok, or degraded when nothing is published or the store is empty"
    )
    database: str
    latest_issue_date: dt.date | None
    review_status: str | None
    newest_observation: dt.date | None
    observation_age_days: int | None = Field(description="days from the newest observation to today (UTC date)")
    n_stations: int
    version: str


class BasinOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "basin_id": "PROTVA_SZ",
                "name": "Protva",
                "level": 2,
                "level_label": "danger",
                "first_date": "2024-04-05",
                "probability": 0.46,
                "n_stations": 1,
                "issue_date": "2024-04-02",
                "review_status": "approved",
                "data_age_days": 1,
                "overridden": False,
            }
        }
    )
    basin_id: str
    name: str
    level: Level = Field(ge=0, le=3)
    level_label: str
    first_date: dt.date | None = Field(description="first valid day at that level (None for level 0)")
    probability: float | None = Field(description="probability of exceeding the level's threshold (max over leads)")
    n_stations: int
    issue_date: dt.date
    review_status: str
    data_age_days: int | None = Field(description="days from the newest observation used to the issue date")
    overridden: bool = False


class StationLevelOut(BaseModel):
    station_id: str
    name: str
    river: str
    lat: float | None
    lon: float | None
    level: Level
    level_label: str
    first_date: dt.date | None
    probability: float | None
    trend: str | None
    status: str | None = Field(description="ok | stale | fallback | failed")
    stale: bool
    message: str | None
    overridden: bool = False
    override_reason: str | None = None


class BasinDetailOut(BasinOut):
    stations: list[StationLevelOut]


class ThresholdOut(BaseModel):
    kind: Literal["warning", "danger", "extreme"]
    value: float
    units: Literal["m3/s", "cm"]
    source: str = Field(examples=["derived: Gumbel L-moments 2-year flood of annual maxima"])
    years: str | None = Field(default=None, examples=["1981-2020: 40 complete years (<= 30 missing days)"])
    version: int | None = None


class StationOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "station_id": "CH2232",
                "name": "Allenbach - Adelboden",
                "river": "Allenbach",
                "country": "CH",
                "basin_id": "CH2232",
                "lat": 46.49,
                "lon": 7.56,
                "area_km2": 28.8,
                "period_start": "1981-01-01",
                "period_end": "2020-12-31",
                "variables": ["discharge_m3s", "precip_mm"],
                "thresholds": [
                    {
                        "kind": "warning",
                        "value": 9.1,
                        "units": "m3/s",
                        "source": "derived: Gumbel L-moments 2-year flood of annual maxima",
                        "years": "1981-2020: 40 complete years (<= 30 missing days)",
                        "version": 1,
                    }
                ],
                "skill": {"report": "backtest/report.json", "leads": {"1": {"nse": 0.8, "skill_vs_persistence": 0.2}}},
            }
        }
    )
    station_id: str
    name: str
    river: str
    country: str
    basin_id: str
    lat: float | None
    lon: float | None
    area_km2: float | None
    period_start: dt.date | None
    period_end: dt.date | None
    variables: list[str]
    thresholds: list[ThresholdOut]
    threshold_note: str | None = None
    skill: dict[str, Any] | None = Field(description="backtest skill per lead at this station, null without a report")


class ObservationOut(BaseModel):
    date: dt.date
    discharge_m3s: float | None = None
    water_level_cm: float | None = None
    precip_mm: float | None = None
    flags: list[str] = Field(default_factory=list, description="QC flags of the discharge")


class ObservationsOut(BaseModel):
    station_id: str
    start: dt.date | None
    end: dt.date | None
    units: dict[str, str] = {"discharge_m3s": "m3/s", "water_level_cm": "cm", "precip_mm": "mm"}
    observations: list[ObservationOut]


class LeadOut(BaseModel):
    lead: int = Field(description="days after the issue date")
    valid_date: dt.date
    quantiles: dict[str, float | None] = Field(examples=[{"0.05": 4.1, "0.5": 5.3, "0.95": 7.9}])
    p_exceed: dict[str, float | None] = Field(examples=[{"warning": 0.12, "danger": 0.03, "extreme": 0.004}])
    level: Level
    water_level_quantiles: dict[str, float | None] | None = None
    drivers: dict[str, float | None] | None = Field(
        default=None,
        description="why the median changes from the issue day: per driver (flow, rain, snow, temperature, season, "
        "basin, calibration) the percentage by which it moves the forecast (model contributions; null when the "
        "station was forecast by a baseline)",
        examples=[{"flow": -12.5, "rain": 34.0, "snow": 8.1, "temperature": 2.0, "season": 1.5, "basin": 0.0}],
    )


class ForecastOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "station_id": "CH2232",
                "issue_date": "2020-12-31",
                "review_status": "approved",
                "data_age_days": 1,
                "run_id": "2020-12-31T0900-ab12",
                "model_version": "lightgbm:2024.1",
                "model_name": "lightgbm",
                "status": "ok",
                "level": 0,
                "level_label": "normal",
                "first_date": None,
                "probability": 0.02,
                "trend": "steady",
                "units": "m3/s",
                "thresholds": [],
                "observations": [{"date": "2020-12-30", "discharge_m3s": 1.2}],
                "leads": [
                    {
                        "lead": 1,
                        "valid_date": "2021-01-01",
                        "quantiles": {"0.05": 1.0, "0.5": 1.2, "0.95": 1.5},
                        "p_exceed": {"warning": 0.001, "danger": 0.0002, "extreme": 0.00001},
                        "level": 0,
                    }
                ],
            }
        }
    )
    station_id: str
    issue_date: dt.date
    review_status: str
    data_age_days: int | None
    run_id: str
    model_version: str | None
    model_name: str | None
    status: str | None
    message: str | None = None
    level: Level
    level_label: str
    first_date: dt.date | None
    probability: float | None
    trend: str | None
    overridden: bool = False
    override_reason: str | None = None
    units: str = "m3/s"
    threshold_version: int | None = None
    alert_probability: float | None = None
    thresholds: list[ThresholdOut]
    observations: list[ObservationOut]
    leads: list[LeadOut]
