"""Response models of the JSON API (version 1) beyond the read model's objects (records.published), with examples.

Dates are local days (Asia/Almaty) as YYYY-MM-DD; a forecast issued on day t for lead k is valid for day t+k.
Discharge in m3/s, water level in cm, probabilities in [0, 1]. Levels: 0 normal, 1 warning, 2 danger, 3 extreme.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from records.published import ObservationView, ThresholdView


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
    status: Literal["ok", "degraded"] = Field(description="ok, or degraded (see `degraded` for why)")
    degraded: list[str] = Field(default_factory=list, description="what is wrong, one line each")
    database: str
    latest_issue_date: dt.date | None
    review_status: str | None
    forecast_age_days: int | None = Field(description="days from the latest published issue date to today")
    outdated: bool | None = Field(description="the latest publication is older than a day")
    newest_observation: dt.date | None
    observation_age_days: int | None = Field(description="days from the newest observation to today (local day)")
    n_stations: int
    n_no_level: int | None = Field(description="stations without a current level in the latest publication")
    version: str


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
    thresholds: list[ThresholdView]
    threshold_note: str | None = None
    skill: dict[str, Any] | None = Field(description="backtest skill per lead at this station, null without a report")


class ObservationsOut(BaseModel):
    station_id: str
    start: dt.date | None
    end: dt.date | None
    units: dict[str, str] = {"discharge_m3s": "m3/s", "water_level_cm": "cm", "precip_mm": "mm"}
    observations: list[ObservationView]
