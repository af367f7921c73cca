"""The `tasqyn` command line."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import flows  # noqa: F401  (environment: no telemetry)
from flows.logging_setup import make_console
from forecasting.config import DEFAULTS, MAX_LEAD
from forecasting.home import Home

app = typer.Typer(
    help="Tasqyn: flood forecasting for Kazakhstan's rivers. Add --debug to any command for full tracebacks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = make_console()
err = make_console(stderr=True)

HomeOpt = typer.Option(None, "--home", help="home directory (default $TASQYN_HOME or ./var)")


@app.callback()
def _logging(
    ctx: typer.Context,
    log_level: str = typer.Option(
        "INFO",
        "--log-level",
        envvar="TASQYN_LOG_LEVEL",
        help="what <home>/logs/tasqyn.log keeps (stderr shows WARNING and up; DEBUG: everything, to both)",
    ),
) -> None:
    """Logs of every command: one format, to stderr and <home>/logs/tasqyn.log (flows.logging_setup)."""
    from flows.logging_setup import configure_logging, home_from_args

    if ctx.resilient_parsing or "--help" in ctx.args:
        return
    configure_logging(home_from_args(ctx.args), log_level, debug=log_level.strip().upper() == "DEBUG")


@app.command("ingest")
def ingest_cmd(
    source: list[str] = typer.Argument(..., help="file or folder to ingest (several allowed), or 'sample'"),
    fmt: str | None = typer.Option(
        None,
        "--format",
        "-f",
        help="station-csv, kazhydromet, kazhydromet-yearbook, sample, ... (auto-detected if omitted); "
        "nwp-csv or nwp-grid for weather forecasts (into the forcing store)",
    ),
    home: Path | None = HomeOpt,
) -> None:
    """Ingest observations into the canonical store; prints what was kept, flagged and quarantined."""
    import time

    from flows.ingest import run_ingest
    from flows.progress_ui import CommandProgress
    from forecasting.ingest import IngestError
    from forecasting.sources import AmbiguousFormat

    h = Home.from_env(home)
    any_ok = False
    t0 = time.perf_counter()
    totals = {"sources": 0, "stations": 0, "kept": 0, "flagged": 0, "quarantined": 0}
    with CommandProgress(err) as shown:
        for src in source:
            shown.note(f"ingesting {src}")
            try:
                if fmt in ("nwp-csv", "nwp-grid"):  # weather forecasts go to the forcing store
                    from flows.nwp import run_ingest_nwp

                    report = run_ingest_nwp(src, fmt, h)
                else:
                    report = run_ingest(src, fmt, h)
            except (IngestError, AmbiguousFormat, KeyError, FileNotFoundError) as exc:
                err.print(f"[red]error[/red] {escape(str(exc))}", soft_wrap=True)
                continue
            any_ok |= report.ok
            for m in report.messages:
                err.print(f"[yellow]note[/yellow] {escape(m)}", soft_wrap=True)
            for q in report.quarantine[:20]:
                err.print(f"[red]quarantined[/red] {escape(q.message())}", soft_wrap=True)
            if len(report.quarantine) > 20:
                err.print(f"... and {len(report.quarantine) - 20} more")
            console.print(report.summary(), soft_wrap=True)
            if report.quarantine_file:
                console.print(f"quarantine written to {report.quarantine_file}", soft_wrap=True)
            totals["sources"] += 1
            for key in ("kept", "flagged", "quarantined"):
                totals[key] += int(getattr(report, key, 0) or 0)
            totals["stations"] += len(getattr(report, "stations", []) or [])
    if len(source) > 1:
        console.print(
            f"ingested {totals['sources']} of {len(source)} sources in {time.perf_counter() - t0:.1f} s: "
            f"{totals['kept']} values kept, {totals['flagged']} flagged by QC, {totals['quarantined']} quarantined",
            soft_wrap=True,
        )
    if not any_ok:
        err.print("[red]nothing could be ingested[/red]")
        raise typer.Exit(1)


@app.command("stations")
def stations_cmd(
    home: Path | None = HomeOpt,
    as_csv: bool = typer.Option(False, "--csv", help="CSV output"),
    variables: bool = typer.Option(False, "--variables", "-v", help="one row per station and variable"),
) -> None:
    """List the stations in the store: period, variables, completeness, QC flags and what is missing."""
    from forecasting.inventory import CODES, missing_metadata, short_name, station_inventory, station_summary
    from forecasting.storage import open_store

    h = Home.from_env(home)
    ds = open_store(h.observations)
    if ds is None:
        err.print(f"the store {h.observations} is empty; run 'tasqyn ingest' first")
        raise typer.Exit(1)
    inv = station_inventory(ds)
    if as_csv:  # names come from data files: no cell may run as a spreadsheet formula
        from forecasting.spreadsheet import safe_frame

        safe_frame(inv if variables else station_summary(ds, inv)).to_csv(sys.stdout, index=False)
        return
    out = console if console.is_terminal else Console(width=200)  # piped: do not fold rows at 80 columns
    n = inv["station_id"].nunique() if len(inv) else 0
    if not variables:
        table = Table(title=f"{n} stations in {h.observations}")
        for col in ("station", "name", "period", "variables", "complete %", "flagged", "flags", "missing"):
            table.add_column(col, no_wrap=col in ("station", "period"))
        for r in station_summary(ds, inv).itertuples(index=False):
            table.add_row(
                str(r.station_id),
                str(r.name)[:24],
                f"{r.start}..{r.end}",
                str(r.variables),
                f"{r.completeness_pct:.1f}",
                str(r.flagged),
                str(r.flags),
                f"[yellow]{r.missing}[/yellow]" if r.missing else "",
            )
        out.print(table)
        legend = ", ".join(f"{code} {short_name(v)}" for v, code in CODES.items())
        out.print(f"variables: {legend}")
        out.print("complete %: of the discharge (else level) record; flagged: values QC excludes from use")
        return
    table = Table(title=f"{n} stations in {h.observations}")
    for col in ("station", "name", "variable", "period", "days", "complete %", "flagged", "flags"):
        table.add_column(col, no_wrap=col in ("station", "period"))
    for sid, grp in inv.groupby("station_id", sort=True):
        for k, r in enumerate(grp.itertuples(index=False)):
            detail = ", ".join(
                f"{name} {getattr(r, name)}"
                for name in ("impossible", "rate", "flatline", "spike", "repeated", "duplicate")
                if getattr(r, name)
            )
            table.add_row(
                sid if k == 0 else "",
                str(r.name)[:30] if k == 0 else "",
                short_name(r.variable),
                f"{r.start} .. {r.end}",
                str(r.n_days),
                f"{r.completeness_pct:.1f}",
                str(r.flagged),
                detail,
            )
    out.print(table)
    for sid, miss in missing_metadata(ds).items():
        out.print(f"[yellow]{sid}[/yellow]: metadata missing: {', '.join(miss)}")


@app.command("outlook")
def outlook_cmd(
    issue_date: str | None = typer.Option(None, "--issue-date", help="YYYY-MM-DD (default: today, Asia/Almaty)"),
    data: Path | None = typer.Option(None, "--data", help="station-CSV folder instead of the store"),
    out: Path | None = typer.Option(None, "--out", help="output JSON (default <home>/outlooks/<date>.json)"),
    cv: bool = typer.Option(False, "--cv", help="leave-one-year-out skill on 1 Feb and 1 Mar instead"),
    home: Path | None = HomeOpt,
) -> None:
    """Spring flood outlook: flood-season volume and peak per basin, with 80% range and % of normal."""
    from flows.outlook import run_evaluation, run_outlook

    if cv:
        path, report = run_evaluation(data, Home.from_env(home), out=out)
        table = Table(title="outlook skill, leave-one-year-out (P: share |error| <= 0.674 sigma)")
        for col in ("basin", "issue", "snow", "years", "volume P", "volume skill", "peak P", "peak skill"):
            table.add_column(col)
        for r in report["summary"]:
            vals = [
                r[k] for k in ("volume_accuracy_p", "volume_skill_vs_norm", "peak_accuracy_p", "peak_skill_vs_norm")
            ]
            table.add_row(
                r["basin"], r["issue"], r["snow"], str(r["n"]), *("" if v is None else f"{v:.2f}" for v in vals)
            )
        console.print(table)
        console.print(f"written to {path}")
        return
    try:
        path, doc = run_outlook(issue_date, Home.from_env(home), data, out)
    except (FileNotFoundError, ValueError) as exc:
        err.print(f"[red]error[/red] {exc}")
        raise typer.Exit(1) from exc
    table = Table(title=f"spring flood outlook issued {doc['issue_date']}")
    for col in ("basin", "volume Mm3 (80%)", "% norm", "peak m3/s (80%)", "skill vol (P, 1-MSE/MSEn)"):
        table.add_column(col)
    for bid, b in doc["basins"].items():
        if b.get("status") != "ok":
            table.add_row(bid, b.get("message") or "", "", "", "")
            continue
        v, p, sk = b.get("volume") or {}, b.get("peak") or {}, (b.get("skill") or {}).get("volume") or {}
        table.add_row(
            bid,
            f"{v.get('value', 0):.0f} ({v.get('low', 0):.0f}-{v.get('high', 0):.0f})" if v else "",
            f"{v.get('pct_of_norm', 0):.0f}" if v else "",
            f"{p.get('value', 0):.1f} ({p.get('low', 0):.1f}-{p.get('high', 0):.1f})" if p else "",
            f"{sk.get('accuracy_p') or 0:.2f}, {sk.get('skill_vs_norm') or 0:.2f}" if sk else "",
        )
    console.print(table)
    console.print(f"written to {path}")


@app.command("serve")
def serve_cmd(
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on"),
    port: int = typer.Option(8000, "--port", help="port to listen on"),
    home: Path | None = HomeOpt,
    database_url: str | None = typer.Option(None, "--database-url", help="default $TASQYN_DATABASE_URL or SQLite"),
    workers: int = typer.Option(1, "--workers", min=1, help="worker processes (2 on a 2-core machine under load)"),
) -> None:
    """Serve what is published: the JSON API under /api/v1 and the dashboard under /."""
    _serve(Home.from_env(home), database_url, host, port, workers)


def _serve(home: Home, database_url: str | None, host: str, port: int, workers: int = 1) -> None:
    """Run the web application (service.app.create_app, built from the environment in each worker process: the
    flows do not import the web package)."""
    import os

    import uvicorn

    os.environ["TASQYN_HOME"] = str(home.root)
    if database_url:
        os.environ["TASQYN_DATABASE_URL"] = database_url
    from flows.logging_setup import current_level, uvicorn_log_config

    console.print(f"serving {home.root} on http://{host}:{port} (API docs at /docs)")
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        # one format, to stderr and the home's log file, every worker
        log_config=uvicorn_log_config(home, current_level()),
    )


@app.command("forecast")
def forecast_cmd(
    issue_date: str | None = typer.Option(None, "--issue-date", help="YYYY-MM-DD (default: today, Asia/Almaty)"),
    leads: int = typer.Option(max(DEFAULTS.leads), "--leads", min=1, max=MAX_LEAD, help="days ahead (1-10)"),
    publish: bool = typer.Option(False, "--publish", help="publish at once, marked unreviewed (else a draft)"),
    no_ingest: bool = typer.Option(False, "--no-ingest", help="do not ingest $TASQYN_HOME/inbox first"),
    alert_probability: float = typer.Option(
        DEFAULTS.alert_probability, "--alert-probability", help="probability that raises a level"
    ),
    stale_after: int = typer.Option(
        DEFAULTS.stale_after_days, "--stale-after", help="days after which a station's data is stale"
    ),
    thresholds: Path | None = typer.Option(None, "--thresholds", help="thresholds CSV (official marks)"),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="worker processes (default: one per core for a large network)"
    ),
    home: Path | None = HomeOpt,
) -> None:
    """Run the daily forecast: ingest new data, QC, forecast, risk, write, record the run, publish."""
    import time

    from flows.forecast import forecast_flow
    from flows.progress_ui import CommandProgress

    if issue_date is not None:
        _check_date(issue_date)
    h = Home.from_env(home)
    if no_ingest or not _inbox_has_files(h):
        _require_store(h)
    t0 = time.perf_counter()
    with CommandProgress(err):
        out = forecast_flow(
            issue_date=issue_date,
            home=str(Home.from_env(home).root),
            leads=leads,
            ingest=not no_ingest,
            publish=publish,
            alert_probability=alert_probability,
            stale_after_days=stale_after,
            thresholds_file=str(thresholds) if thresholds else None,
            workers=workers,
        )
    _print_forecast_summary(out, time.perf_counter() - t0)


def _require_store(h: Home) -> None:
    """Exit with a clear message when nothing was ingested into the home yet."""
    if not h.observations.exists():
        err.print(f"[red]error[/red] nothing has been ingested into {h.root} yet")
        err.print("run 'tasqyn ingest SOURCE' (or 'tasqyn demo'), or give --home / TASQYN_HOME")
        raise typer.Exit(1)


def _inbox_has_files(h: Home) -> bool:
    inbox = h.root / "inbox"
    return inbox.is_dir() and any(not p.name.startswith(".") for p in inbox.iterdir())


def _check_date(value: str) -> None:
    import datetime as dt

    try:
        dt.date.fromisoformat(value)
    except ValueError:
        err.print(f"[red]error[/red] '{value}' is not a date (YYYY-MM-DD)")
        raise typer.Exit(2) from None


def _print_forecast_summary(out: dict, seconds: float | None = None) -> None:
    took = f" in {seconds:.1f} s" if seconds is not None else ""
    console.print(
        f"run {out['run_id']} issued {out['issue_date']}{took}: {out['n_forecast']} of {out['n_stations']} stations "
        f"forecast, {out['n_stale']} stale, {out['n_failed']} failed; "
        f"{'published (unreviewed)' if out['published'] else 'draft awaiting review'}",
        soft_wrap=True,
    )
    console.print(f"forecast written to {out['path']}")
    for sid, st in sorted(out["status"].items()):
        if st != "ok":
            console.print(f"  {sid}: {st}")


@app.command("demo")
def demo_cmd(
    data: Path | None = typer.Option(None, "--data", help="station-CSV folder (default: the embedded sample)"),
    no_serve: bool = typer.Option(False, "--no-serve", help="stop after publishing"),
    backtest: bool = typer.Option(True, "--backtest/--no-backtest", help="backtest so pages show the model's skill"),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
    home: Path | None = HomeOpt,
) -> None:
    """Set up the home from the embedded sample (or --data), ingest, train, forecast the latest day, publish, serve."""
    import time

    import numpy as np

    from flows.forecast import forecast_flow
    from flows.ingest import run_ingest
    from flows.progress_ui import CommandProgress
    from flows.train import train_flow
    from forecasting.storage import open_store

    h = Home.from_env(home).ensure()
    source = str(data) if data else "sample"
    t_start = t0 = time.perf_counter()

    def took() -> str:
        nonlocal t0
        secs, t0 = time.perf_counter() - t0, time.perf_counter()
        return f" ({secs:.1f} s)"

    shown = CommandProgress(err, labels={"backtest": "backtesting stations"})
    backtesting = None
    if backtest:  # from the data folder, independent of the home: in its own process, beside ingest and training
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        from forecasting.sources.sample import export_station_csv

        folder = data if data is not None else export_station_csv(h.root / "sample")
        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        backtesting = pool.submit(_demo_backtest, str(folder), str(h.backtest_dir / "report.json"))
        pool.shutdown(wait=False)
        console.print("    backtest (walk-forward, last 5 years) started beside the training, for the model's skill")
    console.print(f"[bold]1/4 ingest[/bold] {source} into {h.root}")
    with shown:
        report = run_ingest(source, None if data else "sample", h)
    console.print("    " + report.summary() + took(), soft_wrap=True)
    if data is not None and (data / "basins").is_dir():
        import shutil

        (h.root / "basins").mkdir(exist_ok=True)
        for poly in sorted((data / "basins").glob("*.geojson")):
            shutil.copy(poly, h.root / "basins" / poly.name)  # basin outlines for the map and GeoJSON
            console.print(f"    basin outline {poly.name}")
    if not report.ok and open_store(h.observations) is None:
        err.print("[red]nothing could be ingested[/red]")
        raise typer.Exit(1)
    console.print("[bold]2/4 train[/bold] one model per basin")
    with shown:
        trained = train_flow(home=str(h.root))
    console.print(f"    {_trained_text(trained)}, failed {len(trained['failed'])}{took()}")
    for b, why in trained["failed"].items():
        console.print(f"    [yellow]{b}[/yellow]: {why}")
    if backtesting is not None:
        summary = backtesting.result()
        for k in ("1", "3", "7"):
            v = summary.get(k, {}).get("median_skill_vs_persistence")
            if v is not None:
                console.print(f"    lead {k}: median skill vs persistence {v:.2f}")
        console.print(f"    backtest done{took()} (it ran beside ingest and training)")
    ds = open_store(h.observations)
    q = ds["discharge_m3s"].values
    times = ds["time"].values
    has = np.isfinite(q).any(axis=0)
    issue = str(np.datetime_as_string(times[np.flatnonzero(has)[-1]], unit="D"))
    try:  # the spring flood outlook of the latest spring in the data, for the basin pages
        from flows.outlook import run_outlook

        march = f"{issue[:4]}-03-01" if issue[5:] >= "03-01" else f"{int(issue[:4]) - 1}-03-01"
        path, doc = run_outlook(march, h)
        ok = sum(1 for b in doc["basins"].values() if b.get("status") == "ok")
        console.print(f"    spring flood outlook of {march}: {ok} of {len(doc['basins'])} basins ({path.name}){took()}")
    except (ValueError, FileNotFoundError) as exc:
        console.print(f"    [yellow]no spring flood outlook[/yellow]: {exc}")
    console.print(f"[bold]3/4 forecast[/bold] issued {issue} (the latest day of the data), published unreviewed")
    with shown:
        out = forecast_flow(issue_date=issue, home=str(h.root), ingest=False, publish=True)
    _print_forecast_summary(out, time.perf_counter() - t0)
    console.print(f"demo set up in {time.perf_counter() - t_start:.1f} s", soft_wrap=True)
    if no_serve:
        console.print("[bold]4/4[/bold] published; run 'tasqyn serve' to serve it")
        return
    console.print(f"[bold]4/4 serve[/bold] http://{host}:{port}  (API: /api/v1/basins, docs: /docs; Ctrl-C stops)")
    _serve(h, None, host, port)


def _trained_text(result: dict) -> str:
    """'trained N basins[ and the global model][, M paired with it]' of a train_flow result."""
    from forecasting.model_registry import GLOBAL_MODEL

    n_basins = len([b for b in result["trained"] if b != GLOBAL_MODEL])
    n_paired = len([b for b, r in result.get("paired", {}).items() if r.get("fits")])
    return (
        f"trained {n_basins} basins"
        + (" and the global model" if GLOBAL_MODEL in result["trained"] else "")
        + (f", {n_paired} paired with the global model (weights fitted on shared held-out years)" if n_paired else "")
    )


def _demo_backtest(folder: str, out: str) -> dict:
    """The demo's backtest in a process of its own (started by `demo`): progress as plain lines on stderr (not a
    live bar, which would fight the parent's); returns the report's summary."""
    from flows.backtest import run_backtest_files
    from flows.logging_setup import WIDE
    from flows.progress_ui import CommandProgress

    lines = Console(stderr=True, width=WIDE, soft_wrap=True, force_terminal=False, force_interactive=False)
    shown = CommandProgress(lines, labels={"backtest": "    backtest: stations"})
    shown.live = False
    with shown:
        report = run_backtest_files(Path(folder), Path(out), progress=lambda m: shown.note(f"    backtest: {m}"))
    return report["summary"]


users_app = typer.Typer(help="Dashboard users (admin, hydrologist, akimat).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (shown once; stored hashed).", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
DbUrlOpt = typer.Option(None, "--database-url", help="default $TASQYN_DATABASE_URL or the home's SQLite file")
BasinOpt = typer.Option(None, "--basin", "-b", help="limit to this basin (repeat for several; default: all)")
RegionOpt = typer.Option(None, "--region", help="limit to the basins of this region (repeatable; with --basin: either)")


def _scope(basins: list[str] | None, regions: list[str] | None) -> list[str]:
    from records.accounts import REGION_PREFIX

    return [*(basins or []), *(REGION_PREFIX + r for r in regions or [])]


def _auth_session(home: Path | None, database_url: str | None):
    from records.db import database_url as db_url
    from records.db import open_database

    return open_database(db_url(Home.from_env(home).ensure(), database_url))[1]()


@contextmanager
def _auth_change(home: Path | None, database_url: str | None):
    """A session for a change of users or keys: committed on success; an AuthError is printed and exits 1."""
    from records.accounts import AuthError

    with _auth_session(home, database_url) as s:
        try:
            yield s
        except AuthError as exc:
            err.print(f"[red]error[/red] {exc}")
            raise typer.Exit(1) from None
        s.commit()


@users_app.command("add")
def users_add(
    username: str = typer.Argument(..., help="login name"),
    role: str = typer.Option(..., "--role", "-r", help="admin, hydrologist or akimat"),
    basins: list[str] | None = BasinOpt,
    regions: list[str] | None = RegionOpt,
    password: str = typer.Option(..., "--password", prompt=True, hide_input=True, confirmation_prompt=True),
    home: Path | None = HomeOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Add a user (the password is hashed with argon2id)."""
    from records.accounts import add_user

    basins = _scope(basins, regions)

    with _auth_change(home, database_url) as s:
        add_user(s, username, password, role, basins)
    console.print(f"user {username} ({role}{', basins ' + ', '.join(basins) if basins else ''}) added")


