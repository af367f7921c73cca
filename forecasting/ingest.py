"""Ingest as a pure step: adapter output + the current store -> the new store, revisions and a report."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from forecasting import flags, qc
from forecasting.canonical import AdapterResult, QuarantinedRow
from forecasting.store import build_dataset, data_variables, merge
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
    """Merge `result` into `store`, rerun QC over the merged store, and report.

    `confirmations`: values a hydrologist confirmed (forecasting.confirmations), never held UNCONFIRMED by QC.

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
    if report.kept <= 0:
        report.kept = 0
        return store, pd.DataFrame(), report
    merged, revisions = merge(store, new)
    from forecasting.confirmations import confirmed_masks

    merged = qc.run_qc(merged, qc_config, confirmed_masks(merged, confirmations) if confirmations is not None else None)
    report.revised = len(revisions)
    report.flagged = _count_flagged(merged, new)
    report.unconfirmed = _count_flagged(merged, new, flags.UNCONFIRMED)
    if report.unconfirmed:
        held = qc.unconfirmed_values(merged)
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
    sub = merged.sel(station=new["station"].values, time=new["time"].values)
    for var in data_variables(new):
        present = ~np.isnan(new[var].values)
        bad = (sub[qc_name(var)].values & mask) != 0
        n += int((present & bad).sum())
    return n
