"""The model registry: forecasters by name. Each forecaster has `name`, `leads`, `stations`, `fit(frames, ...)`
and `predict(frames, issue_dates, levels) -> {station: n_dates x n_leads x n_levels quantiles of discharge, m3/s}`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from forecasting.models.baselines import Climatology, Persistence
from forecasting.models.calibration import FINE_LEVELS

OUTPUT_LEVELS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


def _lightgbm(**kw: Any):
    from forecasting.models.lgbm import LGBMForecaster

    return LGBMForecaster(**kw)


MODELS: dict[str, Callable[..., Any]] = {
    "persistence": Persistence,
    "climatology": Climatology,
    "lightgbm": _lightgbm,
}


def get_model(name: str, **kw: Any) -> Any:
    """A new, unfitted forecaster by registry name."""
    if name not in MODELS:
        raise KeyError(f"unknown model '{name}'; known: {', '.join(MODELS)}")
    return MODELS[name](**kw)


__all__ = ["FINE_LEVELS", "MODELS", "OUTPUT_LEVELS", "Climatology", "Persistence", "get_model"]
