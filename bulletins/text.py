"""The bulletin's sentences in one language, shared by the PDF, XLSX and HTML renderers (so that the three say the
same thing): the title block, a basin's or station's level in words, observations, marks, notes, the outlook."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from bulletins import i18n
from forecasting.outlook import _round as outlook_round
from records.bulletin import Bulletin, BulletinBasin, BulletinNote, BulletinOutlook, BulletinStation

KINDS = ("warning", "danger", "extreme")
KIND_LEVEL = {"warning": 1, "danger": 2, "extreme": 3}


@lru_cache(maxsize=4096)
def _date(day: dt.date | None, lang: str, year: bool) -> str:
    return i18n.format_date(day, lang, year)


@lru_cache(maxsize=4096)
def _short_date(day: dt.date, lang: str) -> str:
    return i18n.format_short_date(day, lang)


class Words:
    """The bulletin's words in `lang` (kk | ru | en)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def t(self, key: str, **fields: object) -> str:
        return i18n.t(key, self.lang, **fields)

    def date(self, day: dt.date | None, year: bool = True) -> str:
        return _date(day, self.lang, year)

    def short_date(self, day: dt.date) -> str:
        return _short_date(day, self.lang)

    def num(self, x: float | None, digits: int | None = None) -> str:
        return i18n.format_number(x, self.lang, digits)

    def signed(self, x: float | None) -> str:
        """A signed change ("+1,2", "−3"; a true minus sign); "–" when unknown."""
        if x is None:
            return "–"
        s = i18n.format_number(abs(x), self.lang)
        return ("+" if x > 0 else "\u2212" if x < 0 else "±") + s

    def pct(self, p: float | None) -> str:
        return i18n.format_pct(p)

    # --- levels ----------------------------------------------------------------------------------------------

    def level(self, level: int | None, state: str) -> str:
        """The level's name, or the state's (no current data, climatology only, ...) without a level."""
        if level is None:
            return i18n.state_name(state if state != "ok" else "no_forecast", self.lang)
        return i18n.level_name(level, self.lang)

    def expected(self, level: int | None, probability: float | None, first_date: dt.date | None, state: str) -> str:
        """The outlook in words ("danger level likely (60%) from 14 April"), or why there is none."""
        if level is None:
            return i18n.state_name(state if state != "ok" else "no_forecast", self.lang)
        return i18n.level_phrase(level, probability, first_date, self.lang)

    def trend(self, trend: str | None) -> str:
        return self.t(f"trend.{trend}") if trend in ("rising", "steady", "falling") else "–"

    def mark(self, kind: str) -> str:
        return self.t(f"threshold.{kind}")

    def units(self, units: str) -> str:
        return self.t("units.cm") if units == "cm" else self.t("units.m3s")

    # --- blocks ----------------------------------------------------------------------------------------------

    def title_rows(self, b: Bulletin) -> list[tuple[str, str]]:
        """(label, value) rows of the title block."""
        review = self.t(f"review.{b.review_status}")
        if b.approved_by:
            review += f" ({self.t('status.approved_by', user=b.approved_by)})"
        age = i18n.format_age(b.data_age_days, self.lang)
        if b.data_cutoff is not None:
            age += f" ({self.t('status.newest_obs', date=self.date(b.data_cutoff))})"
        rows = [
            (self.t("bulletin.issue_date"), self.date(b.issue_date)),
            (self.t("bulletin.published"), i18n.format_datetime(b.published_at, self.lang) + " UTC"),
            (self.t("bulletin.review"), review),
            (self.t("bulletin.data_age"), age),
            (self.t("status.forecast_age"), i18n.format_age(b.forecast_age_days, self.lang)),
            (self.t("bulletin.run"), b.run_id),
        ]
        if b.scope is not None:
            rows.append(("", self.t("bulletin.scope", basins=", ".join(b.scope))))
        return rows

    def outdated(self, b: Bulletin) -> str | None:
        if not b.outdated:
            return None
        return self.t(
            "status.outdated_banner", age=i18n.format_age(b.forecast_age_days, self.lang), date=self.date(b.issue_date)
        )

    def basin_title(self, basin: BulletinBasin) -> str:
        return self.t("bulletin.basin", name=basin.name)

    def observed(self, s: BulletinStation) -> str:
        """Observed discharge and water level on the newest day, with their change over 24 h."""
        if s.obs_date is None:
            return self.t("bulletin.no_obs")
        parts = []
        if s.discharge_m3s is not None:
            part = f"{self.t('bulletin.discharge')} {self.num(s.discharge_m3s)} {self.t('units.m3s')}"
            if s.discharge_change_m3s is not None:
                part += f" ({self.t('bulletin.change_24h', change=self.signed(s.discharge_change_m3s))})"
            parts.append(part)
        if s.water_level_cm is not None:
            part = f"{self.t('bulletin.water_level')} {self.num(s.water_level_cm, 0)} {self.t('units.cm')}"
            if s.water_level_change_cm is not None:
                part += f" ({self.t('bulletin.change_24h', change=self.signed(s.water_level_change_cm))})"
            parts.append(part)
        return f"{self.t('bulletin.observed', date=self.date(s.obs_date))}: " + "; ".join(parts)

    def reason(self, s: BulletinStation, issue: dt.date | None = None) -> str:
        """Why the station has no level, in the reader's language where the catalogue has the `reason.*` messages
        (the dashboard's), else the computation's own (English) text."""
        if s.state == "ok":
            return s.reason or ""
        if s.state == "stale" and s.data_age_days is not None and issue is not None:
            key = "reason.stale_age"
            fields: dict[str, object] = {
                "n": s.data_age_days,
                "date": self.date(issue - dt.timedelta(days=s.data_age_days)),
            }
        else:
            key, fields = f"reason.{s.state}", {}
        text = i18n.t(key, self.lang, **fields)
        return (s.reason or "") if text == key else text

    def station_status(self, s: BulletinStation, issue: dt.date | None = None) -> str:
        """The station's level in words, its trend and data age; the reason without a level; the override."""
        if s.level is None:
            text = self.expected(None, None, None, s.state)
            reason = self.reason(s, issue)
            if reason:
                text += f": {reason}"
        else:
            text = self.expected(s.level, s.probability, s.first_date, s.state)
            if s.trend:
                text += f" · {self.t('col.trend').lower()}: {self.trend(s.trend)}"
        if s.data_age_days is not None:
            text += f" · {self.t('station.data_age', age=i18n.format_age(s.data_age_days, self.lang))}"
        if s.overridden and s.override_reason:
            text += f" · {self.t('phrase.override', reason=s.override_reason)}"
        return text

    def marks(self, s: BulletinStation) -> str:
        if not s.thresholds:
            return self.t("bulletin.no_thresholds")
        parts = [
            f"{self.mark(th.kind)} {self.num(th.value)} {self.units(th.units)}"
            + (f" ({th.source}{', ' + th.years if th.years else ''})" if th.source else "")
            for th in s.thresholds
        ]
        return f"{self.t('bulletin.thresholds')}: " + "; ".join(parts)

    def range_text(self, median: float | None, low: float | None, high: float | None, digits: int | None = None) -> str:
        if median is None:
            return "–"
        return f"{self.num(median, digits)} ({self.num(low, digits)}–{self.num(high, digits)})"

    def note(self, n: BulletinNote) -> str:
        reason = n.reason or ""
        if n.action == "approve":
            return self.t("bulletin.note_approve", user=n.username, reason=reason)
        target = n.target_id or ""
        if n.target_type in ("station", "basin"):
            target = f"{self.t('col.' + n.target_type).lower()} {target}"
        old = i18n.level_name(n.old_level, self.lang) if n.old_level is not None else "–"
        new = i18n.level_name(n.new_level, self.lang) if n.new_level is not None else self.t("review.clear")
        return self.t("bulletin.note_override", user=n.username, target=target, old=old, new=new, reason=reason)

    def outlook(self, o: BulletinOutlook) -> str:
        parts = []
        if o.volume_pct is not None:
            parts.append(
                self.t(
                    "outlook.volume_text",
                    pct=f"{o.volume_pct:.0f}",
                    low=f"{(o.volume_pct_low or 0):.0f}",
                    high=f"{(o.volume_pct_high or 0):.0f}",
                )
            )
        if o.peak_low is not None and o.peak_high is not None:
            lo, hi = outlook_round(o.peak_low), outlook_round(o.peak_high)
            if self.lang in ("ru", "kk"):
                lo, hi = lo.replace(".", ","), hi.replace(".", ",")
            parts.append(self.t("outlook.peak_text", low=lo, high=hi))
        text = ", ".join(parts)
        text = text[:1].upper() + text[1:]
        issued = self.t(
            "outlook.issued", date=self.date(o.issue_date), start=self.date(o.season_start), end=self.date(o.season_end)
        )
        return f"{text}. {issued}" if text else issued

    def footer(self, b: Bulletin, page: int | str, pages: int | str) -> str:
        return self.t("bulletin.footer", service=self.t("app.short"), run_id=b.run_id, page=page, pages=pages)

    def generated(self, b: Bulletin) -> str:
        return self.t("bulletin.generated", when=i18n.format_datetime(b.generated_at, self.lang))
