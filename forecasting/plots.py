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


def reliability_diagram(report: dict, leads: tuple[int, ...] = (1, 3, 7)) -> Figure:
    """Calibration of the forecast quantiles: for each lead, the share of observations at or below each quantile
    (y) against its level (x), one thin line per station and the median over stations; the diagonal is perfect.

    `report`: a backtest report whose per-lead metrics carry `reliability` ({level: share})."""
    leads = tuple(k for k in leads if str(k) in report.get("summary", {})) or tuple(report.get("leads", [])[:3])
    fig, axes = plt.subplots(1, len(leads), figsize=(4 * len(leads), 4), sharey=True, squeeze=False)
    for ax, k in zip(axes[0], leads, strict=True):
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--", label="perfect")
        for st in report["stations"].values():
            rel = (st.get("leads") or {}).get(str(k), {}).get("reliability") or {}
            if rel and not st.get("reason"):
                x = sorted(rel, key=float)
                ax.plot([float(t) for t in x], [rel[t] for t in x], color="tab:blue", lw=0.6, alpha=0.4)
        med = report["summary"][str(k)].get("median_reliability") or {}
        x = sorted((t for t in med if med[t] is not None), key=float)
        ax.plot([float(t) for t in x], [med[t] for t in x], "o-", color="tab:red", lw=1.5, label="median of stations")
        ax.set_title(f"lead {k} day{'s' if k > 1 else ''}", fontsize=10, loc="left")
        ax.set_xlabel("quantile level")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("share of observations below the quantile")
    axes[0, 0].legend(loc="upper left", fontsize=8)
    fig.suptitle("Calibration of the forecast quantiles (test years)", fontsize=12)
    fig.tight_layout()
    return fig


def close(fig: Figure) -> None:
    plt.close(fig)
