"""A station's hydrograph thumbnail as geometry in a w x h box (y down): the observed days before the issue date,
the forecast median and its 90% range after it, the marks in the same units, a line at the issue date. The PDF
draws it with vector lines, the HTML as inline SVG: one drawing, two outputs."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from bulletins.i18n import level_colour
from bulletins.text import KIND_LEVEL
from records.bulletin import HISTORY_DAYS, BulletinStation

Point = tuple[float, float]


@dataclass
class Thumb:
    w: float
    h: float
    observed: list[Point] = field(default_factory=list)
    median: list[Point] = field(default_factory=list)
    band: list[Point] = field(default_factory=list)  # closed polygon of the 90% range
    marks: list[tuple[float, str]] = field(default_factory=list)  # (y, colour)
    issue_x: float = 0.0
    y_min: float = 0.0
    y_max: float = 0.0
    units: str = "m3/s"

    @property
    def empty(self) -> bool:
        return not self.observed and not self.median


def thumbnail(s: BulletinStation, issue: dt.date, w: float, h: float) -> Thumb:
    """The geometry of `s`'s thumbnail (discharge, or water level for a post without discharge) in a w x h box."""
    level = s.history_var == "water_level_cm"
    units = "cm" if level else "m3/s"
    start = issue - dt.timedelta(days=HISTORY_DAYS - 1)
    last_lead = max((ld.lead for ld in s.leads), default=0)
    span = max((issue - start).days + max(last_lead, 1), 1)

    def fx(day: dt.date) -> float:
        return w * (day - start).days / span

    obs = [(d, v) for d, v in s.history if math.isfinite(v)]
    fc = []
    for ld in s.leads:
        med, lo, hi = (ld.h_median, ld.h_low, ld.h_high) if level else (ld.q_median, ld.q_low, ld.q_high)
        if med is not None and lo is not None and hi is not None:
            fc.append((ld.valid_date, med, lo, hi))
    values = [v for _, v in obs] + [x for _, m, lo, hi in fc for x in (m, lo, hi)]
    if not values:
        return Thumb(w, h, units=units, issue_x=fx(issue))
    lo_v, hi_v = min(values), max(values)
    marks = [(th.value, level_colour(KIND_LEVEL.get(th.kind, 1))) for th in s.thresholds if th.units == units]
    pad = (hi_v - lo_v) or max(abs(hi_v), 1.0)
    for v, _ in marks:  # a mark near the data is drawn (the axis stretches to it), a far one is not
        if lo_v - pad <= v <= hi_v + pad:
            lo_v, hi_v = min(lo_v, v), max(hi_v, v)
    rng = (hi_v - lo_v) or 1.0
    lo_v, hi_v = lo_v - 0.06 * rng, hi_v + 0.06 * rng

    def fy(v: float) -> float:
        return h * (1.0 - (v - lo_v) / (hi_v - lo_v))

    thumb = Thumb(w, h, units=units, issue_x=fx(issue), y_min=lo_v, y_max=hi_v)
    thumb.observed = [(fx(d), fy(v)) for d, v in obs]
    if fc:
        anchor = [(fx(obs[-1][0]), fy(obs[-1][1]))] if obs else []
        thumb.median = anchor + [(fx(d), fy(m)) for d, m, _, _ in fc]
        thumb.band = anchor + [(fx(d), fy(hi)) for d, _, _, hi in fc] + [(fx(d), fy(lo)) for d, _, lo, _ in fc[::-1]]
    thumb.marks = [(fy(v), c) for v, c in marks if lo_v <= v <= hi_v]
    return thumb


def svg(t: Thumb) -> str:
    """The thumbnail as an inline SVG element (no script, no external reference)."""

    def pts(points: list[Point]) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)

    out = [
        f'<svg class="thumb" viewBox="0 0 {t.w:.0f} {t.h:.0f}" width="{t.w:.0f}" height="{t.h:.0f}" '
        'xmlns="http://www.w3.org/2000/svg" role="img">',
        f'<rect x="0" y="0" width="{t.w:.0f}" height="{t.h:.0f}" fill="#fff" stroke="#c8ced4"/>',
    ]
    for y, colour in t.marks:
        out.append(f'<line x1="0" x2="{t.w:.0f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{colour}" stroke-dasharray="3 2"/>')
    out.append(f'<line x1="{t.issue_x:.1f}" x2="{t.issue_x:.1f}" y1="0" y2="{t.h:.0f}" stroke="#9aa0a6"/>')
    if len(t.band) > 2:
        out.append(f'<polygon points="{pts(t.band)}" fill="#1f77b4" fill-opacity="0.25" stroke="none"/>')
    if len(t.median) > 1:
        out.append(f'<polyline points="{pts(t.median)}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>')
    if len(t.observed) > 1:
        out.append(f'<polyline points="{pts(t.observed)}" fill="none" stroke="#1d2329" stroke-width="1.2"/>')
    elif len(t.observed) == 1:
        x, y = t.observed[0]
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="1.5" fill="#1d2329"/>')
    out.append("</svg>")
    return "".join(out)
