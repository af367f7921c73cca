"""The spring flood outlook flow: read the store, compute every basin's outlook, write it atomically.

Output: `<home>/outlooks/<issue_date>.json` = {"issue_date", "created_at", "data", "messages", "basins": {id: ..}},
each basin as `forecasting.outlook.basin_outlook` returns it. Per-basin settings (flood season etc.) may be given
in `<home>/outlooks/config.json` as {"<basin_id>": {"season_start": "04-01", "season_end": "06-30"}, ...}.
Basin areas missing from the station registry are taken from polygons in `<home>/basins/*.geojson`
(or `<data>/basins/` with --data).
"""

from __future__ import annotations

import json
import math
from dataclasses import fields, replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import xarray as xr
from prefect import flow, get_run_logger

from forecasting import qc
from forecasting.basins import BasinFileError, read_basins
from forecasting.config import local_today
from forecasting.home import Home
from forecasting.outlook import OutlookConfig, basin_frame, basin_outlook, basins_of, homogenise_precip
from forecasting.storage import json_safe, open_store, write_json_atomic


def outlooks_dir(home: Home) -> Path:
    return home.root / "outlooks"


def homogenised(frame: pd.DataFrame, config: OutlookConfig | None) -> tuple[pd.DataFrame, str, OutlookConfig]:
    """The basin frame with its precipitation homogenised if the basin's config asks for it (the default), the
    note saying so, and the config to pass on (homogenise off: done here once, not again per year table)."""
    cfg = config or OutlookConfig()
    if not cfg.homogenise:
        return frame, "", cfg
    frame, note = homogenise_precip(frame)
    return frame, note, replace(cfg, homogenise=False)


def load_configs(path: Path) -> dict[str, OutlookConfig]:
    """Per-basin OutlookConfig from a JSON file {basin_id: {field: value}}; unknown fields raise ValueError."""
    if not Path(path).exists():
        return {}
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    names = {f.name for f in fields(OutlookConfig)}
    out = {}
    for bid, opts in raw.items():
        bad = set(opts) - names
        if bad:
            raise ValueError(f"{path}: basin '{bid}': unknown outlook settings {sorted(bad)}")
        out[str(bid)] = replace(OutlookConfig(), **opts)
    return out


def read_data_folder(folder: Path) -> xr.Dataset:
    """A station-CSV folder as a QC'd canonical dataset (for `tasqyn outlook --data DIR`)."""
    from forecasting.sources import get_adapter
    from forecasting.store import build_dataset

    result = get_adapter("station-csv").read(Path(folder))
    ds, _ = build_dataset(result)
    return qc.run_qc(ds)


