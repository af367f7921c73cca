"""The canonical record types every adapter returns and the store, storage, thresholds and ingest take: observations in
a long table, station metadata, and what was quarantined."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from forecasting.variables import STATION_FIELDS

OBS_COLUMNS: tuple[str, ...] = ("station_id", "date", "variable", "value", "source_file", "source_row")


@dataclass
class QuarantinedRow:
    """A row (or a whole file) that could not be ingested, with the reason. Nothing is lost: `raw` keeps it."""

    file: str
    line: int | None
    field: str | None
    reason: str
    raw: str = ""

    def message(self) -> str:
        where = self.file
        if self.line is not None:
            where += f", line {self.line}"
        if self.field:
            where += f", field '{self.field}'"
        return f"{where}: {self.reason}"


@dataclass
class AdapterResult:
    """The output of an adapter.

    observations: long table with columns OBS_COLUMNS (+ optional `symbol`, a text mark kept with the value,
        e.g. the ice symbol of a Kazhydromet level). `date` is a datetime64 local day, `value` float64 in
        canonical units (see forecasting.variables), `source_row` the 1-based line in `source_file`.
    stations: metadata indexed by `station_id`, columns from STATION_FIELDS (missing ones absent or NaN).
    quarantine: rows that were rejected, with file, line, field and reason.
    messages: warnings that are not rejections (e.g. a station without metadata, a column not understood).
    """

    observations: pd.DataFrame = field(default_factory=lambda: empty_observations())
    stations: pd.DataFrame = field(default_factory=lambda: empty_stations())
    quarantine: list[QuarantinedRow] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    def extend(self, other: AdapterResult) -> None:
        """Add another result (e.g. of another file of the same source) to this one."""
        self.observations = concat_observations([self.observations, other.observations])
        self.stations = merge_stations(self.stations, other.stations)
        self.quarantine.extend(other.quarantine)
        self.messages.extend(other.messages)


def empty_observations() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "station_id": pd.Series([], dtype="str"),
            "date": pd.Series([], dtype="datetime64[ns]"),
            "variable": pd.Series([], dtype="str"),
            "value": pd.Series([], dtype="float64"),
            "source_file": pd.Series([], dtype="str"),
            "source_row": pd.Series([], dtype="int64"),
        }
    )


def empty_stations() -> pd.DataFrame:
    df = pd.DataFrame(columns=list(STATION_FIELDS))
    df.index.name = "station_id"
    return df


def concat_observations(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_observations()
    return pd.concat(frames, ignore_index=True)


def merge_stations(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Union of two station tables; for a station in both, non-missing fields of `b` win."""
    if a.empty:
        return b.copy()
    if b.empty:
        return a.copy()
    both = b.combine_first(a)
    both.index.name = "station_id"
    return both
