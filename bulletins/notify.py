"""Delivering the notifications queued by records.notifications: composing them in the subscriber's language and
sending them through a channel, with timeouts, retries with back-off and a log of every attempt.

Channels (a small interface: `Channel.send(message) -> str`, raising DeliveryError; add one by subclassing it and
registering it in CHANNELS):

- **email**: SMTP (`TASQYN_SMTP_HOST`, `_PORT` (25), `_USER`, `_PASSWORD`, `_FROM`, `_STARTTLS` (false), `_SSL`
  (false), `_TIMEOUT` (10 s)); the bulletin PDF of the run in the subscriber's language and basins is attached.
- **webhook**: an HTTP POST of JSON (`event`, `basin_id`, `basin_name`, `level`, `level_label`, `previous_level`,
  `probability`, `first_date`, `issue_date`, `run_id`, `review_status`, `reason`, `link`, `bulletin`, `text`,
  `message_id`, `sent_at`), signed: `X-Tasqyn-Timestamp: <unix seconds>` and
  `X-Tasqyn-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + body with the subscription's secret>`; a
  receiver recomputes it and rejects a mismatch or an old timestamp. A 2xx answer is delivered; anything else or
  a timeout (`TASQYN_WEBHOOK_TIMEOUT`, 10 s) is retried.
- **apprise**: any URL apprise knows (Telegram `tgram://token/chat`, Slack, Matrix, ...; see apprise's list).

Back-off: attempt n failed -> the next after 1, 4, 16, 64 minutes ...; after MAX_ATTEMPTS the message is `failed`
(shown on the runs page). `deliver_due` stops taking new messages after its time budget, so a channel that is
down holds up neither the daily run nor a reviewer; the rest waits for the next call (`tasqyn notify send`, the
`notifications` deployment every 10 minutes, the service after an approval).

Links point at `TASQYN_PUBLIC_URL` (default http://127.0.0.1:8000).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import smtplib
import ssl
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bulletins import i18n
from records.db import ForecastRun, utcnow
from records.notifications import NotificationMessage, Subscription, due_messages, owner_principal

log = logging.getLogger("tasqyn.notify")

MAX_ATTEMPTS = 6
BACKOFF_S = 60.0  # first retry after a minute, then x4
SIGNATURE_HEADER = "X-Tasqyn-Signature"
TIMESTAMP_HEADER = "X-Tasqyn-Timestamp"


class DeliveryError(Exception):
    """A message that could not be delivered this time (the text is logged on the message)."""


def _env_bool(name: str, default: bool = False) -> bool:
    v = os.environ.get(name)
    return default if v is None else v.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class NotifySettings:
    """Where and how to send (from the TASQYN_* environment by default)."""

    public_url: str = "http://127.0.0.1:8000"
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "tasqyn@localhost"
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_timeout: float = 10.0
    webhook_timeout: float = 10.0
    apprise_timeout: float = 10.0

    @classmethod
    def from_env(cls, **overrides: Any) -> NotifySettings:
        e = os.environ.get
        values: dict[str, Any] = {
            "public_url": (e("TASQYN_PUBLIC_URL") or cls.public_url).rstrip("/"),
            "smtp_host": e("TASQYN_SMTP_HOST") or None,
            "smtp_port": int(e("TASQYN_SMTP_PORT") or 25),
            "smtp_user": e("TASQYN_SMTP_USER") or None,
            "smtp_password": e("TASQYN_SMTP_PASSWORD") or None,
            "smtp_from": e("TASQYN_SMTP_FROM") or cls.smtp_from,
            "smtp_starttls": _env_bool("TASQYN_SMTP_STARTTLS"),
            "smtp_ssl": _env_bool("TASQYN_SMTP_SSL"),
            "smtp_timeout": float(e("TASQYN_SMTP_TIMEOUT") or 10),
            "webhook_timeout": float(e("TASQYN_WEBHOOK_TIMEOUT") or 10),
            "apprise_timeout": float(e("TASQYN_APPRISE_TIMEOUT") or 10),
        }
        values.update(overrides)
        return cls(**values)


# --- composing ------------------------------------------------------------------------------------------------


@dataclass
class Outgoing:
    """A message ready to send: subject and text in the subscriber's language, the webhook's JSON payload, the
    attachment (the bulletin PDF) for e-mail."""

    message: NotificationMessage
    subscription: Subscription
    subject: str
    text: str
    payload: dict[str, Any]
    attachment: tuple[str, bytes] | None = None
    target: str = ""


def _level_name(level: int | None, lang: str) -> str:
    return i18n.level_name(level, lang) if level is not None else i18n.state_name("no_data", lang)


def compose(m: NotificationMessage, sub: Subscription, run: ForecastRun | None, settings: NotifySettings) -> Outgoing:
    """Subject, text and JSON payload of `m` in the subscription's language."""
    lang = m.lang
    level_name = _level_name(m.level, lang)
    subject = i18n.t(f"notify.subject.{m.kind}", lang, basin=m.basin_name, level=level_name)
    review = i18n.t(f"review.{run.review_status}", lang) if run is not None else ""
    lines = [subject, "", i18n.t("notify.issued", lang, date=i18n.format_date(m.issue_date, lang), review=review)]
    if m.level is None:
        lines.append(i18n.t("notify.no_data_body", lang))
    else:
        phrase = i18n.level_phrase(m.level, m.probability, m.first_date, lang)
        lines.append(phrase + ".")
    if m.previous is not None and m.previous != m.level:
        lines.append(i18n.t("notify.previous", lang, level=_level_name(m.previous, lang)))
    if m.reason:
        lines.append(i18n.t("notify.reason", lang, reason=m.reason))
    link = f"{settings.public_url}/basins/{m.basin_id}?issue_date={m.issue_date.isoformat()}&lang={lang}"
    bulletin = f"{settings.public_url}/api/v1/bulletins/{m.issue_date.isoformat()}.pdf?lang={lang}"
    lines += ["", i18n.t("notify.link", lang, url=link), i18n.t("notify.bulletin", lang, url=bulletin), ""]
    lines.append(i18n.t("notify.footer", lang, id=sub.id, owner=m.owner))
    text = "\n".join(lines)
    payload = {
        "event": m.kind,
        "basin_id": m.basin_id,
        "basin_name": m.basin_name,
        "level": m.level,
        "level_label": i18n.level_key(m.level) if m.level is not None else "no_data",
        "previous_level": m.previous,
        "probability": m.probability,
        "first_date": m.first_date.isoformat() if m.first_date else None,
        "issue_date": m.issue_date.isoformat(),
        "run_id": m.run_key,
        "review_status": run.review_status if run is not None else None,
        "reason": m.reason,
        "link": link,
        "bulletin": bulletin,
        "lang": lang,
        "text": text,
        "message_id": m.id,
        "subscription_id": sub.id,
    }
    target = (sub.channels or [])[m.channel_index]["target"] if m.channel_index < len(sub.channels or []) else ""
    return Outgoing(m, sub, subject, text, payload, target=target)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The webhook signature: `sha256=` + hex HMAC-SHA256 of `<timestamp>.<body>` with the subscription's secret."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, max_age_s: float = 300.0) -> bool:
    """What a receiver does (Python): the signature matches and the timestamp is recent."""
    try:
        fresh = abs(time.time() - float(timestamp)) <= max_age_s
    except ValueError:
        return False
    return fresh and hmac.compare_digest(sign(secret, timestamp, body), signature)


