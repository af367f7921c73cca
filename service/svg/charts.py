"""Server-drawn charts (SVG): the hydrograph with the forecast fan and thresholds, and the basin SWE chart.

They stay for print and for browsers without JavaScript; the interactive chart (static/chart_app.js) draws over
them where scripts run."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from service import i18n

THRESHOLDS = ("warning", "danger", "extreme")
# the quantiles of the forecast fan: key suffix (q05 in m3/s, h05 in cm, ...) and level
FAN_LEVELS: tuple[tuple[str, float], ...] = (("05", 0.05), ("25", 0.25), ("50", 0.5), ("75", 0.75), ("95", 0.95))


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    return [start + k * step for k in range(int((hi - start) / step) + 2) if start + k * step <= hi + 1e-9]


@dataclass
class TimeChart:
    """A daily time-series chart in SVG user units (shared by the hydrograph and the SWE chart): a plot area of
    `w` x `h` with margins, days `d0`..`d1` across, values 0..`hi` up (the axis is rounded up to nice ticks)."""

    d0: dt.date
    d1: dt.date
    values: list[float]
    w: int = 900
    h: int = 340
    ml: int = 64
    mr: int = 16
    mt: int = 16
    mb: int = 40

    def __post_init__(self) -> None:
        self.pw, self.ph = self.w - self.ml - self.mr, self.h - self.mt - self.mb
        self.span = max(1, (self.d1 - self.d0).days)
        self.lo = 0.0
        hi = max(self.values) * 1.08 if self.values else 1.0
        self.ticks = _nice_ticks(self.lo, hi)
        self.hi = max(hi, self.ticks[-1])
        tstep = self.ticks[1] - self.ticks[0] if len(self.ticks) > 1 else 1.0
        self.tdig = max(0, -math.floor(math.log10(tstep))) if tstep < 1 else 0

    def X(self, d: dt.date) -> float:  # noqa: N802
        return self.ml + self.pw * (d - self.d0).days / self.span

    def Y(self, v: float) -> float:  # noqa: N802
        return self.mt + self.ph * (1 - (v - self.lo) / (self.hi - self.lo))

    def start(self, cls: str, label: str) -> str:
        """The opening <svg> tag."""
        return (
            f'<svg class="{cls}" viewBox="0 0 {self.w} {self.h}" xmlns="http://www.w3.org/2000/svg" role="img" '
            f'aria-label="{escape(label)}">'
        )

    def axes(self, lang: str, ylabel: str, months: bool = False) -> list[str]:
        """Horizontal grid with value ticks, vertical grid with date ticks (weekly, fortnightly or every 30 days by
        the span; on the first of each month if `months`; classes d0/d1 alternate, so that a narrow screen can show
        every other one) and the rotated value-axis label."""
        ml, mt, pw, ph = self.ml, self.mt, self.pw, self.ph
        out = []
        for tv in self.ticks:
            y = self.Y(tv)
            out.append(
                f'<line class="grid" x1="{ml}" x2="{ml + pw}" y1="{y:.1f}" y2="{y:.1f}"/>'
                f'<text class="tick" x="{ml - 6}" y="{y + 4:.1f}" text-anchor="end">'
                f"{escape(i18n.format_number(tv, lang, self.tdig))}</text>"
            )
        step = 7 if self.span <= 90 else 14 if self.span <= 180 else 30
        d = self.d0
        k = 0
        while d <= self.d1:
            x = self.X(d)
            label = i18n.month_short(d.month, lang) if months else i18n.format_short_date(d, lang)
            out.append(
                f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{mt}" y2="{mt + ph}"/>'
                f'<text class="tick date d{k % 2}" x="{x:.1f}" y="{mt + ph + 16}" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
            k += 1
            if months:
                d = (d.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
            else:
                d += dt.timedelta(days=step)
        out.append(
            f'<text class="axis" transform="translate(14,{mt + ph / 2:.0f}) rotate(-90)" text-anchor="middle">'
            f"{escape(ylabel)}</text>"
        )
        return out

    def band(self, top: list[tuple[dt.date, float]], bottom: list[tuple[dt.date, float]], cls: str) -> str:
        """A filled band between two lines (points in date order), "" if it has fewer than three corners."""
        pts = top + list(reversed(bottom))
        if len(pts) < 3:
            return ""
        return f'<polygon class="{cls}" points="{" ".join(f"{self.X(a):.1f},{self.Y(b):.1f}" for a, b in pts)}"/>'

    def line(self, pts: list[tuple[dt.date, float]], cls: str) -> str:
        """One polyline through the points."""
        return f'<polyline class="{cls}" points="{" ".join(f"{self.X(a):.1f},{self.Y(b):.1f}" for a, b in pts)}"/>'

    def lines(self, pts: list[tuple[dt.date, float]], cls: str) -> list[str]:
        """Polylines through daily points, broken where days are missing."""
        segs: list[list[str]] = []
        cur: list[str] = []
        prev = None
        for day, v in pts:
            if prev is not None and (day - prev).days > 1 and cur:
                segs.append(cur)
                cur = []
            cur.append(f"{self.X(day):.1f},{self.Y(v):.1f}")
            prev = day
        segs.append(cur)
        return [f'<polyline class="{cls}" points="{" ".join(seg)}"/>' for seg in segs if seg]

    def issue_line(self, day: dt.date, label: str) -> str:
        """The dashed vertical line of the issue date with its label (left of the line unless near the left edge)."""
        xi, mt, ph, ml = self.X(day), self.mt, self.ph, self.ml
        return (
            f'<line class="issue" x1="{xi:.1f}" x2="{xi:.1f}" y1="{mt}" y2="{mt + ph}"/>'
            f'<text class="tick halo" x="{xi - 4 if xi > ml + 130 else xi + 4:.1f}" y="{mt + 12}" '
            f'text-anchor="{"end" if xi > ml + 130 else "start"}">{escape(label)}</text>'
        )

    def end(self) -> str:
        return f'<rect class="frame" x="{self.ml}" y="{self.mt}" width="{self.pw}" height="{self.ph}"/></svg>'


def _mark(kind: str, lang: str) -> str:
    """A mark's name with a capital ("Опасная отметка")."""
    text = i18n.t(f"threshold.{kind}", lang)
    return text[:1].upper() + text[1:]


