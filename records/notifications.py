"""Notifications of published flood risk: subscriptions, the rules against noise, and the message log.

A **subscription** belongs to a user or to an API key's owner (its basin scope limits what it can receive): basins
(none: every basin the owner may read), a minimum level (1 warning, 2 danger, 3 extreme), a language (kk, ru, en)
and channels (e-mail addresses, webhook URLs signed with the subscription's secret, apprise URLs such as
`tgram://...`). Messages are decided here when a run is **published** (`publication_event`: the daily flow's
publication, a hydrologist's approval, an automatic publication after the review deadline, an override on a
published run), queued in `notification_messages`, and delivered outside the run by bulletins.notify (retried with
back-off; every attempt is logged).

Rules, per subscription and basin, on the basin's published level (the reviewer's override where there is one),
where a level below the subscription's minimum counts as normal (0):

1. A **rise** above the last announced level is announced at once.
2. A **fall** is announced only after it has held for `fall_runs` consecutive issue dates (default 2): the level
   announced is the highest of those dates. A rerun of an issue date is not another date.
3. The **same level** is never announced twice.
4. An **override** that changes the published level is announced at once (rise or fall) with its reason.
5. **All clear** (back to normal) is a fall to 0: announced after `clear_runs` consecutive dates at normal
   (default 2).
6. **No current data** (the basin has no station with a current level): it is not "normal". It is announced once,
   at once, whatever was announced before; it never leads to an "all clear". The first level after it is
   announced at once ("data restored", with the level, normal included), because the last message said the level
   is unknown.
7. Only the newest issue date counts: a run of an older date than one already processed (a late approval) sends
   nothing. A run processed again (a retried task, an approval after the flow) sends nothing new.

Nothing is sent for drafts. Every message is one row per subscription, channel and basin event (who, what, when,
channel, status, attempts, last error); a unique key makes a second processing of the same event a no-op.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from records.accounts import Principal
from records.db import ApiKey, Base, BasinLevel, ForecastRun, User, utcnow

log = logging.getLogger("tasqyn.notifications")

LANGS = ("ru", "kk", "en")
CHANNELS = ("email", "webhook", "apprise")
KINDS = ("rise", "fall", "all_clear", "override", "no_data", "data_restored")
NO_DATA = -1  # the announced value of "no current data"
STATUSES = ("pending", "retrying", "sent", "failed")
EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)  # noqa: E501


# --- tables ---------------------------------------------------------------------------------------------------


class Subscription(Base):
    """Who is told what and how (see the module docstring)."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner_type: Mapped[str] = mapped_column(String(8), nullable=False)  # user | key
    owner: Mapped[str] = mapped_column(String(128), index=True, nullable=False)  # user name or key name
    basins: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)  # None: every basin the owner may read
    min_level: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=1)
    lang: Mapped[str] = mapped_column(String(2), nullable=False, default="ru")
    channels: Mapped[list[Any]] = mapped_column(JSON, nullable=False)  # [{"type": "email", "target": "..."}]
    secret: Mapped[str] = mapped_column(String(64), nullable=False)  # HMAC-SHA256 key of its webhooks
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class NotificationState(Base):
    """What a subscription was last told of a basin, and a fall being held (the rules' memory)."""

    __tablename__ = "notification_states"
    __table_args__ = (UniqueConstraint("subscription_id", "basin_id", name="uq_notification_states_sub_basin"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True)
    basin_id: Mapped[str] = mapped_column(String(64), nullable=False)
    announced: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=0)  # 0-3, or NO_DATA
    pending_dates: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)  # issue dates of a held fall
    pending_level: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)  # highest level while held
    last_issue_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    last_run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_value: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)  # the level seen last (NO_DATA)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class NotificationMessage(Base):
    """One message to one channel of a subscription about one basin event, and its delivery (the log)."""

    __tablename__ = "notification_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="SET NULL"), index=True, nullable=True
    )
    owner: Mapped[str] = mapped_column(String(140), nullable=False)  # "user:aigul" | "key:akimat-pavlodar"
    channel: Mapped[str] = mapped_column(String(16), nullable=False)  # email | webhook | apprise
    channel_index: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    target: Mapped[str] = mapped_column(Text, nullable=False)  # shown: an address, a URL without its secrets
    run_id: Mapped[int | None] = mapped_column(ForeignKey("forecast_runs.id", ondelete="SET NULL"), index=True)
    run_key: Mapped[str] = mapped_column(String(64), nullable=False)  # the run's run_id
    issue_date: Mapped[dt.date] = mapped_column(Date, index=True, nullable=False)
    basin_id: Mapped[str] = mapped_column(String(64), nullable=False)
    basin_name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # KINDS
    level: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)  # None: no current data
    previous: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)  # what was announced before
    probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    first_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    lang: Mapped[str] = mapped_column(String(2), nullable=False)
    status: Mapped[str] = mapped_column(String(16), index=True, nullable=False, default="pending")  # STATUSES
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempt_log: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)  # [{"at", "ok", "detail"}]
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


