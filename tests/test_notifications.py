"""Notifications (records.notifications, bulletins.notify, flows.outreach): the rules against noise, delivery to a
real SMTP server (aiosmtpd) and a real HTTP receiver on 127.0.0.1 that verifies the HMAC signature, apprise,
retries with back-off, the log, the runs page, the approval path and bad input.

Runs are published from the real observations of the Plessur (CH2185) and the Protva (PROTVA_SZ, no current data
in 2020) with synthetic forecasts whose growth is chosen to give the Plessur the level each step needs; then the
daily flow's notification task (`send_notifications`, without Prefect's orchestration) queues and delivers.
"""

from __future__ import annotations

import datetime as dt
import email
import hashlib
import hmac
import json
import threading
import time
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from records.notifications import NO_DATA, NotificationMessage, NotificationState, NotifyRules, decide
from tests.dashboard_support import (
    copy_home,
    free_port,
    prepared_store,
    publish_synthetic,
    session_factory,
    settings_for,
)

STATIONS = ["CH2185", "PROTVA_SZ"]
GRID = (1.0, 1.1, 1.15, 1.2, 1.25, 1.3, 1.35, 1.4, 1.5)
D = [dt.date(2020, 6, k) for k in range(1, 9)]


# --- the rules, alone -----------------------------------------------------------------------------------------


def run_rules(values: list[tuple[dt.date, int | None, str | None]], rules: NotifyRules = NotifyRules()) -> list:
    state = NotificationState(subscription_id=1, basin_id="B", announced=0)
    out = []
    for day, value, override in values:
        ev = decide(state, value, day, override, rules)
        out.append(None if ev is None else (ev.kind, ev.level))
    return out


def test_rules_against_noise():
    d = D
    assert run_rules([(d[0], 2, None), (d[1], 1, None), (d[2], 1, None)]) == [("rise", 2), None, ("fall", 1)]
    # a rerun of the same date is not a second date of the hold
    assert run_rules([(d[0], 2, None), (d[1], 1, None), (d[1], 1, None), (d[2], 1, None)]) == [
        ("rise", 2), None, None, ("fall", 1)
    ]  # fmt: skip
    # the same level twice: nothing; a rise while a fall is held: at once
    assert run_rules([(d[0], 1, None), (d[1], 1, None), (d[2], 0, None), (d[3], 3, None)]) == [
        ("rise", 1), None, None, ("rise", 3)
    ]  # fmt: skip
    # the fall announced is the highest level of the held dates; all clear after two normal dates
    assert run_rules([(d[0], 3, None), (d[1], 2, None), (d[2], 1, None), (d[3], 0, None), (d[4], 0, None)]) == [
        ("rise", 3), None, ("fall", 2), None, ("all_clear", 0)
    ]  # fmt: skip
    # an override is announced at once, also when it lowers the level
    assert run_rules([(d[0], 2, None), (d[1], 0, "gauge iced, reading false")]) == [("rise", 2), ("override", 0)]
    # no current data: once, never an all clear; the first level after it at once
    assert run_rules([(d[0], 2, None), (d[1], None, None), (d[2], None, None), (d[3], 0, None)]) == [
        ("rise", 2), ("no_data", None), None, ("data_restored", 0)
    ]  # fmt: skip
    # configurable hold
    three = NotifyRules(fall_runs=3, clear_runs=3)
    assert run_rules([(d[0], 2, None), (d[1], 1, None), (d[2], 1, None), (d[3], 1, None)], three) == [
        ("rise", 2), None, None, ("fall", 1)
    ]  # fmt: skip
    state = NotificationState(subscription_id=1, basin_id="B", announced=0)
    decide(state, None, d[0], None, NotifyRules())
    assert state.announced == NO_DATA


# --- real receivers -------------------------------------------------------------------------------------------


