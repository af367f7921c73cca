"""Never worse than persistence on a river we have not seen: the real stations cut to 8-10 years of discharge only
(no weather, as many Kazhydromet posts), two test years: the held-out split and the blend with persistence adapt
to the short record, and no station is below persistence at any lead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting import qc
from forecasting.backtest import run_backtest
from forecasting.sources import get_adapter
from forecasting.store import build_dataset


def cut_to_discharge_only(real_data, years=(8, 9, 10)):
    ds, _ = build_dataset(get_adapter("station-csv").read(real_data))
    ds = ds[[v for v in ds.data_vars if v.startswith("discharge_m3s")]]
    for i, sid in enumerate(ds["station"].values):
        q = ds["discharge_m3s"].sel(station=sid).to_series().dropna()
        if q.empty:
            continue
        end = q.index.max()
        start = end - pd.DateOffset(years=years[i % len(years)]) + pd.Timedelta(days=1)
        outside = (ds["time"] < np.datetime64(start)) | (ds["time"] > np.datetime64(end))
        for v in ds.data_vars:
            if ds[v].dtype.kind == "f":
                ds[v].loc[{"station": sid}] = ds[v].sel(station=sid).where(~outside)
    return qc.run_qc(ds)


@pytest.mark.slow
def test_short_discharge_only_records_are_never_below_persistence(real_data):
    """Cut to 8, 9 or 10 years (6-8 training years). With the blend weight 1 whenever the model beat persistence on
    its short held-out period the smallest skill was 0.03 here, and the Plessur (CH2185) cut to 12 years fell to
    -0.16 at lead 2; the bootstrap blend (forecasting.models.lgbm._fit_blend) pulls such marginal gains towards
    persistence."""
    ds = cut_to_discharge_only(real_data, (8, 9, 10))
    assert set(ds.data_vars) <= {"discharge_m3s", "discharge_m3s_qc", "discharge_m3s_src", "discharge_m3s_row"}
    report, _ = run_backtest(ds, test_years=2, leads=list(range(1, 8)))
    scored = {s: st for s, st in report["stations"].items() if not st.get("reason")}
    assert len(scored) == 9  # the Chatkal's 2.7 years are too short for 2 test years: reported, not scored
    for sid, st in scored.items():
        span = (pd.Timestamp(st["train_end"]) - pd.Timestamp(st["train_start"])).days / 365.25
        assert 5.5 < span < 10.5, sid
        for k in range(1, 8):
            skill = st["leads"][str(k)]["skill_vs_persistence"]
            assert skill >= 0.02, f"{sid} lead {k}: skill vs persistence {skill:.3f}"
    assert all(report["summary"][str(k)]["median_skill_vs_persistence"] > 0.1 for k in range(1, 8))