# --- subscriptions --------------------------------------------------------------------------------------------


class SubscriptionError(ValueError):
    """A subscription that cannot be made (the message says which field and why)."""


def check_email(address: str) -> str:
    a = (address or "").strip()
    if len(a) > 254 or not EMAIL.match(a):
        raise SubscriptionError(f"invalid e-mail address {address!r} (expected name@domain.tld)")
    return a


def check_webhook_url(url: str) -> str:
    u = (url or "").strip()
    parts = urlsplit(u)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in u) or len(u) > 2000:
        raise SubscriptionError(f"invalid webhook URL {url!r} (expected http(s)://host/path)")
    return u


def check_apprise_url(url: str) -> str:
    """An apprise URL (tgram://token/chat, ...) that apprise understands (checked offline, nothing is sent)."""
    import apprise

    u = (url or "").strip()
    if not u or not apprise.Apprise().add(u):
        raise SubscriptionError(f"invalid apprise URL {url!r} (e.g. tgram://bottoken/chat_id; see apprise's list)")
    return u


def redact(url: str) -> str:
    """A URL as shown in logs and pages: scheme, host and path, without user, password, token or query."""
    parts = urlsplit(url)
    if not parts.scheme:
        return url
    host = parts.hostname or ""
    if parts.scheme in ("http", "https"):
        return f"{parts.scheme}://{host}{':' + str(parts.port) if parts.port else ''}{parts.path}"
    return f"{parts.scheme}://{host[:3]}…"


def owner_principal(session: Session, owner_type: str, owner: str) -> Principal | None:
    """The owner as a principal (its role and basin scope), None if the user is gone or disabled or the key is
    revoked."""
    if owner_type == "user":
        user = session.scalars(select(User).where(User.username == owner)).first()
        if user is None or user.disabled:
            return None
        return Principal(user.username, user.role, frozenset(user.basins) if user.basins else None, "session")
    if owner_type == "key":
        key = session.scalars(select(ApiKey).where(ApiKey.name == owner, ApiKey.revoked_at.is_(None))).first()
        if key is None:
            return None
        return Principal(key.name, key.role, frozenset(key.basins) if key.basins else None, "key")
    return None


def known_basins(session: Session, extra: Iterable[str] = ()) -> set[str]:
    """Basins of any recorded run, and `extra` (e.g. the store's)."""
    return set(session.scalars(select(BasinLevel.basin_id).distinct())) | set(extra)


def add_subscription(
    session: Session,
    owner_type: str,
    owner: str,
    basins: Iterable[str] | None = None,
    min_level: int = 1,
    lang: str = "ru",
    emails: Iterable[str] = (),
    webhooks: Iterable[str] = (),
    apprise_urls: Iterable[str] = (),
    valid_basins: Iterable[str] | None = None,
    created_by: str | None = None,
) -> Subscription:
    """Create a subscription after checking every field; raises SubscriptionError naming the bad one. `valid_basins`
    (default: records.notifications.known_basins) are the basins a subscription may name. The webhook secret is
    generated here (shown once by the caller)."""
    if owner_type not in ("user", "key"):
        raise SubscriptionError(f"owner type must be 'user' or 'key', not {owner_type!r}")
    principal = owner_principal(session, owner_type, owner)
    if principal is None:
        what = "user" if owner_type == "user" else "active API key"
        raise SubscriptionError(f"no {what} named {owner!r}")
    try:
        level = int(min_level)
    except (TypeError, ValueError):
        raise SubscriptionError(f"minimum level must be 1, 2 or 3, not {min_level!r}") from None
    if level not in (1, 2, 3):
        raise SubscriptionError(f"minimum level must be 1 (warning), 2 (danger) or 3 (extreme), not {min_level!r}")
    if lang not in LANGS:
        raise SubscriptionError(f"unsupported language {lang!r}: use one of {', '.join(LANGS)}")
    wanted = sorted({b.strip() for b in basins or [] if b and b.strip()}) or None
    if wanted is not None:
        valid = set(valid_basins) if valid_basins is not None else known_basins(session)
        unknown = [b for b in wanted if b not in valid]
        if unknown:
            raise SubscriptionError(f"unknown basin {unknown[0]!r} (known: {', '.join(sorted(valid)) or 'none yet'})")
        denied = [b for b in wanted if not principal.can_read_basin(b)]
        if denied:
            raise SubscriptionError(f"{owner_type} {owner!r} may not read basin {denied[0]!r}")
    channels = (
        [{"type": "email", "target": check_email(e)} for e in emails]
        + [{"type": "webhook", "target": check_webhook_url(u)} for u in webhooks]
        + [{"type": "apprise", "target": check_apprise_url(u)} for u in apprise_urls]
    )
    if not channels:
        raise SubscriptionError("a subscription needs at least one channel (an e-mail, a webhook or an apprise URL)")
    sub = Subscription(
        owner_type=owner_type,
        owner=owner,
        basins=wanted,
        min_level=level,
        lang=lang,
        channels=channels,
        secret=secrets.token_hex(32),
        created_by=created_by,
    )
    session.add(sub)
    session.flush()
    return sub


