"""Figures (matplotlib, Agg backend). Functions return the Figure; the caller writes it."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def backtest_hydrograph(series: pd.DataFrame, station: str, leads: tuple[int, ...] = (1, 7), title: str = "") -> Figure:
    """Observed discharge and the forecast median with its 90% band over the test period, one panel per lead.

    `series`: indexed by date with `obs` and `q0.05_lead<k>`, `q0.5_lead<k>`, `q0.95_lead<k>` (by valid date)."""
    leads = tuple(k for k in leads if f"q0.5_lead{k}" in series)
    fig, axes = plt.subplots(len(leads), 1, figsize=(12, 3.2 * len(leads)), sharex=True, squeeze=False)
    for ax, k in zip(axes[:, 0], leads, strict=True):
        x = series.index
        ax.fill_between(
            x,
            series[f"q0.05_lead{k}"],
            series[f"q0.95_lead{k}"],
            color="tab:blue",
            alpha=0.25,
            lw=0,
            label="90% interval",
        )
        ax.plot(x, series[f"q0.5_lead{k}"], color="tab:blue", lw=0.9, label="forecast median")
        ax.plot(x, series["obs"], color="black", lw=0.8, label="observed")
        ax.set_ylabel("discharge (m3/s)")
        ax.set_title(f"lead {k} day{'s' if k > 1 else ''}", fontsize=10, loc="left")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper right", fontsize=8)
    fig.suptitle(title or f"{station}: backtest of the test period", fontsize=12)
    fig.tight_layout()
    return fig


def close(fig: Figure) -> None:
    plt.close(fig)
