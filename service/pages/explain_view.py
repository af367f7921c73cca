"""Why a forecast rises or falls, in words and as a table (from the model contributions in the read model)."""

from __future__ import annotations

from typing import Any

from forecasting.explain import DRIVERS, as_percent, main_drivers
from records.published import LeadView, StationForecastView
from service import i18n


def _driver_items(drivers_log: dict[str, float], lang: str) -> str:
    """The main drivers of one lead in words, e.g. "snowpack and snowmelt (+61%), air temperature (+20%)"."""
    top = main_drivers(drivers_log)
    return ", ".join(f"{i18n.t('driver.' + d, lang)} ({i18n.format_change(v)})" for d, v in top)


def _focus(fc: StationForecastView | None) -> tuple[list[LeadView], dict[int, float], LeadView | None]:
    """The leads with drivers, the median's total change per lead (percent of the sum of the drivers' log
    contributions) and the lead where it changes most (None when no lead has drivers)."""
    leads = [ld for ld in (fc.leads if fc else []) if ld.driver_log]
    total = {ld.lead: float(as_percent(sum(ld.driver_log.values()))) for ld in leads}  # type: ignore[union-attr]
    focus = max(leads, key=lambda ld: abs(total[ld.lead])) if leads else None
    return leads, total, focus


def why_short(fc: StationForecastView | None, lang: str) -> str:
    """For a list of stations: the main drivers of the lead where the median changes most ("" if none)."""
    _leads, _total, focus = _focus(fc)
    return _driver_items(focus.driver_log or {}, lang) if focus is not None else ""


def why_view(fc: StationForecastView | None, lang: str) -> dict[str, Any] | None:
    """The "why the forecast changes" block: drivers (rows) x leads in percent, and a sentence for the lead with
    the largest change of the median (its main drivers named). None when no lead has driver contributions."""
    leads, total, focus = _focus(fc)
    if focus is None:
        return None
    items = _driver_items(focus.driver_log or {}, lang)
    drivers_text = i18n.t("station.why_mainly", lang, items=items) if items else i18n.t("station.why_nothing", lang)
    sentence = i18n.t(
        "station.why_sentence",
        lang,
        date=i18n.format_date(focus.valid_date, lang, False),
        change=i18n.format_change(total[focus.lead]),
        drivers=drivers_text,
    )
    pct = [{d: float(as_percent(v)) for d, v in (ld.driver_log or {}).items()} for ld in leads]
    shown = [d for d in DRIVERS if any(abs(p.get(d, 0.0)) >= 0.5 for p in pct)]
    return {
        "sentence": sentence,
        "leads": [ld.lead for ld in leads],
        "rows": [{"driver": d, "label": i18n.t("driver." + d, lang), "values": [p.get(d) for p in pct]} for d in shown],
        "total": [total[ld.lead] for ld in leads],
    }
