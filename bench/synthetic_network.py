"""A synthetic national network for benchmarks: the real stations replicated to N gauges (default 1,000).

    .venv/bin/python bench/synthetic_network.py OUT_DIR [--stations 1000] [--end-year 2024] [--max-years 40]
        [--seed 16] [--data ../shared/data/real] [--min-years 10] [--workers 2]

Writes a station-CSV folder (`stations.csv` + one `<station_id>.csv` per gauge) and prints what it wrote and how
long it took. How a gauge is made from a real one (a "template": every real station with at least `--min-years`
years of discharge; the 2.7-year Chatkal record is left out by default):

- Stations come in basins of 5-10 gauges. A basin takes one template and one shift of its dates by a whole number
  of years, a multiple of 4, so that every season stays where it was (snowmelt in spring, not shifted by days) and
  29 February stays a leap day. The shift maps the template's last used year onto `--end-year`, so every gauge's
  record ends on 31 December of that year (the network's issue day is then the same for all). Records have
  different lengths: the last 0, 4, 8, ... years of a template are dropped, and at most `--max-years` are kept.
- Each gauge of a basin differs from its neighbours as gauges on one river system do: discharge (m3/s) and the
  catchment area times a size factor (log-normal, sigma 0.6), precipitation and SWE (mm) times a factor (log-normal,
  sigma 0.15), air temperature (degC) plus an offset (normal, sigma 1 degC, as from elevation), water level (cm)
  plus an offset (uniform -300..300 cm); on top, day-to-day multiplicative noise on discharge (log-normal, sigma 0.03)
  and precipitation (sigma 0.05) and additive noise on temperature (sigma 0.2 degC). Missing values stay missing.
- Coordinates: each basin has a centre drawn inside Kazakhstan (the union of the 8 water-management basins of
  ../shared/data/kz, else a bounding box), its gauges within about 0.3 degree of it. Ids `SYN0001`...,
  basin ids `SB001`..., country KZ.

Dates are local days; the files use the units of the station-CSV format (see ../shared/data/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("TASQYN_REAL_DATA", ROOT.parent / "shared" / "data" / "real"))
KZ_LAYER = DEFAULT_DATA.parent / "kz" / "water_management_basins.geojson"
KZ_BBOX = (46.5, 40.6, 87.3, 55.4)  # lon_min, lat_min, lon_max, lat_max
VARIABLES = ("discharge_m3s", "water_level_cm", "precip_mm", "tmin_c", "tmax_c", "tmean_c", "swe_mm", "snow_depth_cm")
SIZE_SIGMA, PRECIP_SIGMA, TEMP_SIGMA, LEVEL_OFFSET_CM = 0.6, 0.15, 1.0, 300.0
Q_NOISE, P_NOISE, T_NOISE = 0.03, 0.05, 0.2
DECIMALS = {"discharge_m3s": 4, "water_level_cm": 1, "precip_mm": 2, "swe_mm": 1, "snow_depth_cm": 1}


@dataclass
class Template:
    """A real station's record as arrays (one row per day, complete daily index)."""

    station_id: str
    river: str
    area_km2: float
    years: np.ndarray  # int, per day
    dates: np.ndarray  # "-MM-DD" strings, per day (the year is added when shifted)
    values: dict[str, np.ndarray]  # variable -> float64 per day


def load_templates(data: Path, min_years: float) -> list[Template]:
    """The real stations with at least `min_years` years of discharge, read once."""
    meta = pd.read_csv(data / "stations.csv", dtype={"station_id": str})
    out = []
    for row in meta.itertuples(index=False):
        df = pd.read_csv(data / f"{row.station_id}.csv", dtype={"date": str})
        days = pd.to_datetime(df["date"])
        full = pd.date_range(days.iloc[0], days.iloc[-1], freq="D")
        df = df.set_index(days).reindex(full)
        q = df.get("discharge_m3s")
        if q is None or q.notna().sum() < min_years * 365:
            continue
        iso = full.strftime("%Y-%m-%d").to_numpy(dtype=str)
        area = float(row.area_km2) if pd.notna(row.area_km2) else 1000.0
        out.append(
            Template(
                station_id=str(row.station_id),
                river=str(row.river),
                area_km2=area,
                years=full.year.to_numpy(),
                dates=np.array([d[4:] for d in iso]),  # "-MM-DD"
                values={v: df[v].to_numpy(dtype="float64") for v in VARIABLES if v in df.columns},
            )
        )
    if not out:
        raise SystemExit(f"no station in {data} has {min_years} years of discharge")
    return out


