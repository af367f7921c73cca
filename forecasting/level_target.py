"""Posts that observe the water level only: the level itself becomes the modelled quantity.

Many Kazhydromet posts read the level (cm above the gauge zero) every day but have no discharge. For them the
forecaster models a stand-in: the level above a reference a little below the lowest level of the training period,
`level - ref` (> 0, in cm), passed to the models in the place of discharge. Its forecast quantiles plus `ref` are
the water-level quantiles (cm), which the risk compares with the marks in cm; no discharge is forecast for such
a post. The reference is fixed at training and stored with the basin model, so the same transform is used when
forecasting.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LEVEL_MARGIN_CM = 20.0  # the reference lies this far below the lowest training level, cm


def is_level_only(df: pd.DataFrame) -> bool:
    """True when the frame has water levels but no discharge at all."""
    has_q = "discharge_m3s" in df and df["discharge_m3s"].notna().any()
    has_h = "water_level_cm" in df and df["water_level_cm"].notna().any()
    return bool(has_h and not has_q)


def level_reference(df: pd.DataFrame, train_end: pd.Timestamp | None = None) -> float:
    """The reference level (cm): LEVEL_MARGIN_CM below the lowest level observed up to `train_end`."""
    h = df["water_level_cm"].loc[:train_end] if train_end is not None else df["water_level_cm"]
    return float(np.nanmin(h.to_numpy(dtype=float))) - LEVEL_MARGIN_CM


def as_modelled(df: pd.DataFrame, ref: float) -> pd.DataFrame:
    """The frame with `discharge_m3s` replaced by the level above `ref` (cm, clipped at 0), for the models."""
    out = df.copy()
    out["discharge_m3s"] = (df["water_level_cm"] - ref).clip(lower=0.0)
    return out


def to_level(modelled: np.ndarray, ref: float) -> np.ndarray:
    """Forecast quantiles of the stand-in back to water levels (cm)."""
    return np.asarray(modelled, dtype=float) + ref
