"""The `tasqyn bulletin` command (and, registered beside it, `tasqyn subscriptions` and `tasqyn notify`): getting
the word out from the command line. Registered on the main app by flows.cli."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.markup import escape

from flows.logging_setup import make_console
from forecasting.home import Home

console = make_console()
err = make_console(stderr=True)

HomeOpt = typer.Option(None, "--home", help="home directory (default $TASQYN_HOME or ./var)")
DbUrlOpt = typer.Option(None, "--database-url", help="default $TASQYN_DATABASE_URL or the home's SQLite file")


def _session(home: Home, database_url: str | None):
    from records.db import database_url as db_url
    from records.db import open_database

    return open_database(db_url(home, database_url))[1]()


def bulletin_cmd(
    issue_date: str | None = typer.Option(None, "--issue-date", help="YYYY-MM-DD (default: the newest published)"),
    lang: str = typer.Option("ru", "--lang", help="ru, kk or en"),
    fmt: str = typer.Option("pdf", "--format", help="pdf, xlsx or html"),
    out: Path | None = typer.Option(
        None, "--out", help="file to write (default: <home>/bulletins/<issue_date>/bulletin-...; never overwritten)"
    ),
    home: Path | None = HomeOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Write the daily bulletin of a published forecast (PDF A4, XLSX or printable HTML; ru, kk or en)."""
    from bulletins import FORMATS, render
    from bulletins.files import bulletin_path, home_bulletin, write_once
    from bulletins.i18n import UnsupportedLanguage, check_lang
    from records.bulletin import BulletinNotFound

    try:
        lang = check_lang(lang)
    except UnsupportedLanguage as exc:
        err.print(f"[red]error[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    if fmt not in FORMATS:
        err.print(f"[red]error[/red] unsupported format {fmt!r}: use one of {', '.join(FORMATS)}")
        raise typer.Exit(2)
    day = None
    if issue_date is not None:
        try:
            day = dt.date.fromisoformat(issue_date)
        except ValueError:
            err.print(f"[red]error[/red] '{issue_date}' is not a date (YYYY-MM-DD)")
            raise typer.Exit(2) from None
    h = Home.from_env(home)
    with _session(h.ensure(), database_url) as s:
        try:
            content = home_bulletin(h.root, s, day)
        except BulletinNotFound as exc:
            err.print(f"[red]error[/red] {escape(str(exc))}")
            raise typer.Exit(1) from None
    data = render(content, fmt, lang)
    if out is not None:
        replaced = out.exists()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        console.print(f"{'replaced' if replaced else 'wrote'} {out} ({len(data) / 1024:.0f} KiB)", soft_wrap=True)
        return
    path = bulletin_path(h.root, content, lang, fmt)
    if write_once(path, data):
        console.print(f"wrote {path} ({len(data) / 1024:.0f} KiB)", soft_wrap=True)
    else:
        console.print(f"{path} exists (this run and revision); kept", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the commands of this module to the main `tasqyn` app."""
    app.command("bulletin")(bulletin_cmd)