# --- channels -------------------------------------------------------------------------------------------------


class Channel:
    """A way to send: `send(out) -> detail` (e.g. the receiver's answer) or DeliveryError."""

    name = ""

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings

    def send(self, out: Outgoing) -> str:  # pragma: no cover - interface
        raise NotImplementedError


class EmailChannel(Channel):
    name = "email"

    def send(self, out: Outgoing) -> str:
        s = self.settings
        if not s.smtp_host:
            raise DeliveryError("no SMTP server configured (TASQYN_SMTP_HOST)")
        msg = EmailMessage()
        msg["From"] = s.smtp_from
        msg["To"] = out.target
        msg["Subject"] = out.subject
        msg["X-Tasqyn-Event"] = out.message.kind
        msg.set_content(out.text)
        if out.attachment is not None:
            name, data = out.attachment
            msg.add_attachment(data, maintype="application", subtype="pdf", filename=name)
        try:
            smtp_cls = smtplib.SMTP_SSL if s.smtp_ssl else smtplib.SMTP
            with smtp_cls(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout) as smtp:
                if s.smtp_starttls and not s.smtp_ssl:
                    smtp.starttls(context=ssl.create_default_context())
                if s.smtp_user:
                    smtp.login(s.smtp_user, s.smtp_password or "")
                refused = smtp.send_message(msg)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {s.smtp_host}:{s.smtp_port}: {type(exc).__name__}: {exc}") from exc
        if refused:
            raise DeliveryError(f"SMTP refused {', '.join(refused)}")
        return f"accepted by {s.smtp_host}:{s.smtp_port}"


