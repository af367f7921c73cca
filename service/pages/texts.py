"""Texts that the data gives in English, said in the reader's language from their structured parts: why a station
has no level (its state and data age), where a threshold comes from (its origin, return period and years), the
rating curve's note, the model's name. The English originals stay in the read model and the API; a page shows them
only to reviewers, as the computation's own message."""

from __future__ import annotations

import datetime as dt

from records.published import RatingNote, StationLevelView, ThresholdView
from service import i18n

REASON_KEYS = {
    "climatology": "reason.climatology",
    "fallback": "reason.fallback",
    "no_thresholds": "reason.no_thresholds",
    "failed": "reason.failed",
    "no_forecast": "reason.no_forecast",
}


def state_reason(state: str, data_age_days: int | None, issue_date: dt.date | None, lang: str) -> str:
    """Why a station in `state` has no level, e.g. ru "последнее наблюдение 12 марта 2005 г., за 5480 дней до даты
    выпуска" for a stale one ("" for `ok`). The newest observation's date is the issue date less the data age."""
    if state == "ok":
        return ""
    if state == "stale":
        if data_age_days is None:
            return i18n.t("reason.stale_none", lang)
        last = issue_date - dt.timedelta(days=int(data_age_days)) if issue_date is not None else None
        return i18n.t("reason.stale_age", lang, n=int(data_age_days), date=i18n.format_date(last, lang))
    key = REASON_KEYS.get(state)
    return i18n.t(key, lang) if key else ""


def row_reason(row: StationLevelView, issue_date: dt.date | None, lang: str) -> str:
    """The reason of a station's state in `lang` ("" when it has a level from a current forecast, and for a basin
    row, whose grey state says it all)."""
    if not isinstance(row, StationLevelView):
        return ""
    return state_reason(row.state, row.data_age_days, issue_date, lang)


def model_label(name: str | None, lang: str) -> str:
    """A model's name for people: LightGBM, ru "инерционный прогноз", "климатический прогноз"; other names as
    recorded."""
    if not name:
        return ""
    key = f"model.{name}"
    return i18n.t(key, lang) if i18n.has_key(key) else name


def threshold_source(t: ThresholdView, lang: str) -> str:
    """Where a threshold comes from, in `lang`: a Kazhydromet mark (station registry or a thresholds file, with the
    file's own source text), or a derived T-year flood with the years of record it was fitted to."""
    if t.origin == "registry":
        return i18n.t("thr.official_registry", lang)
    if t.origin == "file":
        if t.source_text:
            return i18n.t("thr.file_source", lang, source=t.source_text, file=t.source_file or "")
        return i18n.t("thr.official_file", lang, file=t.source_file or "")
    if t.origin == "derived":
        parts = []
        if t.return_period_years:
            parts.append(i18n.t("thr.derived", lang, n=round(t.return_period_years)))
        if t.first_year and t.last_year and t.n_years:
            parts.append(i18n.t("thr.record", lang, first=t.first_year, last=t.last_year, n=t.n_years))
        if t.years_left_out:
            parts.append(i18n.t("thr.left_out", lang, years=t.years_left_out))
        if t.short_record:
            parts.append(i18n.t("thr.short_record", lang))
        return ", ".join(parts)
    return t.source or i18n.t("thr.unknown_source", lang)


def rating_text(note: RatingNote | None, lang: str, level_only_reference_cm: float | None = None) -> str:
    """The rating curve behind a water-level forecast, in `lang` (or, for a level-only post, that its level is
    forecast directly; "" when unknown)."""
    if note is None and level_only_reference_cm is not None:
        return i18n.t("station.level_only_note", lang, ref=i18n.format_number(level_only_reference_cm, lang))
    if note is None:
        return ""
    return i18n.t(
        "station.rating_note",
        lang,
        n=note.n_pairs,
        start=i18n.format_date(note.start, lang),
        end=i18n.format_date(note.end, lang),
        rmse=i18n.format_number(note.rmse_cm, lang, 1),
        qmax=i18n.format_number(note.q_max_m3s, lang),
    )
