"""The run configuration: one frozen `ForecastConfig` with every default of a forecast run written once.

The CLI takes its option defaults from here, the daily flow and the backtest take a `ForecastConfig`, and every
forecast file (attribute `run_config`) and run row records the configuration it was made with. `local_today()` is
the one definition of "today" (the local day in the configured time zone, Asia/Almaty by default).

Units and conventions: leads in days (a forecast issued on day t for lead k is valid for day t+k); ages in days;
the alert probability is P(exceed) in (0, 1) at or above which a threshold's level is raised.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

DEFAULT_TIME_ZONE = "Asia/Almaty"
MAX_LEAD = 10


def _default_leads() -> tuple[int, ...]:
    return tuple(range(1, 8))


@dataclass(frozen=True)
class ForecastConfig:
    """What a forecast run is made with (defaults written once, here).

    leads: lead days forecast (1..MAX_LEAD);
    alert_probability: a threshold's level is raised when P(exceed) >= this (GloFAS uses 0.3);
    stale_after_days: a station whose newest usable discharge (or level) is more than this many days before the
        issue date is stale: it gets no level, only the state `stale` with its reason;
    time_zone: the local day of issue dates and "today";
    global_weight: weight of the global model (all stations pooled) averaged with the basin model's quantiles
        where no weight was fitted for the pair of models (forecasting.models.ensemble; `tasqyn train` fits one);
    history_days: days of history read for the features of one issue day (the snow store spins up from here);
    nwp_max_age_hours: a weather-forecast run older than this at the issue time is not used (fallback to the
        models without NWP, said so);
    issue_hour: local hour of the daily run (09:00, after the 08:00 observations): NWP runs that started after it
        are not used for that issue date, and the age of a run is measured from it;
    nwp_sources: NWP source models in order of preference (e.g. ("ecmwf-ifs", "graphcast")): the newest fresh
        run of the first source that has one is used; empty = the newest run of any source.
    """

    leads: tuple[int, ...] = field(default_factory=_default_leads)
    alert_probability: float = 0.3
    stale_after_days: int = 2
    time_zone: str = DEFAULT_TIME_ZONE
    global_weight: float = 0.5
    history_days: int = 730
    nwp_max_age_hours: float = 36.0
    issue_hour: float = 9.0
    nwp_sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        leads = tuple(int(k) for k in self.leads)
        if not leads or any(k < 1 or k > MAX_LEAD for k in leads) or len(set(leads)) != len(leads):
            raise ValueError(f"leads must be distinct days in 1..{MAX_LEAD}, got {list(self.leads)}")
        object.__setattr__(self, "leads", tuple(sorted(leads)))
        if not 0 < self.alert_probability < 1:
            raise ValueError(f"alert_probability must lie in (0, 1), got {self.alert_probability}")
        if self.stale_after_days < 0:
            raise ValueError(f"stale_after_days must be >= 0, got {self.stale_after_days}")
        if not 0 <= self.global_weight <= 1:
            raise ValueError(f"global_weight must lie in [0, 1], got {self.global_weight}")
        if self.history_days < 60:
            raise ValueError(f"history_days must be >= 60, got {self.history_days}")
        if not 0 <= self.issue_hour < 24:
            raise ValueError(f"issue_hour must lie in [0, 24), got {self.issue_hour}")
        object.__setattr__(self, "nwp_sources", tuple(str(s) for s in self.nwp_sources))
        ZoneInfo(self.time_zone)  # raises for an unknown zone

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def with_(self, **changes: Any) -> ForecastConfig:
        """A copy with some fields changed (None values ignored, so CLI options can be passed through)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["leads"] = list(self.leads)
        d["nwp_sources"] = list(self.nwp_sources)
        return d

    def to_json(self) -> str:
        """Compact JSON, as written into forecast files (attribute `run_config`) and run rows."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> ForecastConfig:
        """From `to_dict` output; unknown keys ignored, missing ones default (older files)."""
        known = {f for f in cls.__dataclass_fields__}
        kw = {k: v for k, v in (d or {}).items() if k in known}
        if "leads" in kw:
            kw["leads"] = tuple(kw["leads"])
        if "nwp_sources" in kw:
            kw["nwp_sources"] = tuple(kw["nwp_sources"])
        return cls(**kw)

    @classmethod
    def from_json(cls, text: str | None) -> ForecastConfig:
        try:
            return cls.from_dict(json.loads(text) if text else None)
        except (TypeError, ValueError):
            return cls()


DEFAULTS = ForecastConfig()


def local_today(time_zone: str = DEFAULT_TIME_ZONE, now: dt.datetime | None = None) -> dt.date:
    """Today's local date in `time_zone` (Asia/Almaty by default): the issue date of a scheduled run and the day
    against which the age of a forecast is measured. `now` (aware) for tests."""
    moment = now if now is not None else dt.datetime.now(dt.UTC)
    return moment.astimezone(ZoneInfo(time_zone)).date()