class Receiver:
    """An HTTP server on 127.0.0.1 that accepts webhook POSTs on /hook, verifies their signature with the secret of
    the subscription they name (computed here, independently of bulletins.notify; a bad one gets 401) and answers
    200, 500 or late, as `mode` says; /apprise takes apprise's unsigned JSON posts."""

    def __init__(self, port: int | None = None, secrets_: dict[int, str] | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.mode = "ok"
        self.secrets = dict(secrets_ or {})
        self.received: list[dict] = []
        self.apprise: list[dict] = []
        self.bad_signatures = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path.startswith("/apprise"):
                    outer.apprise.append(json.loads(body))
                    code = 200
                else:
                    secret = outer.secrets.get(json.loads(body).get("subscription_id"), "")
                    stamp = self.headers.get("X-Tasqyn-Timestamp", "")
                    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
                    ok = bool(secret) and hmac.compare_digest(
                        "sha256=" + mac.hexdigest(), self.headers.get("X-Tasqyn-Signature", "")
                    )
                    if outer.mode == "slow":
                        time.sleep(3)
                    if not ok:
                        outer.bad_signatures += 1
                    code = 500 if outer.mode == "500" else 200 if ok else 401
                    if code == 200:
                        outer.received.append(json.loads(body))
                try:
                    self.send_response(code)
                    self.end_headers()
                    self.wfile.write(b"ok" if code == 200 else b"no")
                except OSError:  # the client gave up (the timeout test)
                    pass

            def log_message(self, *a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    """A real SMTP server (aiosmtpd) on 127.0.0.1; refuses recipients while `refuse` is set."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[email.message.EmailMessage] = []
        self.refuse = False
        outer = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
                if outer.refuse:
                    return "550 5.1.1 mailbox unavailable"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):  # noqa: N802
                outer.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
                return "250 Message accepted"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()


@pytest.fixture()
def world(real_data, tmp_path, monkeypatch):
    """A home with the Plessur and the Protva, two subscribers (an akimat user on every basin by e-mail and
    webhook, in Kazakh; an API key limited to the Protva by webhook), a mailbox and a receiver."""
    from records import accounts
    from records.notifications import add_subscription

    home = copy_home(prepared_store(real_data, STATIONS), tmp_path / "home")
    settings = settings_for(home)
    factory = session_factory(settings)
    mailbox, receiver = Mailbox(), Receiver()
    monkeypatch.setenv("TASQYN_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TASQYN_SMTP_PORT", str(mailbox.port))
    monkeypatch.setenv("TASQYN_SMTP_FROM", "tasqyn@example.kz")
    monkeypatch.setenv("TASQYN_WEBHOOK_TIMEOUT", "1.5")
    monkeypatch.setenv("TASQYN_PUBLIC_URL", "https://tasqyn.example.kz")
    with factory() as s:
        accounts.add_user(s, "pavlodar", "a long enough password", "akimat")
        accounts.create_api_key(s, "protva-watch", "akimat", ["PROTVA_SZ"])
        everyone = add_subscription(
            s, "user", "pavlodar", None, 1, "kk", ["duty@akimat.example.kz"], [receiver.url], valid_basins=STATIONS
        )
        limited = add_subscription(s, "key", "protva-watch", None, 1, "en", [], [receiver.url], valid_basins=STATIONS)
        s.commit()
        secrets_ = {everyone.id: everyone.secret, limited.id: limited.secret}
    assert len(set(secrets_.values())) == 2 and all(len(x) == 64 for x in secrets_.values())
    receiver.secrets = secrets_  # the receiver knows each subscription's secret, as a real one would
    yield home, settings, factory, mailbox, receiver, secrets_, (everyone.id, limited.id)
    mailbox.close()
    receiver.close()


def publish_level(home, settings, day: dt.date, level: int, run_id: str, publish: bool = True) -> str:
    """Publish a run of `day` in which the Plessur has `level` (the growth that gives it is searched)."""
    from forecasting.risk import add_risk
    from forecasting.storage import open_store
    from forecasting.thresholds import station_thresholds
    from tests.synthetic import synthetic_forecast

    store = open_store(home.observations)
    thresholds, _ = station_thresholds(store)
    for g in GRID:
        fc = add_risk(synthetic_forecast(store, day, growth={"CH2185": g}), thresholds)
        if int(fc["station_level"].sel(station="CH2185")) == level:
            return publish_synthetic(home, settings, day, growth={"CH2185": g}, run_id=run_id, publish=publish)
    raise AssertionError(f"no growth gives level {level} on {day}")


def notify(home, settings, run_id: str, budget_s: float = 30.0) -> dict:
    """What the daily flow does after a publication (flows.outreach.send_notifications, run as a plain function)."""
    from flows.outreach import send_notifications

    return send_notifications.fn(str(home.root), settings.database_url, run_id, budget_s)


def messages(factory) -> list[NotificationMessage]:
    with factory() as s:
        return list(s.scalars(select(NotificationMessage).order_by(NotificationMessage.id)))


def test_rise_fall_override_rerun_and_basin_limited_subscriber(world):
    home, settings, factory, mailbox, receiver, secrets_, (everyone, limited) = world
    from records.review import Actor, apply_review

    # day 1: the Plessur rises to danger; the Protva has no current data
    r1 = publish_level(home, settings, D[0], 2, "run-d1")
    out = notify(home, settings, r1)
    assert out["sent"] == 5 and out["retrying"] == out["failed"] == 0, out
    assert receiver.bad_signatures == 0 and len(receiver.received) == 3  # every signature verified
    got = {(m.subscription_id, m.channel, m.basin_id, m.kind, m.level) for m in messages(factory)}
    assert got == {
        (everyone, "email", "CH2185", "rise", 2),
        (everyone, "webhook", "CH2185", "rise", 2),
        (everyone, "email", "PROTVA_SZ", "no_data", None),
        (everyone, "webhook", "PROTVA_SZ", "no_data", None),
        (limited, "webhook", "PROTVA_SZ", "no_data", None),  # only its basin: never the Plessur
    }
    assert {m.status for m in messages(factory)} == {"sent"}
    hooks = [p for p in receiver.received if p["subscription_id"] == everyone]
    rise = next(p for p in hooks if p["basin_id"] == "CH2185")
    assert rise["event"] == "rise" and rise["level"] == 2 and rise["level_label"] == "danger"
    assert 0 < rise["probability"] <= 1 and dt.date.fromisoformat(rise["first_date"]) > D[0]
    assert rise["link"] == f"https://tasqyn.example.kz/basins/CH2185?issue_date={D[0]}&lang=kk"
    assert rise["run_id"] == r1 and "Қауіпті" in rise["text"]
    mail = next(m for m in mailbox.messages if "CH2185" in m.get_body(("plain",)).get_content())
    assert mail["To"] == "duty@akimat.example.kz" and "Қауіпті" in mail["Subject"]
    pdf = [p for p in mail.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert len(pdf) == 1 and pdf[0].get_content()[:5] == b"%PDF-" and r1 in pdf[0].get_filename()
    n_mail, n_hooks = len(mailbox.messages), len(receiver.received)

    # the same run processed again (a retried task), and a rerun of day 1 with the same levels: nothing twice
    assert notify(home, settings, r1)["queued"] == 0
    r1b = publish_level(home, settings, D[0], 2, "run-d1-rerun")
    assert notify(home, settings, r1b)["queued"] == 0
    # day 2: it falls to warning: held one run, no message
    assert notify(home, settings, publish_level(home, settings, D[1], 1, "run-d2"))["queued"] == 0
    # day 3: still warning: the fall has held two runs: announced
    r3 = publish_level(home, settings, D[2], 1, "run-d3")
    assert notify(home, settings, r3)["queued"] == 2
    fall = [m for m in messages(factory) if m.kind == "fall"]
    assert {(m.channel, m.level, m.previous) for m in fall} == {("email", 1, 2), ("webhook", 1, 2)}
    # a hydrologist overrides the Plessur on the published day-3 run to extreme, with a reason
    with factory() as s:
        apply_review(s, D[2], Actor("aigul", "hydrologist"), "override", station_id="CH2185", level=3,
                     reason="ice jam reported at Chur")  # fmt: skip
        s.commit()
    from bulletins.notify import deliver_due

    deliver_due(factory, home.root)
    over = [m for m in messages(factory) if m.kind == "override"]
    assert {(m.channel, m.level, m.status) for m in over} == {("email", 3, "sent"), ("webhook", 3, "sent")}
    hook = next(p for p in receiver.received if p["event"] == "override")
    assert "ice jam reported at Chur" in hook["reason"] and hook["previous_level"] == 1
    # the Protva's "no current data" is never repeated, never turned into an all clear
    assert len([m for m in messages(factory) if m.basin_id == "PROTVA_SZ"]) == 3
    # back to normal: an all clear after two normal days
    assert notify(home, settings, publish_level(home, settings, D[3], 0, "run-d4"))["queued"] == 0
    assert notify(home, settings, publish_level(home, settings, D[4], 0, "run-d5"))["queued"] == 2
    assert {m.kind for m in messages(factory)[-2:]} == {"all_clear"}
    assert len(mailbox.messages) == n_mail + 3 and len(receiver.received) == n_hooks + 3
    # a late run of an older date sends nothing
    assert notify(home, settings, publish_level(home, settings, D[1], 3, "run-d2-late"))["queued"] == 0
    # every message is logged: who, what, when, channel, status
    for m in messages(factory):
        assert m.owner in ("user:pavlodar", "key:protva-watch") and m.created_at and m.status == "sent"
        assert m.attempts == 1 and m.attempt_log[0]["ok"] is True and m.sent_at is not None


def test_drafts_send_nothing_until_approved(world):
    home, settings, factory, mailbox, receiver, _, _ = world
    from records.accounts import create_api_key
    from service.app import create_app

    rid = publish_level(home, settings, D[0], 3, "draft-d1", publish=False)
    assert notify(home, settings, rid)["queued"] == 0 and messages(factory) == []
    with factory() as s:
        key, _ = create_api_key(s, "hydro", "hydrologist")
        s.commit()
    with TestClient(create_app(settings)) as c:
        r = c.post(
            f"/api/v1/forecasts/{D[0]}/review", json={"action": "approve"}, headers={"Authorization": f"Bearer {key}"}
        )
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len([m for m in messages(factory) if m.status == "sent"]) < 5:
            time.sleep(0.2)
    kinds = {(m.basin_id, m.kind, m.level, m.status) for m in messages(factory)}
    assert ("CH2185", "rise", 3, "sent") in kinds and ("PROTVA_SZ", "no_data", None, "sent") in kinds
    assert any(p.get("event") == "rise" and p["level"] == 3 for p in receiver.received)


def test_receiver_down_is_retried_with_backoff_logged_and_shown(world):
    home, settings, factory, mailbox, receiver, secrets_, (everyone, _) = world
    from bulletins.notify import deliver_due
    from records.accounts import create_api_key
    from records.notifications import Subscription
    from service.app import create_app

    down_port = free_port()  # nothing listens here
    with factory() as s:
        for sub in s.scalars(select(Subscription)):
            sub.channels = [{"type": "webhook", "target": f"http://127.0.0.1:{down_port}/hook"}]
        s.commit()
    rid = publish_level(home, settings, D[0], 2, "run-down")
    t0 = time.monotonic()
    out = notify(home, settings, rid)
    assert time.monotonic() - t0 < 20  # the run is not held up by a channel that is down
    assert out["sent"] == 0 and out["retrying"] == 3, out
    ms = messages(factory)
    assert all(m.status == "retrying" and m.attempts == 1 and "ConnectError" in m.last_error for m in ms)
    first = ms[0].next_attempt_at.replace(tzinfo=dt.UTC) - dt.datetime.fromisoformat(ms[0].attempt_log[0]["at"])
    assert dt.timedelta(seconds=55) <= first <= dt.timedelta(seconds=65)  # back-off: a minute
    # not due yet: nothing is tried
    assert deliver_due(factory, home.root).sent == [] and messages(factory)[0].attempts == 1
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)
    deliver_due(factory, home.root, now=later)
    ms = messages(factory)
    assert all(m.attempts == 2 and m.status == "retrying" for m in ms)
    gap = ms[0].next_attempt_at.replace(tzinfo=dt.UTC) - later
    assert dt.timedelta(minutes=3, seconds=55) <= gap <= dt.timedelta(minutes=4, seconds=5)  # then 4 minutes
    # the runs page shows the failed deliveries to reviewers
    with factory() as s:
        key, _ = create_api_key(s, "hydro", "hydrologist")
        s.commit()
    with TestClient(create_app(settings)) as c:
        page = c.get("/runs?lang=en", headers={"Authorization": f"Bearer {key}"}).text
        assert "Notifications not delivered" in page and "will be retried" in page and "ConnectError" in page
        assert "deliveries-table" not in c.get("/runs?lang=en").text  # not shown to the public
    # the receiver comes back: the next due attempt delivers
    back = Receiver(down_port, secrets_)
    try:
        deliver_due(factory, home.root, now=later + dt.timedelta(minutes=10))
    finally:
        back.close()
    ms = messages(factory)
    assert all(m.status == "sent" and m.attempts == 3 for m in ms)
    assert [e["ok"] for e in ms[0].attempt_log] == [False, False, True]
    assert len(back.received) == 3 and back.bad_signatures == 0


def test_webhook_500_timeout_and_smtp_refusal_are_logged_failures(world, monkeypatch):
    home, settings, factory, mailbox, receiver, _, _ = world
    from bulletins import notify as notify_module
    from bulletins.notify import deliver_due

    monkeypatch.setattr(notify_module, "MAX_ATTEMPTS", 3)
    MAX_ATTEMPTS = 3

    receiver.mode = "500"
    mailbox.refuse = True
    notify(home, settings, publish_level(home, settings, D[0], 2, "run-errors"))
    ms = messages(factory)
    hooks = [m for m in ms if m.channel == "webhook"]
    mails = [m for m in ms if m.channel == "email"]
    assert hooks and all(m.status == "retrying" and "HTTP 500" in m.last_error for m in hooks)
    assert mails and all(m.status == "retrying" and "550" in m.last_error for m in mails)
    receiver.mode = "slow"  # answers after 3 s; the webhook timeout is 1.5 s
    now = dt.datetime.now(dt.UTC)
    for _ in range(1, MAX_ATTEMPTS):
        now += dt.timedelta(days=1)
        deliver_due(factory, home.root, now=now)
    ms = messages(factory)
    assert all(m.status == "failed" and m.attempts == MAX_ATTEMPTS for m in ms)
    assert all("ReadTimeout" in m.last_error for m in ms if m.channel == "webhook")


def test_apprise_channel_delivers_offline_to_a_local_json_endpoint(world):
    home, settings, factory, mailbox, receiver, _, _ = world
    from records.notifications import Subscription

    port = receiver.port
    with factory() as s:
        for sub in s.scalars(select(Subscription)):
            sub.channels = [{"type": "apprise", "target": f"json://127.0.0.1:{port}/apprise"}]
        s.commit()
    notify(home, settings, publish_level(home, settings, D[0], 2, "run-apprise"))
    ms = messages(factory)
    assert len(ms) == 3 and all(m.channel == "apprise" and m.status == "sent" for m in ms)
    assert all(m.target.startswith("json://") and "127.0.0.1" not in m.target for m in ms)  # shown redacted
    titles = sorted(p["title"] for p in receiver.apprise)
    assert len(titles) == 3 and any("Қауіпті" in t for t in titles) and any("no current data" in t for t in titles)


# --- bad input ------------------------------------------------------------------------------------------------


def test_bad_subscriptions_are_refused_with_a_clear_message(world):
    home, settings, factory, *_ = world
    from flows.cli import app
    from records.notifications import SubscriptionError, add_subscription

    cases = [
        (dict(emails=["not-an-address"]), "invalid e-mail address 'not-an-address'"),
        (dict(emails=["a@b"]), "invalid e-mail address 'a@b'"),
        (dict(webhooks=["ftp://example.kz/x"]), "invalid webhook URL 'ftp://example.kz/x'"),
        (dict(webhooks=["http:///nohost"]), "invalid webhook URL"),
        (dict(apprise_urls=["nonsense://x"]), "invalid apprise URL 'nonsense://x'"),
        (dict(basins=["ATLANTIS"], emails=["a@b.kz"]), "unknown basin 'ATLANTIS'"),
        (dict(min_level=5, emails=["a@b.kz"]), "minimum level must be 1 (warning), 2 (danger) or 3 (extreme)"),
        (dict(lang="de", emails=["a@b.kz"]), "unsupported language 'de'"),
        (dict(), "at least one channel"),
    ]
    with factory() as s:
        for kwargs, message in cases:
            with pytest.raises(SubscriptionError, match=message.replace("(", r"\(").replace(")", r"\)")):
                add_subscription(s, "user", "pavlodar", valid_basins=STATIONS, **kwargs)
        with pytest.raises(SubscriptionError, match="no user named 'nobody'"):
            add_subscription(s, "user", "nobody", emails=["a@b.kz"])
        with pytest.raises(SubscriptionError, match="key 'protva-watch' may not read basin 'CH2185'"):
            add_subscription(s, "key", "protva-watch", ["CH2185"], emails=["a@b.kz"], valid_basins=STATIONS)
    runner = CliRunner()
    base = ["subscriptions", "add", "--home", str(home.root), "--user", "pavlodar"]
    bad = runner.invoke(app, [*base, "--email", "x@", "--basin", "CH2185"])
    assert bad.exit_code == 1 and "invalid e-mail address 'x@'" in bad.output
    bad = runner.invoke(app, [*base, "--webhook", "localhost:9000"])
    assert bad.exit_code == 1 and "invalid webhook URL" in bad.output
    bad = runner.invoke(app, [*base, "--email", "a@b.kz", "--basin", "NOWHERE"])
    assert bad.exit_code == 1 and "unknown basin 'NOWHERE'" in bad.output
    ok = runner.invoke(app, [*base, "--webhook", "https://hooks.example.kz/tasqyn", "--basin", "CH2185"])
    assert ok.exit_code == 0 and "subscription 3 added" in ok.output
    listed = runner.invoke(app, ["subscriptions", "list", "--home", str(home.root)])
    assert "hooks.example.kz" in listed.output and "CH2185" in listed.output
    assert runner.invoke(app, ["subscriptions", "remove", "3", "--home", str(home.root)]).exit_code == 0
    gone = runner.invoke(app, ["subscriptions", "remove", "3", "--home", str(home.root)])
    assert gone.exit_code == 1 and "no subscription 3" in gone.output


def test_admin_page_lists_and_adds_subscriptions(world):
    home, settings, factory, *_ = world
    import re

    from records.accounts import create_api_key
    from service.app import create_app

    with factory() as s:
        admin, _ = create_api_key(s, "root", "admin")
        akimat, _ = create_api_key(s, "ak", "akimat")
        s.commit()
    with TestClient(create_app(settings)) as c:
        h = {"Authorization": f"Bearer {admin}"}
        page = c.get("/admin/subscriptions?lang=ru", headers=h)
        assert page.status_code == 200 and "Подписки на уведомления" in page.text and "user:pavlodar" in page.text
        assert "duty@akimat.example.kz" in page.text and "/hook" in page.text
        assert c.get("/admin/subscriptions", headers={"Authorization": f"Bearer {akimat}"}).status_code == 403
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        form = {"csrf_token": token, "owner_type": "user", "owner": "pavlodar", "basins": "CH2185", "min_level": "2",
                "lang": "en", "emails": "bad@", "webhooks": "", "apprise_urls": ""}  # fmt: skip
        r = c.post("/admin/subscriptions", data=form, headers=h, follow_redirects=True)
        assert "invalid e-mail address" in r.text
        form["emails"] = "flood@akimat.example.kz"
        r = c.post("/admin/subscriptions", data=form, headers=h, follow_redirects=True)
        assert "Subscription 3 added" in r.text or "Подписка 3 добавлена" in r.text
