"""The `tasqyn` command line."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

import flows  # noqa: F401  (environment: no telemetry)
from forecasting.home import Home

app = typer.Typer(
    help="Tasqyn: flood forecasting for Kazakhstan's rivers.", no_args_is_help=True, pretty_exceptions_enable=False
)
console = Console()
err = Console(stderr=True)

HomeOpt = typer.Option(None, "--home", help="home directory (default $TASQYN_HOME or ./var)")


@app.command("ingest")
def ingest_cmd(
    source: list[str] = typer.Argument(..., help="file or folder to ingest (several allowed), or 'sample'"),
    fmt: str | None = typer.Option(
        None,
        "--format",
        "-f",
        help="station-csv, kazhydromet, kazhydromet-yearbook, sample, ... (auto-detected if omitted)",
    ),
    home: Path | None = HomeOpt,
) -> None:
    """Ingest observations into the canonical store; prints what was kept, flagged and quarantined."""
    from flows.ingest import run_ingest
    from forecasting.sources import AmbiguousFormat

    h = Home.from_env(home)
    any_ok = False
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err, transient=True
    ) as progress:
        task = progress.add_task("ingesting", total=len(source))
        for src in source:
            progress.update(task, description=f"ingesting {src}")
            try:
                report = run_ingest(src, fmt, h)
            except (AmbiguousFormat, KeyError, FileNotFoundError) as exc:
                err.print(f"[red]error[/red] {escape(str(exc))}", soft_wrap=True)
                continue
            progress.advance(task)
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
    if as_csv:
        (inv if variables else station_summary(ds, inv)).to_csv(sys.stdout, index=False)
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
    home: Path | None = HomeOpt,
) -> None:
    """Spring flood outlook: flood-season volume and peak per basin, with 80% range and % of normal."""
    from flows.outlook import run_outlook

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
) -> None:
    """Serve what is published: the JSON API under /api/v1 and the dashboard under /."""
    import uvicorn

    from service.app import create_app
    from service.settings import Settings

    settings = Settings.from_env(Home.from_env(home), database_url)
    console.print(f"serving {settings.home.root} on http://{host}:{port} (API docs at /docs)")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
