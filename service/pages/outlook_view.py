"""What the basin page shows of the spring flood outlook (read by records.outlooks, as the API reads it)."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Any

from forecasting.home import Home
from forecasting.outlook import _round as outlook_round
from records.outlooks import latest_outlook, outlook_files
from service import i18n
from service.pages.chart_data import labels as chart_labels
from service.pages.map_data import script_json
from service.svg.charts import day_of, swe_chart_svg


def _flow_text(x: float, lang: str) -> str:
    """A discharge rounded as the outlook's own text rounds it (forecasting.outlook), decimal comma in ru/kk."""
    s = outlook_round(x)
    return s.replace(".", ",") if lang in ("ru", "kk") else s


def outlook_sentence(out: dict[str, Any], lang: str) -> str:
    """The outlook in one sentence in `lang`, e.g. "Spring flood volume expected at 127% of normal (80% range
    110–147%), peak 50–85 m³/s" (the API's `text`, translated; volume as % of the norm, peak in m3/s)."""
    parts = []
    vol, peak = out.get("volume") or {}, out.get("peak") or {}
    if vol.get("pct_of_norm") is not None:
        parts.append(
            i18n.t(
                "outlook.volume_text",
                lang,
                pct=f"{vol['pct_of_norm']:.0f}",
                low=f"{vol['pct_low']:.0f}",
                high=f"{vol['pct_high']:.0f}",
            )
        )
    if peak.get("low") is not None and peak.get("high") is not None:
        parts.append(
            i18n.t("outlook.peak_text", lang, low=_flow_text(peak["low"], lang), high=_flow_text(peak["high"], lang))
        )
    text = ", ".join(parts)
    return text[:1].upper() + text[1:]


def swe_chart_data(clim: dict[str, Any], issue: dt.date, lang: str) -> dict[str, Any] | None:
    """The SWE chart's data for static/chart_app.js (the interactive chart over the server's SVG): this season's
    basin SWE (mm) as the observed line and the earlier seasons' 10-90% band and median for the same day, the whole
    season in one window."""
    days = [(d, r) for r in clim.get("days") or [] if (d := day_of(r.get("date"))) is not None]
    if not days:
        return None

    def col(key: str) -> list[float | None]:
        return [None if r.get(key) is None else round(float(r[key]), 2) for _, r in days]

    first, last = days[0][0], days[-1][0]
    current = [[d.isoformat(), v] for (d, _), v in zip(days, col("current"), strict=True) if v is not None]
    ucfirst = lambda s: s[:1].upper() + s[1:]  # noqa: E731
    return {
        "lang": lang,
        "units": i18n.t("units.mm", lang),
        "labels": {
            **chart_labels(lang),
            "observed": ucfirst(i18n.t("outlook.swe_current", lang)),
            "clim": ucfirst(i18n.t("outlook.swe_band", lang)) + " · " + i18n.t("outlook.swe_median", lang),
            "windows": {str((last - first).days + 1): i18n.t("chart.window_180", lang)},
        },
        "issue_date": issue.isoformat(),
        "end_date": last.isoformat(),
        "series": {
            "obs": current,
            "clim": {
                "dates": [d.isoformat() for d, _ in days],
                "p10": col("p10"),
                "p50": col("median"),
                "p90": col("p90"),
            },  # fmt: skip
            "last_year": None,
            "record_year": None,
            "fan": None,
            "history": [],
        },
        "thresholds": [],
        "windows": [(last - first).days + 1],
    }


@lru_cache(maxsize=256)
def _outlook_of(root: str, basin_id: str, on: dt.date, _files: tuple[tuple[str, int], ...]) -> dict[str, Any] | None:
    return latest_outlook(Path(root), basin_id, on)


def current_outlook(home: Home, basin_id: str, on: dt.date) -> dict[str, Any] | None:
    """records.outlooks.latest_outlook (the API's reader), remembered until an outlook file changes."""
    try:
        files = tuple((p.name, p.stat().st_mtime_ns) for p in outlook_files(home.root))
    except OSError:  # a file replaced while listing: read afresh
        return latest_outlook(home.root, basin_id, on)
    return _outlook_of(str(home.root), basin_id, on, files) if files else None


def outlook_view(home: Home, basin_id: str, on: dt.date, lang: str) -> dict[str, Any] | None:
    """What the basin page shows of the newest spring flood outlook issued on or before `on` (read by the API's
    reader, see current_outlook): None if there is none; {"note"} (one line) if the outlook has no result for the
    basin or its flood season ended before `on`; else the sentence, issue date, season, the volume and peak rows
    (value, 80% range, norm, % of norm), the cross-validated skill and the SWE chart."""
    out = current_outlook(home, basin_id, on)
    if out is None:
        return None
    issue = day_of(out.get("issue_date"))
    season = out.get("season") or {}
    start, end = day_of(season.get("start")), day_of(season.get("end"))
    fdate = lambda d: i18n.format_date(d, lang)  # noqa: E731
    if out.get("status") != "ok":
        # the outlook's reason is English text of the library: said in English, shown to reviewers as recorded
        message = out.get("message") or ""
        if lang == "en" and message:
            return {"note": i18n.t("outlook.unavailable", lang, date=fdate(issue), message=message), "detail": ""}
        return {"note": i18n.t("outlook.unavailable_short", lang, date=fdate(issue)), "detail": message}
    if end is not None and on > end:
        return {"note": i18n.t("outlook.expired", lang, date=fdate(issue), end=fdate(end))}
    rows = []
    vol, peak = out.get("volume") or {}, out.get("peak") or {}
    if vol.get("value") is not None:
        rows.append(("outlook.volume", vol.get("value"), vol.get("low"), vol.get("high"), vol.get("norm")))
        if vol.get("value_mm") is not None:
            mm = [vol.get(k) for k in ("value_mm", "low_mm", "high_mm", "norm_mm")]
            rows.append(("outlook.volume_mm", *mm))
    if peak.get("value") is not None:
        rows.append(("outlook.peak", peak.get("value"), peak.get("low"), peak.get("high"), peak.get("norm")))
    table = [
        {
            "label": i18n.t(key, lang),
            "value": value,
            "low": low,
            "high": high,
            "norm": norm,
            "pct": None if not norm or value is None else 100.0 * value / norm,
        }
        for key, value, low, high, norm in rows
    ]
    skill_text = None
    sv = (out.get("skill") or {}).get("volume") or {}
    years = out.get("training_years") or []
    if sv.get("accuracy_p") is not None and len(years) == 3:
        skill_text = i18n.t(
            "outlook.skill",
            lang,
            first=years[0],
            last=years[1],
            n=sv.get("n", years[2]),
            acc=i18n.format_pct(sv.get("accuracy_p")),
            acc_norm=i18n.format_pct(sv.get("accuracy_p_norm")),
            skill=i18n.format_number(sv.get("skill_vs_norm"), lang, 2),
        )
    clim = out.get("swe_climatology") or {}
    chart = swe_chart_svg(clim, issue, lang) if issue is not None else None
    chart_data = swe_chart_data(clim, issue, lang) if chart is not None and issue is not None else None
    source_key = {"measured": "outlook.swe_measured", "degree-day": "outlook.swe_degree_day"}.get(clim.get("source"))
    return {
        "sentence": outlook_sentence(out, lang),
        "issued": i18n.t("outlook.issued", lang, date=fdate(issue), start=fdate(start), end=fdate(end)),
        "issue_date": issue,
        "rows": table,
        "skill": skill_text,
        "swe_svg": chart,
        "swe_json": script_json(chart_data) if chart_data else None,
        "swe_source": i18n.t(source_key, lang) if source_key else "",
    }