def compute_outlooks(
    ds: xr.Dataset,
    issue_date: str,
    configs: dict[str, OutlookConfig] | None = None,
    polygons: Path | None = None,
) -> dict[str, object]:
    """Outlooks of every basin of `ds` for `issue_date` (only data before the issue date is used)."""
    configs = configs or {}
    messages: list[str] = []
    areas: dict[str, float] = {}
    if polygons is not None and Path(polygons).exists():
        try:
            areas = {bid: b.area_km2 for bid, b in read_basins(Path(polygons)).items()}
        except BasinFileError as exc:
            messages.append(str(exc))
    ds = qc.usable(ds)
    meta_area = dict(
        zip(
            (str(s) for s in ds["station"].values),
            ds["area_km2"].values if "area_km2" in ds.coords else [math.nan] * ds.sizes["station"],
            strict=True,
        )
    )
    issue = pd.Timestamp(issue_date)
    basins: dict[str, object] = {}
    for bid, (outlet, members) in basins_of(ds).items():
        frame = basin_frame(ds, members, outlet)
        frame = frame.loc[: issue - pd.Timedelta(days=1)]
        frame, note, cfg = homogenised(frame, configs.get(bid))
        area = meta_area.get(outlet)
        area_source = "station registry"
        if area is None or not math.isfinite(area):
            area = areas.get(bid) or areas.get(outlet)
            area_source = "basin polygon (geodesic)" if area else None
        res = basin_outlook(frame, issue, cfg, area, bid)
        res["outlet_station"] = outlet
        res["area_source"] = area_source
        if note:
            res["notes"] = [note]
        basins[bid] = res
        if res.get("status") != "ok":
            messages.append(f"{bid}: {res.get('message')}")
    return {
        "issue_date": issue.date().isoformat(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "basins": basins,
        "messages": messages,
    }


def run_outlook(
    issue_date: str | None = None, home: Home | None = None, data: Path | None = None, out: Path | None = None
) -> tuple[Path, dict[str, object]]:
    """Compute and write the outlook (plain function; the flow and the CLI call it). Returns (path, document).

    Reads the home's store, or the station-CSV folder `data` when given; writes `out` (default
    `<home>/outlooks/<issue_date>.json`).
    """
    home = home or Home.from_env()
    issue_date = issue_date or local_today().isoformat()
    pd.Timestamp(issue_date)  # validates
    if data is not None:
        ds = read_data_folder(Path(data))
        polygons = Path(data) / "basins"
        source = str(data)
    else:
        ds = open_store(home.observations)
        if ds is None:
            raise FileNotFoundError(f"the store {home.observations} is empty; run 'tasqyn ingest' first")
        polygons = home.root / "basins"
        source = str(home.observations)
    configs = load_configs(outlooks_dir(home) / "config.json")
    doc = compute_outlooks(ds, issue_date, configs, polygons)
    doc["data"] = source
    path = Path(out) if out else outlooks_dir(home) / f"{issue_date}.json"
    doc = json_safe(doc)  # returned as written: NaN as None
    write_json_atomic(doc, path)
    return path, doc


@flow(name="spring-outlook")
def outlook_flow(issue_date: str | None = None, home: str | None = None) -> str:
    """Deployment `spring-outlook` (1 Feb, 1 Mar, weekly in spring): outlooks of every basin for `issue_date`
    (default: today in Asia/Almaty). Returns the path of the written JSON."""
    logger = get_run_logger()
    path, doc = run_outlook(issue_date, Home.from_env(home))
    ok = sum(1 for b in doc["basins"].values() if b.get("status") == "ok")
    logger.info("outlook %s: %d of %d basins -> %s", doc["issue_date"], ok, len(doc["basins"]), path)
    for m in doc["messages"]:
        logger.warning(m)
    return str(path)


def run_evaluation(
    data: Path | None = None,
    home: Home | None = None,
    issue_days: tuple[str, ...] = ("02-01", "03-01"),
    out: Path | None = None,
) -> tuple[Path, dict[str, object]]:
    """Leave-one-year-out skill of the outlook for every basin and issue day (MM-DD), per snow variant.

    Writes a JSON report (default `<home>/outlooks/cv_report.json`): {basin: {issue day: evaluate_basin(...)}}
    without the per-year predictions, plus a `summary` of the default variant.
    """
    from forecasting.outlook import evaluate_basin

    home = home or Home.from_env()
    ds = read_data_folder(Path(data)) if data is not None else open_store(home.observations)
    if ds is None:
        raise FileNotFoundError(f"the store {home.observations} is empty; run 'tasqyn ingest' first")
    ds = qc.usable(ds)
    configs = load_configs(outlooks_dir(home) / "config.json")
    report: dict[str, object] = {"data": str(data or home.observations), "issue_days": list(issue_days), "basins": {}}
    summary = []
    for bid, (outlet, members) in basins_of(ds).items():
        frame, note, cfg = homogenised(basin_frame(ds, members, outlet), configs.get(bid))
        per: dict[str, object] = {"notes": [note] if note else []}
        for md in issue_days:
            ev = evaluate_basin(frame, md, cfg)
            for cv in ev["variants"].values():
                for m in cv["targets"].values():
                    m.pop("per_year", None)
            per[md] = ev
            default = next(iter(ev["variants"].values()))
            if default["n_years"] >= 3:
                vol, peak = default["targets"]["volume"], default["targets"]["peak"]
                summary.append(
                    {
                        "basin": bid,
                        "issue": md,
                        "snow": default["snow"],
                        "n": vol.get("n"),
                        "volume_accuracy_p": vol.get("accuracy_p"),
                        "volume_skill_vs_norm": vol.get("skill_vs_norm"),
                        "peak_accuracy_p": peak.get("accuracy_p"),
                        "peak_skill_vs_norm": peak.get("skill_vs_norm"),
                    }
                )
        report["basins"][bid] = per
    report["summary"] = summary
    path = Path(out) if out else outlooks_dir(home) / "cv_report.json"
    report = json_safe(report)
    write_json_atomic(report, path)
    return path, report
