"""The backtest command: read a station-CSV folder, run the walk-forward backtest, write the report files.

Writes REPORT.json (../shared/ARCHITECTURE.md "Backtest report"), REPORT.md (a short human-readable summary) and
one PNG hydrograph per station of the test period in `<REPORT>_plots/`, with `calibration.png` (the reliability of the
forecast quantiles per lead, each station and their median).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from forecasting.models.lgbm import LGBMParams
from forecasting.storage import write_json_atomic


def parse_leads(text: str) -> list[int]:
    """'1-7' -> [1..7]; '1,3,7' -> [1, 3, 7]."""
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if "-" in part:
            a, b = part.split("-", 1)
            out.extend(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    if not out or min(out) < 1 or max(out) > 10:
        raise ValueError(f"leads must be between 1 and 10 days, got '{text}'")
    return sorted(set(out))


def _fmt(v: float | None, nd: int = 2) -> str:
    return "-" if v is None else f"{v:.{nd}f}"


def summary_markdown(report: dict, seconds: float | None = None) -> str:
    """A short human-readable summary of a backtest report."""
    leads = report["leads"]
    show = [k for k in leads if k in (1, 3, 7)] or leads[:3]
    lines = [
        f"# Backtest of {report['data']}",
        "",
        f"Walk-forward: per station, trained on everything before the last {report['test_years']} years, then one "
        "forecast per day of the test years using only data known that day. Skill vs persistence = 1 - MSE(median)/"
        "MSE(persistence); CRPSS vs persistence; coverage of the 90% interval; POD/FAR/CSI of the 2-year flood "
        f"(training years). {report.get('sigma', '')}.",
        "",
        "| lead | median NSE | NSE persistence | skill vs pers. | CRPSS | coverage 90 | CSI 2-y flood |",
        "|---|---|---|---|---|---|---|",
    ]
    for k in leads:
        s = report["summary"][str(k)]
        lines.append(
            f"| {k} | {_fmt(s['median_nse'])} | {_fmt(s['median_nse_persistence'])} | "
            f"{_fmt(s['median_skill_vs_persistence'])} | {_fmt(s['median_crpss_vs_persistence'])} | "
            f"{_fmt(s['median_coverage_90'])} | {_fmt(s['median_csi_warning'])} |"
        )
    lines += ["", "## Per station (NSE / skill vs persistence / coverage 90 / CRPSS)", ""]
    head = " | ".join(f"lead {k}" for k in show)
    lines += [f"| station | test period | {head} |", "|---|---|" + "---|" * len(show)]
    for sid, st in report["stations"].items():
        if st.get("reason"):
            lines.append(f"| {sid} | - | {st['reason']} |" + " |" * (len(show) - 1))
            continue
        cells = []
        for k in show:
            m = st["leads"][str(k)]
            cells.append(
                f"{_fmt(m['nse'])} / {_fmt(m['skill_vs_persistence'])} / {_fmt(m['coverage_90'])} / "
                f"{_fmt(m['crpss_vs_persistence'])}"
            )
        lines.append(f"| {sid} | {st['test_start']}..{st['test_end']} | " + " | ".join(cells) + " |")
    worst = [
        (sid, k, st["leads"][str(k)]["skill_vs_persistence"])
        for sid, st in report["stations"].items()
        if not st.get("reason")
        for k in leads
        if (st["leads"][str(k)]["skill_vs_persistence"] or 0) < 0
    ]
    lines += ["", f"Stations worse than persistence at some lead: {worst or 'none'}."]
    pb = {k: report["summary"][str(k)].get("median_peak_bias") for k in show}
    lines.append(
        "Peak bias (median over stations of the mean relative error of the median on the top 5% of observed "
        "flows): " + ", ".join(f"lead {k}: {_fmt(v)}" for k, v in pb.items()) + "."
    )
    rel = {k: report["summary"][str(k)].get("median_reliability") or {} for k in leads}
    taus = sorted({t for r in rel.values() for t in r}, key=float)
    if taus:
        lines += [
            "",
            "## Calibration (median over stations of the share of observations at or below each forecast quantile; "
            "ideal = the level)",
            "",
            "| lead | " + " | ".join(f"q{t}" for t in taus) + " |",
            "|---|" + "---|" * len(taus),
        ]
        lines += [f"| {k} | " + " | ".join(_fmt(rel[k].get(t)) for t in taus) + " |" for k in leads]
    if report.get("nwp"):
        lines += [
            "",
            f"## With and without weather forecasts (NWP: {report['nwp']})",
            "",
            "Skill vs persistence with NWP / without NWP, and POD / FAR / CSI of the 2-year flood with NWP.",
            "",
            "| station | lead | skill with NWP | skill without | coverage 90 | POD | FAR | CSI | CSI without |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for sid, st in report["stations"].items():
            if st.get("reason") or not st.get("without_nwp"):
                continue
            for k in leads:
                m, w = st["leads"][str(k)], st["without_nwp"][str(k)]
                lines.append(
                    f"| {sid} | {k} | {_fmt(m['skill_vs_persistence'])} | {_fmt(w['skill_vs_persistence'])} | "
                    f"{_fmt(m['coverage_90'])} | {_fmt(m['pod_warning'])} | {_fmt(m['far_warning'])} | "
                    f"{_fmt(m['csi_warning'])} | {_fmt(w['csi_warning'])} |"
                )
    abl = report.get("snow_ablation") or {}
    if abl:
        lines += [
            "",
            "## What snow buys (skill vs persistence / NSE, with snow inputs -> without)",
            "",
            "| station | snow inputs | " + " | ".join(f"lead {k}" for k in show) + " |",
            "|---|---|" + "---|" * len(show),
        ]
        for sid, by_lead in abl.items():
            cells = [
                f"{_fmt(by_lead[str(k)]['skill_with_snow'])} -> {_fmt(by_lead[str(k)]['skill_without_snow'])} / "
                f"{_fmt(by_lead[str(k)]['nse_with'])} -> {_fmt(by_lead[str(k)]['nse_without'])}"
                for k in show
            ]
            inputs = report.get("snow_ablation_inputs", {}).get(sid, "")
            lines.append(f"| {sid} | {inputs} | " + " | ".join(cells) + " |")
    if seconds is not None:
        lines.append(f"Run time: {seconds:.0f} s.")
    return "\n".join(lines) + "\n"


def run_backtest_files(
    data: str | Path,
    out: str | Path,
    test_years: int = 5,
    leads: list[int] | None = None,
    params: LGBMParams | None = None,
    plots: bool = True,
    progress: Callable[[str], None] | None = None,
    snow: bool = True,
    snow_ablation: bool = False,
    nwp: str = "none",
    nwp_training: str = "degraded",
    nwp_error: str = "archive",
) -> dict:
    """Read `data` (station-CSV folder), backtest, write `out` (JSON), `out` with .md, and the PNG plots.

    `snow=False` backtests without snow inputs; `snow_ablation` adds the with/without-snow comparison for the
    stations that have snow inputs (a second backtest of those). `nwp`: none | archive (the weather forecasts of
    `data`/forecasts/*.csv, nwp-csv layout) | perfect (the observed future weather: an upper bound);
    `nwp_training` and `nwp_error`: see forecasting.backtest.run_backtest."""
    from forecasting import qc
    from forecasting.backtest import run_backtest
    from forecasting.sources import get_adapter
    from forecasting.store import build_dataset

    t0 = time.perf_counter()
    data = Path(data)
    out = Path(out)
    result = get_adapter("station-csv").read(data)
    ds, _ = build_dataset(result)
    ds = qc.run_qc(ds)
    archive = None
    if nwp == "archive":
        from forecasting.forcing import forcing_from_result

        folder = data / "forecasts"
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no archived forecasts (nwp-csv files) for --nwp archive")
        fres = get_adapter("nwp-csv").read(folder)
        for m in fres.messages:
            (progress or (lambda _m: None))(f"note: {m}")
        for q in fres.quarantine[:20]:
            (progress or (lambda _m: None))(f"quarantined: {q.message()}")
        archive = forcing_from_result(fres)
    report, series = run_backtest(
        ds,
        test_years,
        leads,
        params,
        data_label=str(data),
        progress=progress,
        snow=snow,
        snow_ablation=snow_ablation,
        nwp=nwp,
        archive=archive,
        nwp_training=nwp_training,
        nwp_error=nwp_error,
    )
    seconds = time.perf_counter() - t0
    report["run_seconds"] = round(seconds, 1)
    write_outputs(report, series, out, plots, seconds)
    return report


def write_outputs(
    report: dict, series: dict, out: str | Path, plots: bool = True, seconds: float | None = None
) -> None:
    """Write the report `out` (JSON), its summary `out` with .md, and with `plots` the PNG hydrograph of each
    station and calibration.png in `<out stem>_plots/`."""
    out = Path(out)
    write_json_atomic(report, out)
    out.with_suffix(".md").write_text(summary_markdown(report, seconds), encoding="utf-8")
    if plots:
        from forecasting import plots as P

        pdir = out.parent / f"{out.stem}_plots"
        pdir.mkdir(exist_ok=True)
        shown = tuple(k for k in (1, 7) if k in report["leads"]) or (report["leads"][0],)
        for sid, ser in series.items():
            st = report["stations"][sid]
            fig = P.backtest_hydrograph(
                ser,
                sid,
                shown,
                f"{sid}: test {st['test_start']}..{st['test_end']}, "
                + ", ".join(f"lead {k} NSE {_fmt(st['leads'][str(k)]['nse'])}" for k in shown),
            )
            fig.savefig(pdir / f"{sid}.png", dpi=90)
            P.close(fig)
        fig = P.reliability_diagram(report)
        fig.savefig(pdir / "calibration.png", dpi=90)
        P.close(fig)