class WebhookChannel(Channel):
    name = "webhook"

    def send(self, out: Outgoing) -> str:
        import httpx

        body = json.dumps({**out.payload, "sent_at": utcnow().isoformat()}, ensure_ascii=False).encode()
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Tasqyn-notify/1",
            "X-Tasqyn-Event": out.message.kind,
            "X-Tasqyn-Delivery": str(out.message.id),
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: sign(out.subscription.secret, stamp, body),
        }
        try:
            r = httpx.post(out.target, content=body, headers=headers, timeout=self.settings.webhook_timeout)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook: {type(exc).__name__}: {exc or 'no answer'}") from exc
        if not 200 <= r.status_code < 300:
            raise DeliveryError(f"webhook answered HTTP {r.status_code}: {r.text[:200]}")
        return f"HTTP {r.status_code}"


class AppriseChannel(Channel):
    name = "apprise"

    def send(self, out: Outgoing) -> str:
        import apprise

        url = out.target
        if "cto=" not in url and "rto=" not in url:  # connect and read timeouts of apprise's URL plugins
            t = int(self.settings.apprise_timeout)
            url += ("&" if "?" in url else "?") + f"cto={t}&rto={t}"
        app = apprise.Apprise()
        if not app.add(url):
            raise DeliveryError(f"apprise does not understand {out.message.target}")
        if not app.notify(body=out.text, title=out.subject):
            raise DeliveryError(f"apprise could not deliver to {out.message.target}")
        return "delivered by apprise"


CHANNELS: dict[str, type[Channel]] = {"email": EmailChannel, "webhook": WebhookChannel, "apprise": AppriseChannel}


# --- delivering -----------------------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    left: int = 0  # due but not tried (time budget used up)

    def summary(self) -> str:
        return f"{len(self.sent)} sent, {len(self.retrying)} to retry, {len(self.failed)} failed" + (
            f", {self.left} left for the next round" if self.left else ""
        )


def backoff(attempts: int) -> dt.timedelta:
    """Wait before attempt `attempts + 1`: 1, 4, 16, 64, ... minutes."""
    return dt.timedelta(seconds=BACKOFF_S * 4 ** max(attempts - 1, 0))


