"""The bulletin as an XLSX workbook (openpyxl) for hydrologists who keep their own tables: a summary sheet (the
title block and one row per basin) and one sheet per basin with one row per station and lead (a station without
a forecast table: one row without lead), the marks beside the values. Headers frozen and filtered; numbers as
numbers (discharge m3/s, level cm, probabilities as percentages, dates as dates); text that a spreadsheet would
read as a formula (= + - @) is stored as text."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from bulletins.i18n import level_colour
from bulletins.text import KINDS, Words
from records.bulletin import Bulletin, BulletinBasin, BulletinStation
from records.published import ThresholdView

BOLD = Font(bold=True)
HEAD_FILL = PatternFill("solid", fgColor="ECF0F3")
WRAP = Alignment(wrap_text=True, vertical="top")
Q_FORMAT, H_FORMAT, P_FORMAT, DATE_FORMAT = "#,##0.00", "#,##0", "0%", "yyyy-mm-dd"
BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def _put(ws: Worksheet, row: int, col: int, value: Any, fmt: str | None = None) -> Cell:
    """Write a value; text is always text (never a formula), numbers get `fmt`. Characters a worksheet cannot hold
    (control characters, e.g. in a reviewer's note) are dropped rather than failing the whole bulletin."""
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    cell = ws.cell(row=row, column=col, value=value)
    if isinstance(value, str):
        cell.data_type = "s"
    elif fmt is not None and value is not None:
        cell.number_format = fmt
    return cell


def _header(ws: Worksheet, row: int, heads: list[str], widths: list[float]) -> None:
    for j, (text, width) in enumerate(zip(heads, widths, strict=True), start=1):
        c = _put(ws, row, j, text)
        c.font, c.fill, c.alignment = BOLD, HEAD_FILL, Alignment(wrap_text=True, vertical="center")
        ws.column_dimensions[get_column_letter(j)].width = width
    ws.row_dimensions[row].height = 32


def _level_fill(level: int | None) -> PatternFill:
    return PatternFill("solid", fgColor=level_colour(level).lstrip("#").upper())


def sheet_title(name: str, taken: set[str]) -> str:
    """A valid, unique sheet title (<= 31 characters, none of []:*?/\\) for a basin name."""
    base = BAD_SHEET_CHARS.sub("_", name).strip("'") or "basin"
    title = base[:31]
    k = 2
    while title.lower() in taken:
        suffix = f" ({k})"
        title = base[: 31 - len(suffix)] + suffix
        k += 1
    taken.add(title.lower())
    return title


def _summary(ws: Worksheet, b: Bulletin, w: Words) -> None:
    _put(ws, 1, 1, f"{w.t('app.short')} · {w.t('bulletin.title')}").font = Font(bold=True, size=14)
    row = 2
    for label, value in w.title_rows(b):
        _put(ws, row, 1, label).font = BOLD
        _put(ws, row, 2, value)
        row += 1
    banner = w.outdated(b)
    if banner:
        _put(ws, row, 1, banner).font = Font(bold=True, color="B3261E")
        row += 1
    row += 1
    heads = [
        w.t("col.basin"),
        w.t("bulletin.code"),
        w.t("bulletin.risk_level"),
        f"{w.t('bulletin.risk_level')} (0–3)",
        w.t("bulletin.expected"),
        w.t("bulletin.x_first_date"),
        w.t("col.probability"),
        w.t("col.trend"),
        w.t("col.stations"),
        w.t("bulletin.no_level_count"),
        w.t("bulletin.reason"),
        w.t("bulletin.x_outlook"),
    ]
    _header(ws, row, heads, [26, 14, 18, 10, 44, 12, 11, 14, 9, 12, 36, 60])
    ws.freeze_panes = ws.cell(row=row + 1, column=2)
    first = row
    for basin in b.basins:
        row += 1
        _put(ws, row, 1, basin.name)
        _put(ws, row, 2, basin.basin_id)
        _put(ws, row, 3, w.level(basin.level, basin.state)).fill = _level_fill(basin.level)
        _put(ws, row, 4, basin.level)
        _put(ws, row, 5, w.expected(basin.level, basin.probability, basin.first_date, basin.state))
        _put(ws, row, 6, basin.first_date, DATE_FORMAT)
        _put(ws, row, 7, basin.probability, P_FORMAT)
        _put(ws, row, 8, w.trend(basin.trend) if basin.trend else None)
        _put(ws, row, 9, basin.n_stations)
        _put(ws, row, 10, basin.n_no_level)
        _put(ws, row, 11, basin.override_reason if basin.overridden else None)
        _put(ws, row, 12, w.outlook(basin.outlook) if basin.outlook is not None else None)
    ws.auto_filter.ref = f"A{first}:{get_column_letter(len(heads))}{max(row, first)}"
    if b.notes:
        row += 2
        _put(ws, row, 1, w.t("bulletin.notes")).font = BOLD
        for n in b.notes:
            row += 1
            _put(ws, row, 1, n.at.date(), DATE_FORMAT)
            _put(ws, row, 2, w.note(n))
    row += 2
    _put(ws, row, 1, w.generated(b)).font = Font(italic=True, color="5F6B76")


def _basin_heads(w: Words) -> tuple[list[str], list[float]]:
    q, h, chg = w.t("bulletin.x_discharge"), w.t("bulletin.x_level"), w.t("bulletin.x_change")
    med = w.t("col.median").lower()
    heads = [
        w.t("bulletin.code"),
        w.t("col.station"),
        w.t("col.river"),
        w.t("bulletin.risk_level"),
        f"{w.t('bulletin.risk_level')} (0–3)",
        w.t("col.state"),
        w.t("bulletin.reason"),
        w.t("bulletin.x_obs_date"),
        q,
        f"{q}: {chg}",
        h,
        f"{h}: {chg}",
        w.t("col.lead"),
        w.t("col.date"),
        f"{q}: 5%",
        f"{q}: {med}",
        f"{q}: 95%",
        f"{h}: 5%",
        f"{h}: {med}",
        f"{h}: 95%",
        *(f"P: {w.mark(k)}" for k in KINDS),
        *(w.mark(k) for k in KINDS),
        w.t("bulletin.units"),
        w.t("bulletin.mark_source"),
    ]
    widths = [12, 28, 16, 16, 9, 18, 30, 12, 11, 11, 11, 11, 7, 12] + [11] * 6 + [11] * 3 + [11] * 3 + [9, 50]
    return heads, widths


def _mark_value(th: ThresholdView | None) -> tuple[float | None, str | None]:
    if th is None:
        return None, None
    return th.value, H_FORMAT if th.units == "cm" else Q_FORMAT


def _station_rows(ws: Worksheet, row: int, s: BulletinStation, w: Words, issue: dt.date) -> int:
    marks = {th.kind: th for th in s.thresholds}
    units = sorted({th.units for th in s.thresholds})
    source = "; ".join(f"{w.mark(th.kind)}: {th.source}" for th in s.thresholds if th.source)
    fixed: list[tuple[Any, str | None]] = [
        (s.station_id, None),
        (s.name, None),
        (s.river, None),
        (w.level(s.level, s.state), None),
        (s.level, None),
        (w.level(None, s.state) if s.state != "ok" else w.t("state.ok"), None),
        (w.reason(s, issue) or (s.override_reason if s.overridden else None), None),
        (s.obs_date, DATE_FORMAT),
        (s.discharge_m3s, Q_FORMAT),
        (s.discharge_change_m3s, Q_FORMAT),
        (s.water_level_cm, H_FORMAT),
        (s.water_level_change_cm, H_FORMAT),
    ]
    tail: list[tuple[Any, str | None]] = [
        *(_mark_value(marks.get(k)) for k in KINDS),
        (", ".join(w.units(u) for u in units) or None, None),
        (source or None, None),
    ]
    leads = s.leads or [None]
    fill = _level_fill(s.level)
    for ld in leads:
        row += 1
        values: list[tuple[Any, str | None]] = list(fixed)
        if ld is None:
            values += [(None, None)] * 11
        else:
            values += [
                (ld.lead, None),
                (ld.valid_date, DATE_FORMAT),
                (ld.q_low, Q_FORMAT),
                (ld.q_median, Q_FORMAT),
                (ld.q_high, Q_FORMAT),
                (ld.h_low, H_FORMAT),
                (ld.h_median, H_FORMAT),
                (ld.h_high, H_FORMAT),
                *((ld.p_exceed.get(k), P_FORMAT) for k in KINDS),
            ]
        values += tail
        for j, (value, fmt) in enumerate(values, start=1):
            _put(ws, row, j, value, fmt)
        ws.cell(row=row, column=4).fill = fill
    return row


def _basin(ws: Worksheet, basin: BulletinBasin, w: Words, issue: dt.date) -> None:
    heads, widths = _basin_heads(w)
    _header(ws, 1, heads, widths)
    ws.freeze_panes = "C2"
    row = 1
    for s in basin.stations:
        row = _station_rows(ws, row, s, w, issue)
    ws.auto_filter.ref = f"A1:{get_column_letter(len(heads))}{max(row, 1)}"


def render_xlsx(bulletin: Bulletin, lang: str) -> bytes:
    """The bulletin as XLSX bytes in `lang` (kk | ru | en)."""
    w = Words(lang)
    wb = Workbook()
    ws = wb.active
    taken: set[str] = set()
    ws.title = sheet_title(w.t("bulletin.summary_sheet"), taken)
    _summary(ws, bulletin, w)
    for basin in bulletin.basins:
        _basin(wb.create_sheet(sheet_title(basin.name, taken)), basin, w, bulletin.issue_date)
    wb.properties.title = f"{w.t('bulletin.title')} {bulletin.issue_date.isoformat()}"
    wb.properties.creator = "Tasqyn"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