def list_subscriptions(session: Session) -> list[Subscription]:
    return list(session.scalars(select(Subscription).order_by(Subscription.id)))


def remove_subscription(session: Session, subscription_id: int) -> Subscription:
    sub = session.get(Subscription, subscription_id)
    if sub is None:
        raise SubscriptionError(f"no subscription {subscription_id}")
    session.delete(sub)
    session.flush()
    return sub


# --- the rules ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotifyRules:
    """How long a fall (or a return to normal) must hold before it is announced, in consecutive issue dates."""

    fall_runs: int = 2
    clear_runs: int = 2


@dataclass(frozen=True)
class Event:
    kind: str
    level: int | None
    previous: int | None
    reason: str | None = None


def decide(
    state: NotificationState, value: int | None, issue: dt.date, override: str | None, rules: NotifyRules
) -> Event | None:  # noqa: E501
    """Apply the rules (module docstring) to one subscription-basin `state` for the published value of one run
    (`value`: the level as this subscription sees it, None for no current data; `override`: the reason when the
    level is a reviewer's). Updates `state`; returns the event to announce or None."""
    announced = state.announced
    pending = [dt.date.fromisoformat(d) for d in (state.pending_dates or [])]

    def settle(kind: str, level: int | None, reason: str | None = None) -> Event:
        state.announced = NO_DATA if level is None else level
        state.pending_dates, state.pending_level = None, None
        return Event(kind, level, None if announced == NO_DATA else announced, reason)

    if value is None:
        if announced == NO_DATA:
            return None
        return settle("no_data", None)
    if announced == NO_DATA:
        return settle("data_restored", value)
    if override is not None and value != announced:
        return settle("override", value, override)
    if value > announced:
        return settle("rise", value)
    if value == announced:
        state.pending_dates, state.pending_level = None, None
        return None
    was_held = bool(pending) and state.pending_level is not None
    if issue not in pending:
        pending.append(issue)
    held = max(value, state.pending_level) if was_held else value
    state.pending_dates = sorted(d.isoformat() for d in pending)
    state.pending_level = held
    need = rules.clear_runs if held == 0 else rules.fall_runs
    if len(pending) >= need:
        return settle("all_clear" if held == 0 else "fall", held)
    return None


def _newest_published(session: Session, issue_date: dt.date) -> ForecastRun | None:
    return session.scalars(
        select(ForecastRun)
        .where(
            ForecastRun.issue_date == issue_date,
            ForecastRun.status == "success",
            ForecastRun.published_at.is_not(None),
        )
        .order_by(ForecastRun.published_at.desc(), ForecastRun.id.desc())
        .limit(1)
    ).first()


