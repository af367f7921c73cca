"""Spring flood outlook: degree-day store, regression, cross-validation, the real Protva and Swiss basins, flow/API."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.outlook import (
    ALLOWABLE,
    OutlookConfig,
    basin_outlook,
    cross_validate,
    degree_day_swe,
    homogenise_precip,
    ridge_fit,
    score,
    yearly_table,
)


def real_frame(real_data: Path, sid: str) -> pd.DataFrame:
    df = pd.read_csv(real_data / f"{sid}.csv", parse_dates=["date"], index_col="date")
    t = df["tmean_c"] if "tmean_c" in df else (df["tmin_c"] + df["tmax_c"]) / 2
    return pd.DataFrame({"q": df["discharge_m3s"], "p": df["precip_mm"], "t": t, "swe": df["swe_mm"]})


def synthetic_basin(years: int = 30, seed: int = 1) -> pd.DataFrame:
    """A snowmelt basin: winters of random snowiness; discharge = base flow + melt and rain through a reservoir."""
    rng = np.random.default_rng(seed)
    idx = pd.date_range("1970-09-01", f"{1970 + years}-08-31", freq="D")
    doy = idx.day_of_year.to_numpy()
    t = -12 * np.cos(2 * np.pi * (doy - 20) / 365.25) + 2 + rng.normal(0, 3, len(idx))
    hydro_year = np.where(idx.month >= 9, idx.year - 1970, idx.year - 1971)
    snowy = rng.uniform(0.3, 2.0, years + 1)[hydro_year]  # snowiness of each winter
    autumn_rain = rng.uniform(0.2, 4.0, years + 1)[hydro_year]  # autumn rain, gone before the spring
    p = rng.gamma(0.6, 3.0, len(idx)) * np.where(t < 1, snowy, np.where(idx.month >= 9, autumn_rain, 1.0))
    swe = degree_day_swe(p, t, np.array([[1.0, 0.0, 3.0]]), (idx.month == 9) & (idx.day == 1))[:, 0]
    melt = np.maximum(np.concatenate([[0.0], swe[:-1]]) + np.where(t < 1, p, 0) - swe, 0)
    inflow = melt + np.where(t >= 1, p, 0)
    q = np.empty(len(idx))
    s = 50.0
    for i, x in enumerate(inflow):  # linear reservoir, mm -> m3/s for a 1000 km2 basin
        s += x
        out = 0.05 * s
        s -= out
        q[i] = out * 1000 * 1e3 / 86400
    return pd.DataFrame({"q": q, "p": p, "t": t, "swe": np.nan}, index=idx)


def test_degree_day_store_accumulates_melts_and_never_goes_negative() -> None:
    p = np.array([10.0] * 10 + [0.0] * 10 + [5.0])
    t = np.array([-5.0] * 10 + [5.0] * 10 + [-1.0])
    out = degree_day_swe(p, t, np.array([[0.0, 0.0, 2.0], [0.0, 0.0, 5.0]]))
    assert out[9].tolist() == [100.0, 100.0]
    assert out[14].tolist() == [50.0, 0.0]  # 2 mm/degC/day * 5 degC * 5 days; the fast one is empty
    assert out[19].tolist() == [0.0, 0.0]
    assert out[20].tolist() == [5.0, 5.0]
    assert (out >= 0).all()
    reset = np.zeros(21, bool)
    reset[5] = True
    assert degree_day_swe(p, t, np.array([[0.0, 0.0, 2.0]]), reset)[9, 0] == 50.0


def test_ridge_loo_residuals_equal_refitting_without_each_year() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(25, 3))
    y = x @ np.array([2.0, -1.0, 0.5]) + rng.normal(0, 0.3, 25)
    fit = ridge_fit(x, y, alpha=0.0)
    for i in (0, 7, 24):
        keep = np.arange(25) != i
        f = ridge_fit(x[keep], y[keep], alpha=0.0)
        f.xmin = f.xmax = None  # the shortcut is for the linear prediction, without the range clipping
        assert y[i] - f.predict(x[i])[0] == pytest.approx(fit.loo_residuals[i], rel=1e-8)
    # new predictors far outside the training range are clipped to it (+10%): no wild extrapolation
    far = fit.predict(np.array([[100.0, 0.0, 0.0]]))[0]
    edge = fit.predict(np.array([[x[:, 0].max() + 0.1 * np.ptp(x[:, 0]), 0.0, 0.0]]))[0]
    assert far == pytest.approx(edge)


def test_score_central_asian_criterion() -> None:
    obs = np.array([10.0, 12.0, 14.0, 16.0, 18.0])
    sigma = np.std(obs, ddof=1)
    pred = obs + np.array([0.0, 0.5, -2.5, 0.6 * sigma, -1.0])
    rows = [(2000 + i, o, f, o - 1, o + 1, 14.0) for i, (o, f) in enumerate(zip(obs, pred, strict=True))]
    s = score(rows)
    assert s["accuracy_p"] == pytest.approx(np.mean(np.abs(pred - obs) <= ALLOWABLE * sigma))
    assert s["accuracy_p"] == 0.8  # only the error of 2.5 exceeds 0.674 sigma = 2.13
    mse = np.mean((pred - obs) ** 2)
    assert s["skill_vs_norm"] == pytest.approx(1 - mse / np.mean((14.0 - obs) ** 2))


def test_step_change_in_precipitation_is_found_and_removed() -> None:
    idx = pd.date_range("1960-01-01", "1999-12-31", freq="D")
    rng = np.random.default_rng(0)
    p = rng.gamma(0.5, 2.0, len(idx))
    p[idx.year < 1979] *= 0.4
    frame = pd.DataFrame({"q": 1.0, "p": p, "t": 0.0, "swe": np.nan}, index=idx)
    out, msg = homogenise_precip(frame)
    assert msg and "1979" in msg
    annual = out["p"].groupby(idx.year).sum()
    assert annual[annual.index < 1979].mean() == pytest.approx(annual[annual.index >= 1979].mean(), rel=1e-9)
    same, none = homogenise_precip(out)
    assert none is None and same is out
    # the flows honour a basin's config: homogenised once (and not again per year table), or not at all
    from dataclasses import replace

    from flows.outlook import homogenised
    from forecasting.outlook import OutlookConfig

    once, note, cfg = homogenised(frame, None)
    assert "1979" in note and not cfg.homogenise and once["p"].equals(out["p"])
    kept, note, cfg = homogenised(frame, replace(OutlookConfig(), homogenise=False))
    assert kept is frame and note == "" and not cfg.homogenise


def test_synthetic_snowmelt_basin_is_forecast_from_its_snow() -> None:
    frame = synthetic_basin()
    cfg = OutlookConfig(dd_grid=((0.0, 0.0, 2.0), (1.0, 0.0, 3.0), (2.0, 1.0, 5.0)))
    table = yearly_table(frame, "03-01", cfg)
    cv = cross_validate(table, cfg, "degree-day")
    vol = cv["targets"]["volume"]
    assert vol["n"] >= 28
    assert vol["skill_vs_norm"] > 0.6
    assert vol["accuracy_p"] > 0.75
    none = cross_validate(table, cfg, "none")["targets"]["volume"]
    # autumn-winter precipitation alone knows part of the snow; the snow store halves the remaining error
    assert 1 - vol["skill_vs_norm"] < 0.5 * (1 - none["skill_vs_norm"])


@pytest.mark.realdata
def test_protva_outlook_on_1_march_has_skill_from_estimated_snow(real_data: Path) -> None:
    frame, note = homogenise_precip(real_frame(real_data, "PROTVA_SZ"))
    assert note and "1979" in note  # ERA5 precipitation before 1979 is about 2.4 times lower
    cfg = OutlookConfig()
    table = yearly_table(frame, "03-01", cfg)
    cv = cross_validate(table, cfg)
    assert cv["snow"] == "degree-day"
    vol = cv["targets"]["volume"]
    assert vol["n"] >= 45
    assert vol["skill_vs_norm"] > 0.0
    assert vol["accuracy_p"] > vol["accuracy_p_norm"]
    assert 0.6 <= vol["coverage_80"] <= 0.95


@pytest.mark.realdata
def test_swiss_measured_swe_is_used_when_enough_years(real_data: Path) -> None:
    frame = real_frame(real_data, "CH2185")
    cfg = OutlookConfig()
    table = yearly_table(frame, "03-01", cfg)
    assert table["swe_meas"].notna().sum() == 22  # SLF SWE from the winter 1998-99
    cv = cross_validate(table, cfg)
    assert cv["snow"] == "hybrid"
    assert cv["targets"]["volume"]["skill_vs_norm"] > 0.3


@pytest.mark.realdata
def test_basin_outlook_product(real_data: Path) -> None:
    frame = real_frame(real_data, "PROTVA_SZ")
    out = basin_outlook(frame, "2004-03-01", area_km2=3886.0, basin_id="PROTVA_SZ")
    assert out["status"] == "ok"
    vol, peak = out["volume"], out["peak"]
    assert vol["low"] <= vol["value"] <= vol["high"]
    assert vol["value_mm"] == pytest.approx(1000 * vol["value"] / 3886.0)
    assert vol["pct_of_norm"] == pytest.approx(100 * vol["value"] / vol["norm"])
    assert peak["low"] < peak["value"] < peak["high"]
    assert re.fullmatch(
        r"spring flood volume expected at \d+% of normal \(\d+-\d+%\), peak [\d.]+-[\d.]+ m3/s \(\d+% of normal\)",
        out["text"],
    )
    assert out["training_years"][1] == 2003
    clim = out["swe_climatology"]
    assert clim["source"] == "degree-day" and clim["days"][0]["date"] == "2003-10-01"
    feb = next(d for d in clim["days"] if d["date"] == "2004-02-15")
    assert feb["p10"] <= feb["median"] <= feb["p90"] and feb["current"] is not None
    assert next(d for d in clim["days"] if d["date"] == "2004-03-10")["current"] is None  # after the issue date


@pytest.mark.realdata
def test_outlook_does_not_look_past_the_issue_date(real_data: Path) -> None:
    frame = real_frame(real_data, "PROTVA_SZ")
    a = basin_outlook(frame, "2004-03-01", basin_id="P")
    changed = frame.copy()
    changed.loc["2004-03-01":, "q"] *= 10  # the future must not matter
    changed.loc["2004-03-01":, "p"] = 0.0
    b = basin_outlook(changed, "2004-03-01", basin_id="P")
    assert a["volume"] == b["volume"] and a["peak"] == b["peak"]


@pytest.mark.realdata
@pytest.mark.slow
def test_flow_cli_and_api(real_data: Path, tmp_path: Path, home) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from flows.outlook import run_outlook
    from records.accounts import ANONYMOUS
    from service.auth import require_read
    from service.deps import get_settings
    from service.routers.outlook import router
    from service.settings import Settings

    data = tmp_path / "data"
    (data / "basins").mkdir(parents=True)
    for name in ("PROTVA_SZ.csv", "CH2232.csv"):
        shutil.copy(real_data / name, data / name)
    reg = pd.read_csv(real_data / "stations.csv")
    reg[reg["station_id"].isin(["PROTVA_SZ", "CH2232"])].to_csv(data / "stations.csv", index=False)
    shutil.copy(real_data / "basins" / "PROTVA_SZ.geojson", data / "basins" / "PROTVA_SZ.geojson")

    path, doc = run_outlook("2003-03-01", home, data)
    assert path == home.root / "outlooks" / "2003-03-01.json"
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert set(saved["basins"]) == {"PROTVA_SZ", "CH2232"}
    p = saved["basins"]["PROTVA_SZ"]
    assert p["status"] == "ok" and p["area_source"] == "basin polygon (geodesic)"
    assert p["area_km2"] == pytest.approx(3886, rel=0.02)
    assert saved["basins"]["CH2232"]["area_km2"] == pytest.approx(28.8)
    assert not list(path.parent.glob(".*.tmp"))

    app = FastAPI()
    app.include_router(router)
    app.dependency_overrides[get_settings] = lambda: Settings.from_env(home)
    app.dependency_overrides[require_read] = lambda: ANONYMOUS
    client = TestClient(app)
    r = client.get("/api/v1/basins/PROTVA_SZ/outlook")
    assert r.status_code == 200
    body = r.json()
    assert body["issue_date"] == "2003-03-01" and body["text"].startswith("spring flood volume expected at")
    assert body["swe_climatology"]["days"]
    assert client.get("/api/v1/basins/NOPE/outlook").status_code == 404
    assert client.get("/api/v1/basins/PROTVA_SZ/outlook?issue_date=2002-01-01").status_code == 404
