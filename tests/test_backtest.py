"""Walk-forward backtest on real stations: report keys, nulls for short records, skill over persistence."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from flows.backtest import write_outputs
from forecasting import qc
from forecasting.backtest import METRIC_KEYS, run_backtest, score_lead, split_station
from forecasting.models.calibration import FINE_LEVELS
from forecasting.models.lgbm import LGBMParams
from forecasting.sources import get_adapter
from forecasting.store import build_dataset

pytestmark = pytest.mark.excerpt  # runs on tests/fixtures/real_excerpt where ../shared is absent

SUMMARY_KEYS = {
    "median_nse",
    "median_nse_persistence",
    "median_skill_vs_persistence",
    "median_crpss_vs_persistence",
    "median_coverage_90",
    "median_csi_warning",
}


def test_split_needs_test_years_plus_two():
    idx = pd.date_range("1990-01-01", "2000-12-31")
    sp = split_station(pd.Series(1.0, index=idx), 5)
    assert sp.test_start == pd.Timestamp("1996-01-01") and sp.test_end == pd.Timestamp("2000-12-31")
    assert sp.train_end == pd.Timestamp("1995-12-31")
    short = split_station(pd.Series(1.0, index=pd.date_range("1965-01-01", "1967-09-15")), 5)
    assert short.reason and "shorter" in short.reason


def test_score_lead_perfect_and_persistence_forecasts():
    rng = np.random.default_rng(3)
    obs = rng.gamma(2, 10, 400)
    base = np.roll(obs, 1)
    perfect = np.repeat(obs[:, None], len(FINE_LEVELS), axis=1)
    s = score_lead(obs, base, perfect, FINE_LEVELS, threshold=float(np.quantile(obs, 0.9)))
    assert set(METRIC_KEYS) <= set(s)
    assert s["nse"] == pytest.approx(1.0) and s["skill_vs_persistence"] == pytest.approx(1.0)
    assert s["crps"] == pytest.approx(0.0) and s["pod_warning"] == 1.0 and s["far_warning"] == 0.0
    pers = np.repeat(base[:, None], len(FINE_LEVELS), axis=1)
    p = score_lead(obs, base, pers, FINE_LEVELS, threshold=None)
    assert p["skill_vs_persistence"] == pytest.approx(0.0) and p["crpss_vs_persistence"] == pytest.approx(0.0)
    assert p["pod_warning"] is None  # no threshold: null, not omitted
    assert "pod_warning" in p


@pytest.mark.slow
@pytest.mark.fulldata
def test_backtest_on_two_real_stations(real_data, tmp_path):
    ds, _ = build_dataset(get_adapter("station-csv").read(real_data))
    ds = qc.run_qc(ds).sel(
        station=["PROTVA_SZ", "CH2426", "UZ16279_chatkal_khudaydod"], time=slice("1956-01-01", "2005-12-31")
    )
    ds = ds.sel(time=slice("1988-01-01", "2005-12-31"))  # keeps the test fast: 16 training years for Protva
    params = LGBMParams(n_estimators=120, learning_rate=0.08, cal_years=4)
    report, series = run_backtest(ds, test_years=2, leads=[1, 3, 7], params=params, data_label="real")
    json.dumps(report)  # strict JSON-serialisable
    assert report["test_years"] == 2 and report["leads"] == [1, 3, 7]
    protva = report["stations"]["PROTVA_SZ"]
    assert protva["test_start"] == "2004-01-01" and protva["test_end"] == "2005-12-31"
    assert protva["n_issues"] == 731
    for k in ("1", "3", "7"):
        assert set(METRIC_KEYS) <= set(protva["leads"][k])
        assert protva["leads"][k]["skill_vs_persistence"] > 0
        assert protva["leads"][k]["crpss_vs_persistence"] > 0
    assert protva["leads"]["7"]["nse"] > protva["leads"]["7"]["nse_persistence"]
    # two basins: averaged with the global model, with a weight and spread fitted on the shared held-out years
    pair = protva["global_model_weight"]["plain"]
    assert set(pair) == {"1", "3", "7"} and all(p["fitted"] for p in pair.values())
    assert all(0.0 <= p["weight"] <= 1.0 and 0.6 <= p["spread"] <= 1.4 for p in pair.values())
    swiss = report["stations"]["CH2426"]  # record ends in 2005 here (time slice): test 2004-2005
    assert swiss["leads"]["1"]["skill_vs_persistence"] > 0
    chatkal = report["stations"]["UZ16279_chatkal_khudaydod"]
    assert chatkal["reason"] and chatkal["leads"]["1"]["nse"] is None and chatkal["n_issues"] == 0
    assert set(report["summary"]["1"]) >= SUMMARY_KEYS
    assert "change" in report["sigma"]
    assert set(series) == {"PROTVA_SZ", "CH2426"}
    # calibration: the share of observations below each quantile rises with the level and is near it
    for k in ("1", "3", "7"):
        rel = protva["leads"][k]["reliability"]
        shares = [rel[t] for t in ("0.05", "0.1", "0.25", "0.5", "0.75", "0.9", "0.95")]
        assert shares == sorted(shares) and shares[0] < 0.25 and shares[-1] > 0.75
        assert rel["0.95"] - rel["0.05"] == pytest.approx(protva["leads"][k]["coverage_90"], abs=0.01)
    assert report["summary"]["1"]["median_reliability"]["0.5"] is not None

    write_outputs(report, series, tmp_path / "bt" / "report.json")
    written = json.loads((tmp_path / "bt" / "report.json").read_text())
    assert written["stations"]["PROTVA_SZ"]["n_issues"] == 731
    md = (tmp_path / "bt" / "report.md").read_text()
    assert "## Calibration" in md and "| 7 |" in md and "UZ16279_chatkal_khudaydod" in md
    pngs = sorted(p.name for p in (tmp_path / "bt" / "report_plots").glob("*.png"))
    assert pngs == ["CH2426.png", "PROTVA_SZ.png", "calibration.png"]
    assert all((tmp_path / "bt" / "report_plots" / n).stat().st_size > 10_000 for n in pngs)


@pytest.mark.slow
@pytest.mark.fulldata
def test_snow_ablation_reports_with_and_without_snow(real_data):
    ds, _ = build_dataset(get_adapter("station-csv").read(real_data))
    ds = qc.run_qc(ds).sel(station=["PROTVA_SZ", "CH2426"], time=slice("1994-01-01", "2005-12-31"))
    params = LGBMParams(n_estimators=80, learning_rate=0.1, cal_years=3)
    report, _ = run_backtest(ds, test_years=2, leads=[1, 7], params=params, snow_ablation=True)
    json.dumps(report)
    assert set(report["snow_ablation"]) == {"PROTVA_SZ", "CH2426"}
    assert "measured SWE" in report["snow_ablation_inputs"]["CH2426"]
    assert "measured SWE" not in report["snow_ablation_inputs"]["PROTVA_SZ"]
    assert "degree-day" in report["snow_ablation_inputs"]["PROTVA_SZ"]
    for sid in ("PROTVA_SZ", "CH2426"):
        for k in ("1", "7"):
            row = report["snow_ablation"][sid][k]
            assert row["skill_with_snow"] == report["stations"][sid]["leads"][k]["skill_vs_persistence"]
            assert row["skill_without_snow"] is not None and row["nse_without"] is not None
    # the snow-free run is a different model (no snow features), so its scores differ
    assert (
        report["snow_ablation"]["PROTVA_SZ"]["7"]["nse_with"]
        != report["snow_ablation"]["PROTVA_SZ"]["7"]["nse_without"]
    )
    assert set(report["summary"]["1"]) >= SUMMARY_KEYS  # the report keys are unchanged


def test_flood_event_forecast_uses_the_service_alert_rule():
    """A forecast event is P(Q > T) >= 0.3 with P as the risk module computes it (the rule the dashboard alerts
    on), including thresholds beyond the highest quantile (exponential tail)."""
    levels = (0.05, 0.25, 0.5, 0.75, 0.95)
    # one forecast whose 0.95 quantile is 100 m3/s: P(Q > 100) = 0.05 -> no event for T = 100
    # another whose 0.75 quantile is 100 and 0.5 quantile 80: P(Q > 90) is between 0.25 and 0.5 -> event for T = 90
    low = np.array([20.0, 40.0, 60.0, 80.0, 100.0])
    high = np.array([40.0, 60.0, 80.0, 100.0, 150.0])
    q = np.array([low] * 10 + [high] * 10)
    obs = np.array([95.0] * 20)  # every day is an event (T = 90)
    base = np.full(20, 50.0)
    s = score_lead(obs, base, q, levels, threshold=90.0)
    assert s["n_events"] == 20
    assert s["pod_warning"] == pytest.approx(0.5)  # the ten "high" forecasts give P(Q > 90) ~ 0.38 -> hits
    assert s["far_warning"] == pytest.approx(0.0)
    assert s["csi_warning"] == pytest.approx(0.5)
    # T = 95.8 between the 0.5 (80) and 0.75 (100) quantiles: interpolated in log discharge, P(Q > 95.8) = 0.298,
    # just under 0.3 -> no event (the 0.7 quantile interpolated linearly, 96, would have called one)
    s = score_lead(np.full(20, 97.0), base, q, levels, threshold=95.8)
    assert s["pod_warning"] == pytest.approx(0.0)