def publication_event(
    session: Session,
    run: ForecastRun,
    rules: NotifyRules | None = None,
    regions_of: Callable[[str], frozenset[str]] | None = None,
) -> list[NotificationMessage]:
    """Decide and queue the messages a publication of `run` (or a change of its published levels) causes, for
    every subscription (module docstring). Nothing for a draft, a failed run, or a run that is not the published
    one of its date. Flushes; the caller commits. Returns the messages queued."""
    rules = rules or NotifyRules()
    if run.status != "success" or run.published_at is None:
        return []
    newest = _newest_published(session, run.issue_date)
    if newest is None or newest.id != run.id:
        return []
    session.flush()
    basins = list(session.scalars(select(BasinLevel).where(BasinLevel.run_id == run.id)))
    queued: list[NotificationMessage] = []
    for sub in session.scalars(select(Subscription).where(Subscription.disabled.is_(False))):
        principal = owner_principal(session, sub.owner_type, sub.owner)
        if principal is None:
            continue
        if regions_of is not None and principal.basins is not None:
            principal = Principal(principal.name, principal.role, principal.basins, principal.via, regions_of)
        for b in basins:
            if sub.basins is not None and b.basin_id not in sub.basins:
                continue
            if not principal.can_read_basin(b.basin_id):
                continue
            queued += _one(session, sub, run, b, rules)
    session.flush()
    return queued


def _one(
    session: Session, sub: Subscription, run: ForecastRun, b: BasinLevel, rules: NotifyRules
) -> list[NotificationMessage]:
    state = session.scalars(
        select(NotificationState).where(
            NotificationState.subscription_id == sub.id, NotificationState.basin_id == b.basin_id
        )
    ).first()
    if state is None:
        state = NotificationState(subscription_id=sub.id, basin_id=b.basin_id, announced=0)
        session.add(state)
    if state.last_issue_date is not None and run.issue_date < state.last_issue_date:
        return []  # older news than what this subscription already got
    level = b.effective_level
    value = None if level is None else (level if level >= sub.min_level else 0)
    seen = NO_DATA if value is None else value
    if state.last_run_id == run.id and state.last_value == seen:
        return []  # this run, as it is, was processed already
    override = b.override_reason or "" if b.override_level is not None else None
    event = decide(state, value, run.issue_date, override, rules)
    state.last_issue_date, state.last_run_id, state.last_value = run.issue_date, run.id, seen
    state.updated_at = utcnow()
    if event is None:
        return []
    out = []
    for k, ch in enumerate(sub.channels or []):
        key = f"{sub.id}:{k}:{b.basin_id}:{run.issue_date.isoformat()}:{event.kind}:{event.level}"
        msg = NotificationMessage(
            dedupe_key=key[:255],
            subscription_id=sub.id,
            owner=f"{sub.owner_type}:{sub.owner}",
            channel=ch["type"],
            channel_index=k,
            target=ch["target"] if ch["type"] == "email" else redact(ch["target"]),
            run_id=run.id,
            run_key=run.run_id,
            issue_date=run.issue_date,
            basin_id=b.basin_id,
            basin_name=b.name or b.basin_id,
            kind=event.kind,
            level=event.level,
            previous=event.previous,
            probability=b.probability if event.level else None,
            first_date=b.first_date if event.level else None,
            reason=event.reason,
            lang=sub.lang,
            status="pending",
            next_attempt_at=utcnow(),
        )
        try:
            with session.begin_nested():
                session.add(msg)
        except IntegrityError:  # the same event was queued by another process meanwhile
            continue
        out.append(msg)
    return out


def safe_publication_event(session: Session, run: ForecastRun, **kw: Any) -> int:
    """publication_event in a savepoint: an error is logged and never fails the publication. Returns the number
    of messages queued."""
    try:
        with session.begin_nested():
            return len(publication_event(session, run, **kw))
    except Exception as exc:  # noqa: BLE001 (a notification problem never blocks a publication)
        log.warning("notifications of run %s not queued: %s: %s", run.run_id, type(exc).__name__, exc)
        return 0


# --- the log --------------------------------------------------------------------------------------------------


def due_messages(session: Session, now: dt.datetime | None = None, limit: int = 200) -> list[NotificationMessage]:
    """Messages waiting for a (next) delivery attempt whose time has come, oldest first."""
    now = now or utcnow()
    rows = session.scalars(
        select(NotificationMessage)
        .where(NotificationMessage.status.in_(("pending", "retrying")))
        .order_by(NotificationMessage.id)
        .limit(limit)
    )
    return [m for m in rows if m.next_attempt_at is None or _aware(m.next_attempt_at) <= now]


def failed_messages(session: Session, limit: int = 50) -> list[NotificationMessage]:
    """Deliveries that failed or wait for a retry, newest first (for the runs page)."""
    return list(
        session.scalars(
            select(NotificationMessage)
            .where(NotificationMessage.status.in_(("retrying", "failed")))
            .order_by(NotificationMessage.id.desc())
            .limit(limit)
        )
    )


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