def _clim_points(clim: dict[str, Any] | None, d0: dt.date, d1: dt.date) -> dict[str, list[tuple[dt.date, float]]]:
    """The climatology band of a chart payload (`clim`: dates, p10, p50, p90) within d0..d1, per quantile."""
    out: dict[str, list[tuple[dt.date, float]]] = {"p10": [], "p50": [], "p90": []}
    if not clim:
        return out
    for k, iso in enumerate(clim.get("dates") or []):
        day = dt.date.fromisoformat(iso)
        if d0 <= day <= d1 and all((clim.get(q) or [None] * (k + 1))[k] is not None for q in out):
            for q in out:
                out[q].append((day, float(clim[q][k])))
    return out


def hydrograph_svg(
    obs: list[tuple[dt.date, float]],
    fan: list[dict[str, Any]],
    thresholds: dict[str, float],
    issue_date: dt.date,
    lang: str,
    units_key: str = "station.units_q",
    clim: dict[str, Any] | None = None,
    history: Sequence[Any] = (),
) -> Markup:
    """Observed discharge before the issue date, the forecast median with its 50% and 90% bands after it, and the
    warning/danger/extreme lines (m3/s). `fan`: [{"date", "q05", "q25", "q50", "q75", "q95"}] per lead. The same
    chart draws water levels (cm) with `units_key="station.units_h"` and the fan's values under the same keys.
    `clim` (the chart payload's band: dates, p10, p50, p90) is drawn grey behind, and `history` (earlier runs with
    `points` of `valid_date` and `median`: records.published.ForecastHistoryRun) as dashed orange lines."""
    # at least two weeks before the issue date, so a station without recent data shows that gap
    days = [d for d, _ in obs] + [f["date"] for f in fan] + [issue_date, issue_date - dt.timedelta(days=14)]
    band = _clim_points(clim, min(days), max(days))
    earlier = [[(p.valid_date, p.median) for p in h.points if min(days) <= p.valid_date <= max(days)] for h in history]
    values = [v for _, v in obs] + [f[k] for f in fan for k in ("q05", "q95") if f.get(k) is not None]
    values += [v for _, v in band["p90"]] + [v for pts in earlier for _, v in pts]
    data_hi = max(values) if values else 0.0
    # thresholds far above the data would squash the hydrograph: those are named above the plot instead
    shown = {k: v for k, v in thresholds.items() if v is not None and (data_hi <= 0 or v <= 2.5 * data_hi)}
    above = [(k, v) for k, v in thresholds.items() if v is not None and k not in shown]
    values += list(shown.values())
    c = TimeChart(min(days), max(days), values)
    q = lambda s: escape(s)  # noqa: E731
    out = [c.start("hydrograph", i18n.t("station.hydrograph", lang))]
    out += c.axes(lang, i18n.t(units_key, lang))
    if band["p10"]:
        out.append(c.band(band["p90"], band["p10"], "clim"))
        out += c.lines(band["p50"], "climmedian")
    for pts in earlier:
        if len(pts) > 1:
            out.append(c.line(pts, "earlier"))
    if fan:
        anchor = [(issue_date, obs[-1][1])] if obs and obs[-1][0] == issue_date else []

        def band(lo_k: str, hi_k: str, cls: str) -> str:
            top = [(f["date"], f[hi_k]) for f in fan if f.get(hi_k) is not None]
            bot = [(f["date"], f[lo_k]) for f in fan if f.get(lo_k) is not None]
            return c.band(anchor + top, anchor + bot, cls)

        out.append(band("q05", "q95", "band90"))
        out.append(band("q25", "q75", "band50"))
        out.append(c.line(anchor + [(f["date"], f["q50"]) for f in fan if f.get("q50") is not None], "median"))
    if obs:
        out += c.lines(obs, "observed")
    out.append(c.issue_line(issue_date, i18n.t("station.issue_line", lang)))
    if above:
        names = ", ".join(f"{_mark(k, lang)} {i18n.format_number(v, lang)}" for k, v in above)
        units = i18n.unit("cm" if units_key == "station.units_h" else "m3/s", lang)
        out.append(
            f'<text class="tick halo" x="{c.ml + c.pw - 6}" y="{c.mt + 28}" text-anchor="end">'
            f"{q(i18n.t('station.above_chart', lang, names=names, units=units))}</text>"
        )
    for k, kind in enumerate(THRESHOLDS):
        v = shown.get(kind)
        if v is None or v > c.hi:
            continue
        y = c.Y(v)
        colour = i18n.level_colour(k + 1)
        out.append(
            f'<line class="thr thr-{kind}" x1="{c.ml}" x2="{c.ml + c.pw}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{colour}"/><text class="thrlabel" x="{c.ml + 6}" y="{y - 5:.1f}" fill="{colour}">'
            f"{q(_mark(kind, lang))} {q(i18n.format_number(v, lang))}</text>"
        )
    out.append(c.end())
    return Markup("".join(out))