class Attachments:
    """The bulletin PDFs for e-mails, one per (run, language, basin scope) in a delivery round: the file the daily
    flow wrote for a full bulletin (written now if missing), rendered for a basin-limited subscriber."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self.cache: dict[tuple[str, str, tuple[str, ...] | None], tuple[str, bytes] | None] = {}

    def get(self, session: Session, m: NotificationMessage, sub: Subscription) -> tuple[str, bytes] | None:
        if self.root is None:
            return None
        principal = owner_principal(session, sub.owner_type, sub.owner)
        if principal is None:
            return None
        scope = tuple(sorted(principal.basins)) if principal.basins is not None else None
        key = (m.run_key, m.lang, scope)
        if key not in self.cache:
            self.cache[key] = self._make(session, m, principal)
        return self.cache[key]

    def _make(self, session: Session, m: NotificationMessage, principal: Any) -> tuple[str, bytes] | None:
        from bulletins import render
        from bulletins.files import bulletin_path, home_bulletin, write_once

        try:
            content = home_bulletin(self.root, session, m.issue_date, principal)
            if content.run_id != m.run_key:
                return None  # another run of the date is published now: its own messages carry it
            path = bulletin_path(self.root, content, m.lang, "pdf")
            if principal.basins is None and path.is_file():
                return path.name, path.read_bytes()
            data = render(content, "pdf", m.lang)
            if principal.basins is None:
                write_once(path, data)
            return path.name, data
        except Exception as exc:  # noqa: BLE001 (a message without its attachment is still sent)
            log.warning("no bulletin attached to message %s: %s: %s", m.id, type(exc).__name__, exc)
            return None


def deliver_one(
    session: Session,
    m: NotificationMessage,
    settings: NotifySettings,
    attachments: Attachments,
    now: dt.datetime | None = None,
) -> bool:
    """One delivery attempt of `m` (status, attempts, next attempt, error and the attempt log updated). True if
    delivered."""
    now = now or utcnow()
    sub = session.get(Subscription, m.subscription_id) if m.subscription_id is not None else None
    run = session.get(ForecastRun, m.run_id) if m.run_id is not None else None
    detail, ok = "", False
    if sub is None or sub.disabled:
        m.status, m.last_error = "failed", "the subscription was removed or disabled"
    else:
        try:
            out = compose(m, sub, run, settings)
            if m.channel == "email":
                out.attachment = attachments.get(session, m, sub)
            channel = CHANNELS.get(m.channel)
            if channel is None:
                raise DeliveryError(f"unknown channel {m.channel!r}")
            detail = channel(settings).send(out)
            ok = True
        except DeliveryError as exc:
            detail = str(exc)
        except Exception as exc:  # noqa: BLE001 (any failure of a channel is a failed attempt, never a crash)
            detail = f"{type(exc).__name__}: {exc}"
        m.attempts += 1
        if ok:
            m.status, m.sent_at, m.last_error, m.next_attempt_at = "sent", now, None, None
        elif m.attempts >= MAX_ATTEMPTS:
            m.status, m.last_error, m.next_attempt_at = "failed", detail[:2000], None
        else:
            m.status, m.last_error = "retrying", detail[:2000]
            m.next_attempt_at = now + backoff(m.attempts)
    m.attempt_log = [*(m.attempt_log or []), {"at": now.isoformat(), "ok": ok, "detail": detail[:500]}]
    level = logging.INFO if ok else logging.WARNING
    log.log(level, "notification %s (%s %s to %s, %s): %s", m.id, m.kind, m.basin_id, m.target, m.channel, detail)
    return ok


def deliver_due(
    factory: sessionmaker[Session],
    root: Path | None,
    settings: NotifySettings | None = None,
    budget_s: float = 60.0,
    now: dt.datetime | None = None,
) -> DeliveryReport:
    """Attempt every message whose time has come, committing after each, until `budget_s` seconds are used (each
    attempt is itself bounded by the channel's timeout). `root`: the home (bulletin attachments; None: none)."""
    settings = settings or NotifySettings.from_env()
    report = DeliveryReport()
    start = time.monotonic()
    attachments = Attachments(root)
    with factory() as session:
        due = [m.id for m in due_messages(session, now)]
    for k, mid in enumerate(due):
        if time.monotonic() - start > budget_s:
            report.left = len(due) - k
            break
        with factory() as session:
            m = session.get(NotificationMessage, mid)
            if m is None or m.status not in ("pending", "retrying"):
                continue
            deliver_one(session, m, settings, attachments, now)
            session.commit()
            {"sent": report.sent, "retrying": report.retrying, "failed": report.failed}[m.status].append(mid)
    return report