@users_app.command("list")
def users_list(home: Path | None = HomeOpt, database_url: str | None = DbUrlOpt) -> None:
    """List the users."""
    from records.accounts import list_users

    table = Table(title="users")
    for col in ("user", "role", "basins", "created", "disabled"):
        table.add_column(col)
    with _auth_session(home, database_url) as s:
        for u in list_users(s):
            created = f"{u.created_at:%Y-%m-%d %H:%M}"
            table.add_row(u.username, u.role, ", ".join(u.basins or []) or "all", created, "yes" if u.disabled else "")
    console.print(table)


@users_app.command("remove")
def users_remove(
    username: str = typer.Argument(...), home: Path | None = HomeOpt, database_url: str | None = DbUrlOpt
) -> None:
    """Remove a user (its sessions end at once)."""
    from records.accounts import remove_user

    with _auth_change(home, database_url) as s:
        remove_user(s, username)
    console.print(f"user {username} removed")


@keys_app.command("create")
def keys_create(
    name: str = typer.Argument(..., help="what the key is for, e.g. akimat-pavlodar"),
    role: str = typer.Option("akimat", "--role", "-r", help="admin, hydrologist or akimat"),
    basins: list[str] | None = BasinOpt,
    regions: list[str] | None = RegionOpt,
    home: Path | None = HomeOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Create an API key and print it once (send it as 'Authorization: Bearer <key>')."""
    from records.accounts import create_api_key

    basins = _scope(basins, regions)

    with _auth_change(home, database_url) as s:
        token, row = create_api_key(s, name, role, basins)
        prefix = row.key_prefix
    err.print(f"key {prefix} ({role}{', basins ' + ', '.join(basins) if basins else ''}); it is not shown again:")
    print(token)


@keys_app.command("revoke")
def keys_revoke(
    key: str = typer.Argument(..., help="the key's prefix (tq_xxxxxxxx), its name, or the key itself"),
    home: Path | None = HomeOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Revoke a key: requests with it fail with 401 from now on."""
    from records.accounts import revoke_api_key

    with _auth_change(home, database_url) as s:
        revoked = [f"{r.key_prefix} ({r.name})" for r in revoke_api_key(s, key)]
    console.print("revoked " + ", ".join(revoked))


@keys_app.command("list")
def keys_list(home: Path | None = HomeOpt, database_url: str | None = DbUrlOpt) -> None:
    """List the keys (prefixes only; the keys themselves are not stored)."""
    from records.accounts import list_api_keys

    table = Table(title="API keys")
    for col in ("prefix", "name", "role", "basins", "created", "revoked"):
        table.add_column(col)
    with _auth_session(home, database_url) as s:
        for k in list_api_keys(s):
            revoked = f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else ""
            basins = ", ".join(k.basins or []) or "all"
            table.add_row(k.key_prefix, k.name, k.role, basins, f"{k.created_at:%Y-%m-%d %H:%M}", revoked)
    console.print(table)


@app.command("train")
def train_cmd(
    basin: list[str] = typer.Option(None, "--basin", help="basin id to train (repeatable; default: all)"),
    dask_address: str | None = typer.Option(
        None, "--dask-address", help="Dask scheduler address (default $TASQYN_DASK_ADDRESS; else in-process)"
    ),
    leads: str = typer.Option("1-7", "--leads", help="lead days, e.g. 1-7 or 1,3,7 (at most 10)"),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="local worker processes (default: one per core; ignored with Dask)"
    ),
    home: Path | None = HomeOpt,
) -> None:
    """Train the forecast models, one task per basin in parallel processes (a failing basin is reported, the others
    finish)."""
    import time

    from flows.backtest import parse_leads
    from flows.progress_ui import CommandProgress
    from flows.train import train_flow

    _require_store(Home.from_env(home))
    t0 = time.perf_counter()
    try:
        with CommandProgress(err):
            result = train_flow(home, basin or None, dask_address, parse_leads(leads), workers=workers)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        err.print(f"[red]error[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    table = Table(title="trained basins")
    for col in ("basin", "version", "stations", "skill lead 1", "seconds", "notes"):
        table.add_column(col)
    for b, r in sorted(result["trained"].items()):
        skill = r["validation"].get("1", {}).get("skill_vs_persistence")
        notes = "; ".join(f"{s}: {m}" for s, m in r["fallback"].items())
        table.add_row(
            b,
            r["version"],
            ", ".join(r["stations"]),
            "-" if skill is None else f"{skill:.2f}",
            str(r["seconds"]),
            escape(notes),
        )
    console.print(table)
    for b, msg in sorted(result["failed"].items()):
        err.print(f"[red]basin {b} failed[/red]: {escape(msg)}")
    console.print(
        f"{_trained_text(result)} in {time.perf_counter() - t0:.1f} s; {len(result['failed'])} failed",
        soft_wrap=True,
    )
    if not result["trained"]:
        raise typer.Exit(1)


@app.command("backtest")
def backtest_cmd(
    data: Path = typer.Option(..., "--data", help="station-CSV folder"),
    out: Path = typer.Option(..., "--out", help="report JSON (a .md summary and <name>_plots/ are written beside)"),
    test_years: int = typer.Option(5, "--test-years", min=1, help="last N years of each station are the test"),
    leads: str = typer.Option("1-7", "--leads", help="lead days, e.g. 1-7 or 1,3,7 (at most 10)"),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="write a PNG hydrograph per station"),
    snow: bool = typer.Option(True, "--snow/--no-snow", help="use snow inputs (SWE, snow cover, degree-day store)"),
    snow_ablation: bool = typer.Option(
        False, "--snow-ablation", help="also backtest without snow inputs and report what snow buys per station"
    ),
    nwp: str = typer.Option(
        "none", "--nwp", help="weather forecasts: none | archive (DIR/forecasts/*.csv) | perfect (upper bound only)"
    ),
    nwp_training: str = typer.Option(
        "degraded", "--nwp-training", help="NWP models trained on degraded (error model) or perfect observed weather"
    ),
    nwp_error: str = typer.Option(
        "archive", "--nwp-error", help="error model fitted on the archive, crossfit (other years) or default"
    ),
) -> None:
    """Walk-forward backtest: train before the last N years, forecast every test day, score every lead."""
    from flows.backtest import parse_leads, run_backtest_files

    if not (data / "stations.csv").exists():
        err.print(f"[red]error[/red] {data}: not a station-CSV folder (no stations.csv)")
        raise typer.Exit(1)
    try:
        lead_list = parse_leads(leads)
    except ValueError as exc:
        err.print(f"[red]error[/red] {exc}")
        raise typer.Exit(1) from None
    from flows.progress_ui import CommandProgress

    with CommandProgress(err, labels={"backtest": "backtesting stations"}) as shown:
        report = run_backtest_files(
            data,
            out,
            test_years,
            lead_list,
            plots=plots,
            progress=shown.note,
            snow=snow,
            snow_ablation=snow_ablation,
            nwp=nwp,
            nwp_training=nwp_training,
            nwp_error=nwp_error,
        )
    table = Table(title=f"backtest of {data} (medians over stations)")
    for col in ("lead", "NSE", "NSE persistence", "skill vs pers.", "CRPSS", "coverage 90"):
        table.add_column(col)
    for k in report["leads"]:
        s = report["summary"][str(k)]
        table.add_row(
            str(k),
            *(
                "-" if s[c] is None else f"{s[c]:.2f}"
                for c in (
                    "median_nse",
                    "median_nse_persistence",
                    "median_skill_vs_persistence",
                    "median_crpss_vs_persistence",
                    "median_coverage_90",
                )
            ),
        )
    console.print(table)
    if report.get("nwp"):
        nt = Table(title=f"with / without weather forecasts ({report['nwp']})")
        for col in ("station", "lead", "skill NWP", "skill without", "coverage 90", "POD", "FAR", "CSI", "CSI without"):
            nt.add_column(col)
        for sid, st in report["stations"].items():
            for k in report["leads"] if st.get("without_nwp") else []:
                m, w = st["leads"][str(k)], st["without_nwp"][str(k)]
                vals = [m["skill_vs_persistence"], w["skill_vs_persistence"], m["coverage_90"]]
                vals += [m["pod_warning"], m["far_warning"], m["csi_warning"], w["csi_warning"]]
                nt.add_row(sid, str(k), *("-" if v is None else f"{v:.2f}" for v in vals))
        console.print(nt)
    for sid, st in report["stations"].items():
        if st.get("reason"):
            err.print(f"[yellow]{sid}[/yellow]: {escape(st['reason'])}")
    console.print(f"report written to {out} (summary {out.with_suffix('.md')})")


