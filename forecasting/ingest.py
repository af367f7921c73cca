"""Ingest as a pure step: adapter output + the current store -> the new store, revisions and a report."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from forecasting import flags, qc
from forecasting.canonical import AdapterResult, QuarantinedRow
from forecasting.store import build_dataset, data_variables, merge, splice, touched_part
from forecasting.variables import qc_name


class IngestError(Exception):
    """A source that could not be ingested at all, with a message naming it and what to do; the store is unchanged.
    `transient`: worth retrying (a share that dropped, the store lock held too long), not a bad file."""

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass
class IngestReport:
    """What an ingest did: counts of values kept, flagged and quarantined, plus messages."""

    source: str
    format: str
    stations: list[str] = field(default_factory=list)
    kept: int = 0  # values stored from this source
    flagged: int = 0  # of the values of this source, how many carry a QC flag that excludes them
    quarantined: int = 0  # rows/fields quarantined
    revised: int = 0  # values that changed an earlier stored value
    unconfirmed: int = 0  # of the flagged values, how many QC holds until a hydrologist confirms them
    quarantine: list[QuarantinedRow] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    quarantine_file: str | None = None

    @property
    def ok(self) -> bool:
        """True if anything could be ingested."""
        return self.kept > 0

    def summary(self) -> str:
        held = f" ({self.unconfirmed} held unconfirmed)" if self.unconfirmed else ""
        return (
            f"{self.source} [{self.format}]: {len(self.stations)} stations, {self.kept} values kept, "
            f"{self.flagged} flagged by QC{held}, {self.quarantined} quarantined, {self.revised} revised"
        )


def ingest(
    result: AdapterResult,
    store: xr.Dataset | None,
    source: str,
    fmt: str,
    qc_config: qc.QCConfig | None = None,
    confirmations: pd.DataFrame | None = None,
) -> tuple[xr.Dataset | None, pd.DataFrame, IngestReport]:
    """Merge `result` into `store`, rerun QC on the stations it touches, and report.

    Only the stations `result` brings data for are merged and QC'd (forecasting.store.touched_part, merge, splice):
    QC works station by station, so the other stations' flags stay what they are; the result is the store a merge
    and QC of everything would give. `confirmations`: values a hydrologist confirmed (forecasting.confirmations),
    never held UNCONFIRMED by QC.

    Returns (new store or the old one if nothing was ingested, revisions table, report).
    """
    new, dup_quarantine = build_dataset(result)
    quarantine = [*result.quarantine, *dup_quarantine]
    report = IngestReport(
        source=source,
        format=fmt,
        stations=sorted(str(s) for s in result.observations["station_id"].unique()),
        kept=len(result.observations) - len(dup_quarantine),
        quarantined=len(quarantine),
        quarantine=quarantine,
        messages=list(result.messages),
    )
    del result  # the long table is the largest object of a big ingest: let it go once the dataset is built
    if report.kept <= 0:
        report.kept = 0
        return store, pd.DataFrame(), report
    from forecasting.confirmations import confirmed_masks

    whole = store is None or store.sizes.get("station", 0) == 0
    part, revisions = merge(None if whole else touched_part(store, new), new)
    part = qc.run_qc(part, qc_config, confirmed_masks(part, confirmations) if confirmations is not None else None)
    merged = part if whole else splice(store, part, new)
    report.revised = len(revisions)
    report.flagged = _count_flagged(part, new)
    report.unconfirmed = _count_flagged(part, new, flags.UNCONFIRMED)
    if report.unconfirmed:
        held = qc.unconfirmed_values(part)
        held = held[held["station_id"].isin(report.stations)]
        for r in held.head(20).itertuples(index=False):
            report.messages.append(
                f"held as unconfirmed (not used for forecasts until a hydrologist confirms it): {r.station_id} "
                f"{r.variable} {pd.Timestamp(r.date).date()}: {r.reason}"
            )
    return merged, revisions, report


def _count_flagged(merged: xr.Dataset, new: xr.Dataset, mask: int = flags.BAD) -> int:
    """Values of this ingest that QC excludes from use (or that carry any bit of `mask`)."""
    n = 0
    names = [qc_name(v) for v in data_variables(new) if qc_name(v) in merged]
    sub = merged[names].sel(station=new["station"].values, time=new["time"].values)  # flags only: no copy of values
    for var in data_variables(new):
        present = ~np.isnan(new[var].values)
        bad = (sub[qc_name(var)].values & mask) != 0
        n += int((present & bad).sum())
    return n
