"""The daily flow end to end on real stations (the Plessur and the Protva, in the excerpt too): after publication
it writes the bulletins into the home and sends the notifications as Prefect tasks; a receiver that is down is
retried and logged while the run succeeds; a rerun of the issue date sends nothing twice and overwrites no file."""

from __future__ import annotations

import datetime as dt
import io
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.dashboard_support import free_port
from tests.test_notifications import Mailbox

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


def _subset(real_data: Path, dst: Path, stations: dict[str, str | None]) -> Path:
    import pandas as pd

    dst.mkdir(parents=True)
    table = pd.read_csv(real_data / "stations.csv", dtype=str)
    table[table["station_id"].isin(stations)].to_csv(dst / "stations.csv", index=False)
    for sid, start in stations.items():
        lines = (real_data / f"{sid}.csv").read_text().splitlines()
        keep = [lines[0]] + [x for x in lines[1:] if start is None or x[:10] >= start]
        (dst / f"{sid}.csv").write_text("\n".join(keep) + "\n")
    return dst


def test_daily_flow_writes_bulletins_and_notifies_once(prefect_harness, real_data, tmp_path, monkeypatch):
    import openpyxl
    from pypdf import PdfReader

    from bulletins.text import Words
    from flows.cli import app
    from flows.forecast import forecast_flow
    from records import accounts
    from records.db import ForecastRun, open_database
    from records.notifications import NotificationMessage, add_subscription

    data = _subset(real_data, tmp_path / "data", {"CH2185": "2012-01-01", "PROTVA_SZ": None})
    home = tmp_path / "h"
    res = CliRunner().invoke(app, ["demo", "--no-serve", "--no-backtest", "--data", str(data), "--home", str(home)])
    assert res.exit_code == 0, res.output
    folders = list((home / "bulletins").iterdir())
    assert len(folders) == 1  # the demo's publication wrote its bulletins
    issue = folders[0].name
    first = sorted(p.name for p in folders[0].iterdir())
    assert len(first) == 9 and all(n.endswith((".pdf", ".xlsx", ".html")) for n in first)
    first_bytes = {n: (folders[0] / n).read_bytes() for n in first}

    mailbox = Mailbox()
    down = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens: the channel is down
    monkeypatch.setenv("TASQYN_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TASQYN_SMTP_PORT", str(mailbox.port))
    monkeypatch.setenv("TASQYN_WEBHOOK_TIMEOUT", "2")
    engine, factory = open_database(f"sqlite:///{home / 'tasqyn.db'}")
    try:
        with factory() as s:
            accounts.add_user(s, "duty", "a long enough password", "akimat")
            add_subscription(s, "user", "duty", None, 1, "ru", ["duty@akimat.example.kz"], [down])
            s.commit()
        t0 = time.monotonic()
        out = forecast_flow(issue_date=issue, home=str(home), ingest=False, publish=True)
        took = time.monotonic() - t0
        n = out["outreach"]["notifications"]
        assert n["queued"] >= 2 and n["sent"] >= 1 and n["retrying"] >= 1, out["outreach"]
        with factory() as s:
            run = s.scalars(select(ForecastRun).where(ForecastRun.run_id == out["run_id"])).one()
            assert run.status == "success" and run.published_at is not None  # the run succeeded
            msgs = list(s.scalars(select(NotificationMessage)))
        hooks = [m for m in msgs if m.channel == "webhook"]
        assert hooks and all(m.status == "retrying" and "ConnectError" in m.last_error for m in hooks)
        assert all(m.status == "sent" for m in msgs if m.channel == "email")
        assert {m.basin_id for m in msgs} >= {"PROTVA_SZ"}  # no current data: announced, never normal
        assert len(mailbox.messages) == len([m for m in msgs if m.channel == "email"])
        print(f"daily flow with a channel down: {took:.1f} s")

        # a rerun of the same issue date: new bulletin files beside the old ones, nothing sent twice
        again = forecast_flow(issue_date=issue, home=str(home), ingest=False, publish=True)
        assert again["run_id"] != out["run_id"]
        assert again["outreach"]["notifications"]["queued"] == 0
        with factory() as s:
            assert len(list(s.scalars(select(NotificationMessage)))) == len(msgs)

        # the next day's run is a draft: nothing is written or sent until a hydrologist approves it; then the
        # `notifications` flow writes its bulletins and delivers what the approval queued
        from flows.outreach import notify_flow
        from records.review import Actor, apply_review

        day2 = (dt.date.fromisoformat(issue) + dt.timedelta(days=1)).isoformat()
        draft = forecast_flow(issue_date=day2, home=str(home), ingest=False, publish=False)
        assert draft["outreach"] == {} and not (home / "bulletins" / day2).exists()
        with factory() as s:
            apply_review(s, dt.date.fromisoformat(day2), Actor("aigul", "hydrologist"), "approve", reason="checked")
            s.commit()
            queued = [m for m in s.scalars(select(NotificationMessage)) if m.issue_date.isoformat() == day2]
        n_mail = len(mailbox.messages)
        done = notify_flow(home=str(home))
        assert len(done["bulletins"]) == 9 and all(draft["run_id"] in p for p in done["bulletins"])
        assert set(done["sent"]) == {m.id for m in queued if m.channel == "email"}
        assert len(mailbox.messages) == n_mail + len(done["sent"])
        assert notify_flow(home=str(home))["bulletins"] == []  # written once
    finally:
        engine.dispose()
        mailbox.close()
    names = sorted(p.name for p in (home / "bulletins" / issue).iterdir())
    assert len(names) == 27  # three runs x three languages x three formats
    assert all((folders[0] / n).read_bytes() == b for n, b in first_bytes.items())  # never overwritten

    # the flow's Kazakh and Russian PDFs name every station with its level or state
    from bulletins.files import home_bulletin

    stations = {"CH2185", "PROTVA_SZ"}
    engine, factory = open_database(f"sqlite:///{home / 'tasqyn.db'}")
    with factory() as s:
        content = home_bulletin(home, s, dt.date.fromisoformat(issue))
    engine.dispose()
    assert content.run_id == again["run_id"] and {st.station_id for st in content.stations} == stations
    for lang, label in (("kk", "Күнделікті гидрологиялық бюллетень"), ("ru", "Ежедневный гидрологический бюллетень")):
        pdf = folders[0] / f"bulletin-{issue}-{again['run_id']}-r1-{lang}.pdf"
        text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.read_bytes())).pages).split())
        assert label in text
        w = Words(lang)
        for st in content.stations:  # the heading "<name> (<id>)" beside its level, or its state without one
            at = text.find(f"({st.station_id})")
            assert at > 0 and w.level(st.level, st.state) in text[max(0, at - 250) : at + 60], st.station_id
        protva = next(st for st in content.stations if st.station_id == "PROTVA_SZ")
        assert protva.level is None and protva.state != "ok"  # no current data: never "normal"
    wb = openpyxl.load_workbook(folders[0] / f"bulletin-{issue}-{again['run_id']}-r1-ru.xlsx")
    rows = [(r[0], r[12]) for ws in wb.worksheets[1:] for r in ws.iter_rows(min_row=2, values_only=True)]
    assert {sid for sid, _ in rows} == stations
    assert len(rows) == len(set(rows)) == 14  # one row per station and lead (7 leads each)