store_app = typer.Typer(help="The observation store: check it, restore a previous generation.", no_args_is_help=True)
app.add_typer(store_app, name="store")


@store_app.command("check")
def store_check(home: Path | None = HomeOpt) -> None:
    """Read the store and its kept generations (observations.nc.1 .. .3) fully; exit 1 if the current one is bad."""
    from forecasting.storage import check_store

    h = Home.from_env(home)
    files = check_store(h)
    if not files:
        err.print(f"no store in {h.store_dir}; run 'tasqyn ingest' first")
        raise typer.Exit(1)
    for f in files:
        label = "current" if f.generation == 0 else f"generation {f.generation}"
        state = "[green]ok[/green]" if f.ok else "[red]BAD[/red]"
        console.print(
            f"{label}: {state} {escape(str(f.path))} ({f.size_bytes} bytes, {f.modified}): {escape(f.message)}"
        )
    if not files[0].ok or files[0].generation != 0:
        good = [f.generation for f in files if f.ok and f.generation > 0]
        hint = f"'tasqyn store restore {good[0]}'" if good else "re-ingest the sources"
        err.print(f"[red]the current store is missing or cannot be read[/red]; {hint}")
        raise typer.Exit(1)


@store_app.command("restore")
def store_restore(
    generation: int = typer.Argument(..., help="1 = the store before the last write, 2 and 3 older"),
    home: Path | None = HomeOpt,
) -> None:
    """Make a kept generation the current store (the current file is kept as observations.nc.replaced-<time>)."""
    from forecasting.storage import StoreCorrupt, restore_store

    try:
        path = restore_store(Home.from_env(home), generation)
    except (FileNotFoundError, StoreCorrupt, ValueError, OSError) as exc:
        err.print(f"[red]error[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    console.print(f"generation {generation} restored as {path}")


@app.command("backup")
def backup_cmd(
    dest: Path = typer.Argument(..., help="folder that receives a new tasqyn-backup-<UTC time>/ folder"),
    keep: int | None = typer.Option(None, "--keep", min=1, help="then remove all but the newest N backups there"),
    home: Path | None = HomeOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Back up the home (store, models, forecasts, secret key, ...) and the database, with a manifest and checksums."""
    from flows.backup import BackupError, backup

    try:
        res = backup(dest, Home.from_env(home), database_url, keep, progress=lambda m: err.print(f"  {escape(m)}"))
    except (BackupError, OSError) as exc:
        err.print(f"[red]error[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    m = res.manifest
    console.print(
        f"backup written to {res.path}: {m['n_files']} files of the home ({m['home_bytes'] / 2**20:,.1f} MB) and the "
        f"{m['database']['backend']} database ({m['database']['size'] / 2**20:,.1f} MB) in {res.seconds:.1f} s",
        soft_wrap=True,
    )
    for p in res.removed:
        console.print(f"removed the older backup {p}", soft_wrap=True)


@app.command("restore")
def restore_cmd(
    source: Path = typer.Argument(..., help="a backup folder, or a folder of backups (the newest is taken)"),
    force: bool = typer.Option(False, "--force", help="restore into a used home/database (old content moved aside)"),
    check: bool = typer.Option(False, "--check", help="only verify the backup's checksums"),
    home: Path | None = HomeOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Restore a backup into an empty home and database (checksums verified first)."""
    from flows.backup import BackupError, restore, verify

    try:
        if check:
            path, m = verify(source)
            console.print(f"{path} verified: {m['n_files']} files and the database, created {m['created_at']}")
            return
        res = restore(source, Home.from_env(home), database_url, force, progress=lambda m: err.print(f"  {escape(m)}"))
    except (BackupError, OSError) as exc:
        err.print(f"[red]error[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    console.print(
        f"restored {res.files} files ({res.bytes / 2**20:,.1f} MB) into {res.home} and the database into "
        f"{res.database_url} in {res.seconds:.1f} s",
        soft_wrap=True,
    )
    if res.moved_aside:
        console.print(f"the previous content is in {res.moved_aside}", soft_wrap=True)


from flows.cli_outreach import register as _register_outreach  # noqa: E402  (bulletin, subscriptions, notify)

_register_outreach(app)


def explain_error(exc: BaseException) -> str:
    """One or two lines saying what went wrong and what to do (the CLI's answer to an unexpected error)."""
    import errno

    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, OperationalError | InterfaceError | DBAPIError):
        orig = (str(getattr(exc, "orig", exc)).strip().splitlines() or [""])[0]
        return (
            f"the database cannot be reached: {orig}\n"
            "check TASQYN_DATABASE_URL (or --database-url) and that the database server is running"
        )
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename or first}: no such file or folder" if exc.filename else first
    if isinstance(exc, PermissionError):
        return f"{exc.filename or first}: permission denied"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left on device{f' writing {exc.filename}' if exc.filename else ''}: free some space"
    return f"{type(exc).__name__}: {first}" if not isinstance(exc, ValueError | LookupError) else first


def main() -> None:
    """The `tasqyn` entry point: errors are one or two readable lines and exit code 1 (tracebacks with --debug)."""
    debug = "--debug" in sys.argv[1:]
    if debug:
        sys.argv.remove("--debug")
    else:
        import logging

        for name in ("prefect.flow_runs", "prefect.task_runs"):  # their failure records carry tracebacks
            logging.getLogger(name).setLevel(logging.CRITICAL)
    from flows.ephemeral_guard import install

    install()  # Prefect's temporary API server ends with this process, even when it is killed
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 (the last line of defence: say what is wrong, not where)
        if debug:
            raise
        err.print(f"[red]error[/red] {escape(explain_error(exc))}", soft_wrap=True)
        err.print("run the command again with --debug for the full traceback", style="dim")
        sys.exit(1)


if __name__ == "__main__":
    main()
