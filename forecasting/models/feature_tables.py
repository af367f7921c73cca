"""Feature tables shared by the models that forecast one station.

A station's forecast runs its basin model and the global model, each predicting and then explaining (SHAP) every
lead, on the same observations: the feature table of the history (`features.build_features`, the costly part:
rolling windows and the snow store over two years) and the lead rows of the issue days (`features.lead_features`)
are the same for all four wherever the models hold the same station constants and feature settings. The few newest
tables are kept here under a key of the frame's content (hashing costs ~0.3 ms, building ~15 ms), the constants and
the settings, so each is built once. The values are exactly those `build_features` / `lead_features` give.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting.features import StationContext, build_features, lead_features
from forecasting.lru import LRU

MAX_TABLES = 4  # a chunk forecasts station after station: the current station's tables are all that is reused


_CONTEXT_KEYS: dict[int, tuple[weakref.ref, int]] = {}


def context_key(ctx: StationContext) -> int:
    """A hash of the station constants (NaN-safe: two contexts fitted alike give the same key); computed once per
    context object (they are not changed after fitting)."""
    hit = _CONTEXT_KEYS.get(id(ctx))
    if hit is not None and hit[0]() is ctx:
        return hit[1]
    key = hash(repr(ctx.to_dict()))
    ident = id(ctx)
    _CONTEXT_KEYS[ident] = (weakref.ref(ctx, lambda _ref: _CONTEXT_KEYS.pop(ident, None)), key)
    return key


def content_key(frame: pd.DataFrame) -> int:
    """A hash of a frame's values, index and columns (a float frame's bytes; else pandas' row hashes)."""
    values = frame.to_numpy()
    index = pd.DatetimeIndex(frame.index).asi8 if isinstance(frame.index, pd.DatetimeIndex) else None
    if values.dtype.kind == "f" and index is not None:
        return hash((values.shape, values.tobytes(), index.tobytes(), tuple(frame.columns)))
    return hash((int(pd.util.hash_pandas_object(frame, index=True).sum()), tuple(frame.columns)))


@dataclass
class FeatureTable:
    """The feature rows of one station's history (`full`, by date) and, on demand, its lead rows of given days."""

    full: pd.DataFrame
    ctx: StationContext
    _leads: dict[tuple, tuple[np.ndarray, dict[str, int]]] = field(default_factory=dict)
    _matrices: dict[tuple, np.ndarray] = field(default_factory=dict)

    def column_at(self, column: str, days: pd.DatetimeIndex) -> np.ndarray:
        """The values of `column` on `days` (NaN for days not in `full`)."""
        pos = self.full.index.get_indexer(days)
        values = self.full[column].to_numpy(dtype=float)
        return np.where(pos >= 0, values[np.clip(pos, 0, None)], np.nan) if len(values) else np.full(len(days), np.nan)

    def lead_matrix(self, days: pd.DatetimeIndex, lead: int, names: tuple[str, ...] | list[str]) -> np.ndarray:
        """`lead_features` of the rows of `days` (NaN rows for days not in `full`) for `lead`, columns `names`, as
        a float array (a model's input); the lead rows and each selection are built once. KeyError for a name the
        rows do not have."""
        rows_key = (int(lead), tuple(pd.DatetimeIndex(days).asi8))
        key = (*rows_key, tuple(names))
        matrix = self._matrices.get(key)
        if matrix is None:
            rows = self._leads.get(rows_key)
            if rows is None:
                pos = self.full.index.get_indexer(days)
                base = self.full.iloc[pos] if (pos >= 0).all() else self.full.reindex(days)
                frame = lead_features(base, self.ctx, lead)
                rows = (frame.to_numpy(dtype=float), {str(c): i for i, c in enumerate(frame.columns)})
                self._leads[rows_key] = rows
            values, where = rows
            missing = [n for n in names if n not in where]
            if missing:
                raise KeyError(f"features {missing[:5]} not in the lead rows")
            matrix = values[:, [where[n] for n in names]]
            self._matrices[key] = matrix
        return matrix


class FeatureTables:
    """The MAX_TABLES newest feature tables (thread-safe, forecasting.lru)."""

    def __init__(self, size: int = MAX_TABLES) -> None:
        self._tables: LRU[FeatureTable] = LRU(size)

    def get(self, sid: str, hist: pd.DataFrame, ctx: StationContext, snow: bool, nwp: tuple[str, ...]) -> FeatureTable:
        """The table of `build_features(hist, ctx, snow, nwp)` for station `sid`."""
        key = (sid, content_key(hist), context_key(ctx), bool(snow), tuple(nwp))
        table = self._tables.get(key)
        if table is None:
            table = FeatureTable(build_features(hist, ctx, snow=snow, nwp=nwp), ctx)
            self._tables.put(key, table)
        return table

    def clear(self) -> None:
        self._tables.clear()


FEATURE_TABLES = FeatureTables()
