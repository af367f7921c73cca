"""Quality control: flag, never delete. Flags live in `<var>_qc` (bits in forecasting.flags).

`run_qc(ds)` recomputes the QC flags of the whole store (keeping the ingest-time bits DUPLICATE and REVISED);
`usable(ds)` gives the values fit for training and forecasting: flagged values masked, short gaps filled (FILLED).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from forecasting import flags
from forecasting.store import PERSISTENT_FLAGS, data_variables
from forecasting.variables import VARIABLES, qc_name


@dataclass(frozen=True)
class QCConfig:
    """Thresholds of the QC checks (units of the canonical variables)."""

    max_gap_fill_days: int = 2  # never fill gaps longer than this


def range_flags(values: np.ndarray, var: str) -> np.ndarray:
    """IMPOSSIBLE where a value lies outside the physical limits of `var`."""
    v = VARIABLES[var]
    out = np.zeros(values.shape, dtype=flags.FLAG_DTYPE)
    with np.errstate(invalid="ignore"):
        if v.valid_min is not None:
            out[values < v.valid_min] |= flags.IMPOSSIBLE
        if v.valid_max is not None:
            out[values > v.valid_max] |= flags.IMPOSSIBLE
    return out


def run_qc(ds: xr.Dataset, config: QCConfig | None = None) -> xr.Dataset:
    """Recompute QC flags of every variable; returns a new dataset."""
    config = config or QCConfig()
    out = ds.copy()
    for var in data_variables(ds):
        values = ds[var].values
        q = (ds[qc_name(var)].values & PERSISTENT_FLAGS) | range_flags(values, var)
        out[qc_name(var)] = (ds[qc_name(var)].dims, q.astype(flags.FLAG_DTYPE), ds[qc_name(var)].attrs)
    return out
