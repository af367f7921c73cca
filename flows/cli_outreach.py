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


subscriptions_app = typer.Typer(help="Notification subscriptions (e-mail, webhooks, apprise).", no_args_is_help=True)
notify_app = typer.Typer(help="Notifications: deliver what is due, show the log.", no_args_is_help=True)


@subscriptions_app.command("add")
def subscriptions_add(
    user: str | None = typer.Option(None, "--user", help="the subscriber: a user name"),
    key: str | None = typer.Option(None, "--key", help="the subscriber: an API key's name (its owner)"),
    basins: list[str] | None = typer.Option(None, "--basin", "-b", help="basin id (repeatable; default: all)"),
    min_level: int = typer.Option(1, "--min-level", help="1 warning, 2 danger, 3 extreme"),
    lang: str = typer.Option("ru", "--lang", help="ru, kk or en"),
    emails: list[str] | None = typer.Option(None, "--email", help="e-mail address (repeatable)"),
    webhooks: list[str] | None = typer.Option(None, "--webhook", help="webhook URL (repeatable; signed)"),
    apprise_urls: list[str] | None = typer.Option(None, "--apprise", help="apprise URL, e.g. tgram://token/chat"),
    home: Path | None = HomeOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Subscribe a user or an API key's owner to notifications of published flood risk."""
    from forecasting.storage import open_store
    from records.notifications import SubscriptionError, add_subscription, known_basins
    from records.published import station_infos

    if bool(user) == bool(key):
        err.print("[red]error[/red] give exactly one of --user or --key")
        raise typer.Exit(2)
    h = Home.from_env(home)
    store_basins = {i.basin_id for i in station_infos(open_store(h.observations)).values()}
    with _session(h.ensure(), database_url) as s:
        try:
            sub = add_subscription(
                s,
                "user" if user else "key",
                str(user or key),
                basins,
                min_level,
                lang,
                emails or [],
                webhooks or [],
                apprise_urls or [],
                valid_basins=known_basins(s, store_basins),
                created_by="cli",
            )
        except SubscriptionError as exc:
            err.print(f"[red]error[/red] {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(1) from None
        s.commit()
        console.print(f"subscription {sub.id} added ({len(sub.channels)} channels)")
        if webhooks:
            err.print("webhook secret (X-Tasqyn-Signature: HMAC-SHA256); it is not shown again:")
            print(sub.secret)


@subscriptions_app.command("list")
def subscriptions_list(home: Path | None = HomeOpt, database_url: str | None = DbUrlOpt) -> None:
    """List the subscriptions (channels shown without their secrets)."""
    from rich.table import Table

    from records.notifications import list_subscriptions, redact

    table = Table(title="subscriptions")
    for col in ("id", "owner", "basins", "from level", "lang", "channels"):
        table.add_column(col)
    with _session(Home.from_env(home).ensure(), database_url) as s:
        for sub in list_subscriptions(s):
            chans = ", ".join(
                f"{c['type']}:{c['target'] if c['type'] == 'email' else redact(c['target'])}" for c in sub.channels
            )
            basins = ", ".join(sub.basins or []) or "all"
            table.add_row(str(sub.id), f"{sub.owner_type}:{sub.owner}", basins, str(sub.min_level), sub.lang, chans)
    console.print(table)


@subscriptions_app.command("remove")
def subscriptions_remove(
    subscription_id: int = typer.Argument(..., help="the subscription's id (tasqyn subscriptions list)"),
    home: Path | None = HomeOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Remove a subscription (its log stays)."""
    from records.notifications import SubscriptionError, remove_subscription

    with _session(Home.from_env(home).ensure(), database_url) as s:
        try:
            remove_subscription(s, subscription_id)
        except SubscriptionError as exc:
            err.print(f"[red]error[/red] {escape(str(exc))}")
            raise typer.Exit(1) from None
        s.commit()
    console.print(f"subscription {subscription_id} removed")


@notify_app.command("send")
def notify_send(
    budget: float = typer.Option(120.0, "--budget", help="seconds to spend at most"),
    home: Path | None = HomeOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """Deliver the notifications whose (next) attempt is due (retries with back-off)."""
    from bulletins.notify import deliver_due
    from records.db import database_url as db_url
    from records.db import open_database

    h = Home.from_env(home).ensure()
    engine, factory = open_database(db_url(h, database_url))
    try:
        report = deliver_due(factory, h.root, budget_s=budget)
    finally:
        engine.dispose()
    console.print(report.summary())


@notify_app.command("log")
def notify_log(
    failed: bool = typer.Option(False, "--failed", help="only deliveries that failed or wait for a retry"),
    limit: int = typer.Option(50, "--limit"),
    home: Path | None = HomeOpt,
    database_url: str | None = DbUrlOpt,
) -> None:
    """The message log: who, what, when, channel, delivery status (newest first)."""
    from rich.table import Table
    from sqlalchemy import select

    from records.notifications import NotificationMessage

    table = Table(title="notifications")
    for col in ("id", "created", "owner", "channel", "target", "basin", "event", "status", "attempts", "error"):
        table.add_column(col)
    with _session(Home.from_env(home).ensure(), database_url) as s:
        stmt = select(NotificationMessage).order_by(NotificationMessage.id.desc()).limit(limit)
        if failed:
            stmt = stmt.where(NotificationMessage.status.in_(("retrying", "failed")))
        for m in s.scalars(stmt):
            event = f"{m.kind} {m.level if m.level is not None else '-'} ({m.issue_date})"
            table.add_row(
                str(m.id), f"{m.created_at:%Y-%m-%d %H:%M}", m.owner, m.channel, m.target, m.basin_id, event,
                m.status, str(m.attempts), (m.last_error or "")[:80],
            )  # fmt: skip
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the commands of this module to the main `tasqyn` app."""
    app.command("bulletin")(bulletin_cmd)
    app.add_typer(subscriptions_app, name="subscriptions")
    app.add_typer(notify_app, name="notify")