def swe_chart_svg(clim: dict[str, Any], issue_date: dt.date, lang: str) -> Markup | None:
    """Basin SWE (mm) of this snow season (dark line, up to the day before the issue date) against the median and
    10-90% band of the same day of year in earlier seasons (blue), from the outlook's `swe_climatology`; drawn with
    the hydrograph's TimeChart. None when there is nothing to draw."""
    rows = [(d, r) for r in clim.get("days") or [] if (d := day_of(r.get("date"))) is not None]
    if not rows:
        return None

    def series(key: str) -> list[tuple[dt.date, float]]:
        return [(d, float(r[key])) for d, r in rows if r.get(key) is not None]

    median, p10, p90, current = series("median"), series("p10"), series("p90"), series("current")
    values = [v for _, v in p90 + current + median]
    if not values:
        return None
    c = TimeChart(rows[0][0], rows[-1][0], values, h=280)
    out = [c.start("hydrograph swe-chart", i18n.t("outlook.swe_title", lang))]
    out += c.axes(lang, i18n.t("outlook.swe_units", lang), months=True)
    both = {d for d, _ in p10} & {d for d, _ in p90}
    out.append(c.band([p for p in p90 if p[0] in both], [p for p in p10 if p[0] in both], "band90 climband"))
    out += c.lines(median, "median climmedian")
    out += c.lines(current, "observed swe-current")
    if rows[0][0] <= issue_date <= rows[-1][0]:
        out.append(c.issue_line(issue_date, i18n.t("outlook.issue_line", lang)))
    out.append(c.end())
    return Markup("".join(out))


def day_of(value: Any) -> dt.date | None:
    """A date from the start of an ISO text, or None."""
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