def kazakhstan_sampler(rng: np.random.Generator):
    """A function n -> (lon, lat) arrays of points inside Kazakhstan (the water-management basins' union)."""
    try:
        import shapely
        from shapely.geometry import shape

        with open(KZ_LAYER, encoding="utf-8") as fh:
            feats = json.load(fh)["features"]
        area = shapely.union_all([shape(f["geometry"]) for f in feats])
        lon0, lat0, lon1, lat1 = area.bounds
    except (OSError, ImportError, KeyError, ValueError):
        area = None
        lon0, lat0, lon1, lat1 = KZ_BBOX

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        lons, lats = np.empty(0), np.empty(0)
        while len(lons) < n:
            x = rng.uniform(lon0, lon1, 4 * n)
            y = rng.uniform(lat0, lat1, 4 * n)
            if area is not None:
                inside = shapely.contains_xy(area, x, y)
                x, y = x[inside], y[inside]
            lons, lats = np.concatenate([lons, x]), np.concatenate([lats, y])
        return lons[:n], lats[:n]

    return sample


def plan_network(templates: list[Template], n: int, end_year: int, max_years: int, rng: np.random.Generator):
    """Basins of 5-10 gauges, each with a template, a whole-year shift (multiple of 4) and a record window."""
    sizes: list[int] = []
    while sum(sizes) < n:
        sizes.append(int(rng.integers(5, 11)))
    sizes[-1] -= sum(sizes) - n
    if sizes[-1] < 1:
        sizes.pop()
    basins = []
    for b, size in enumerate(sizes):
        t = b % len(templates)
        tpl = templates[t]
        last_full = int(tpl.years.max()) if tpl.dates[-1] == "-12-31" else int(tpl.years.max()) - 1
        # the template's last used year y maps onto end_year: the shift end_year - y must be a multiple of 4
        y_last = last_full - ((last_full - end_year) % 4)
        n_years = y_last - int(tpl.years.min()) + 1
        drop = 4 * int(rng.integers(0, max(1, min(4, (n_years - 8) // 4 + 1))))  # keep at least ~8 years
        y_last -= drop
        y_first = max(int(tpl.years.min()), y_last - max_years + 1)
        basins.append(
            {
                "basin": f"SB{b + 1:03d}",
                "template": t,
                "shift": end_year - y_last,
                "years": (y_first, y_last),
                "size": size,
            }
        )
    return basins


def make_station(tpl: Template, shift: int, years: tuple[int, int], seed: int) -> tuple[pd.DataFrame, dict]:
    """One synthetic gauge from a template: its daily table and its factors."""
    rng = np.random.default_rng(seed)
    f = station_factors(rng)
    size, pfac, toff, loff = f["size"], f["precip_factor"], f["temp_offset_c"], f["level_offset_cm"]
    sel = (tpl.years >= years[0]) & (tpl.years <= years[1])
    n = int(sel.sum())
    new_years = (tpl.years[sel] + shift).astype(str)
    cols: dict[str, np.ndarray] = {"date": np.char.add(new_years, tpl.dates[sel])}
    for var, v in tpl.values.items():
        x = v[sel]
        if var == "discharge_m3s":
            x = x * size * np.exp(rng.normal(0.0, Q_NOISE, n))
        elif var in ("precip_mm",):
            x = x * pfac * np.exp(rng.normal(0.0, P_NOISE, n))
        elif var in ("swe_mm", "snow_depth_cm"):
            x = x * pfac
        elif var in ("tmin_c", "tmax_c", "tmean_c"):
            x = x + toff + rng.normal(0.0, T_NOISE, n)
        elif var == "water_level_cm":
            x = x + loff
        cols[var] = np.round(x, DECIMALS.get(var, 2))
    if {"tmin_c", "tmax_c"} <= set(cols):  # noise must not put the minimum above the maximum
        lo, hi = np.fmin(cols["tmin_c"], cols["tmax_c"]), np.fmax(cols["tmin_c"], cols["tmax_c"])
        cols["tmin_c"], cols["tmax_c"] = lo, hi
    return pd.DataFrame(cols), f


def station_factors(rng: np.random.Generator) -> dict[str, float]:
    """A gauge's own factors (drawn first from its generator, so the metadata and the series agree)."""
    return {
        "size": float(np.exp(rng.normal(0.0, SIZE_SIGMA))),
        "precip_factor": float(np.exp(rng.normal(0.0, PRECIP_SIGMA))),
        "temp_offset_c": float(rng.normal(0.0, TEMP_SIGMA)),
        "level_offset_cm": float(rng.uniform(-LEVEL_OFFSET_CM, LEVEL_OFFSET_CM)),
    }


def _write_chunk(args: tuple) -> int:
    """Worker: write the CSV files of a list of stations; returns the number of station-days written."""
    data, min_years, out, jobs = args
    templates = {t.station_id: t for t in load_templates(Path(data), min_years)}
    days = 0
    for station_id, tpl_id, shift, years, seed in jobs:
        frame, _ = make_station(templates[tpl_id], shift, years, seed)
        frame.to_csv(Path(out) / f"{station_id}.csv", index=False, na_rep="", lineterminator="\n")
        days += len(frame)
    return days


def write_network(
    out: Path,
    n: int = 1000,
    end_year: int = 2024,
    max_years: int = 40,
    seed: int = 16,
    data: Path = DEFAULT_DATA,
    min_years: float = 10,
    workers: int = 2,
) -> dict:
    """Write the network to `out` (created; an existing station-CSV folder there is replaced); returns a summary."""
    rng = np.random.default_rng(seed)
    templates = load_templates(data, min_years)
    basins = plan_network(templates, n, end_year, max_years, rng)
    sample = kazakhstan_sampler(rng)
    centres = np.column_stack(sample(len(basins)))
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.csv"):
        old.unlink()
    rows, jobs = [], []
    k = 0
    for b, basin in enumerate(basins):
        tpl = templates[basin["template"]]
        for _ in range(basin["size"]):
            k += 1
            sid = f"SYN{k:04d}"
            station_seed = int(rng.integers(0, 2**31 - 1))
            size = station_factors(np.random.default_rng(station_seed))["size"]
            lon, lat = centres[b] + rng.normal(0.0, 0.3, 2)
            rows.append(
                {
                    "station_id": sid,
                    "name": f"{tpl.river} synthetic {k}",
                    "river": f"{tpl.river} ({basin['basin']})",
                    "country": "KZ",
                    "lat": round(float(lat), 4),
                    "lon": round(float(lon), 4),
                    "area_km2": round(tpl.area_km2 * size, 1),
                    "basin": basin["basin"],
                    "template": tpl.station_id,
                    "year_shift": basin["shift"],
                    "period": f"{basin['years'][0] + basin['shift']}-{basin['years'][1] + basin['shift']}",
                }
            )
            jobs.append((sid, tpl.station_id, basin["shift"], basin["years"], station_seed))
    pd.DataFrame(rows).to_csv(out / "stations.csv", index=False, lineterminator="\n")
    workers = max(1, min(workers, len(jobs)))
    chunks = [jobs[i::workers] for i in range(workers)]
    if workers == 1:
        days = _write_chunk((str(data), min_years, str(out), chunks[0]))
    else:
        with ProcessPoolExecutor(workers) as pool:
            days = sum(pool.map(_write_chunk, [(str(data), min_years, str(out), c) for c in chunks]))
    return {
        "stations": len(rows),
        "basins": len(basins),
        "templates": [t.station_id for t in templates],
        "station_days": int(days),
        "bytes": sum(p.stat().st_size for p in out.glob("*.csv")),
        "end_date": f"{end_year}-12-31",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="output folder (station-CSV)")
    parser.add_argument("--stations", type=int, default=1000, help="number of gauges (default 1000)")
    parser.add_argument("--end-year", type=int, default=2024, help="every record ends on 31 December of this year")
    parser.add_argument("--max-years", type=int, default=40, help="longest record kept, years")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="real station-CSV folder (the templates)")
    parser.add_argument("--min-years", type=float, default=10, help="templates need this many years of discharge")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes writing the files")
    args = parser.parse_args()
    t0 = time.perf_counter()
    info = write_network(
        args.out, args.stations, args.end_year, args.max_years, args.seed, args.data, args.min_years, args.workers
    )
    dt = time.perf_counter() - t0
    print(
        f"wrote {info['stations']} stations in {info['basins']} basins to {args.out}: "
        f"{info['station_days']:,} station-days, {info['bytes'] / 1e6:.0f} MB, records ending {info['end_date']}"
    )
    print(f"templates: {', '.join(info['templates'])}")
    print(f"took {dt:.1f} s ({args.workers} processes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
