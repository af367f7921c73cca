"""The bulletin as PDF: A4 portrait, page numbers and the service's name and run id in every footer, the DejaVu
fonts that matplotlib ships (Cyrillic and the Kazakh letters ә ғ қ ң ө ұ ү һ і; nothing is downloaded), drawn
with fpdf2. Layout: the title block, the summary by basin, the spring outlook (in season), the hydrologists' notes,
the stations without a current level, then per basin its stations: level in words, observations with their
change over 24 h, the lead table (median and 90% range in m3/s and cm, the probability of each mark) beside a
vector hydrograph thumbnail, and the marks with their source."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from bulletins.chart import thumbnail
from bulletins.i18n import level_colour
from bulletins.text import KIND_LEVEL, KINDS, Words
from records.bulletin import Bulletin, BulletinBasin, BulletinStation

FONT = "DejaVu"
MARGIN = 12.0  # mm
PAGE_W = 210.0
WIDTH = PAGE_W - 2 * MARGIN  # 186 mm of text
THUMB_W, THUMB_H = 50.0, 30.0  # mm
ROW_H = 3.6  # mm per lead row
BLACK, MUTED, LINE = (29, 35, 41), (95, 107, 118), (200, 206, 212)


@lru_cache(maxsize=1)
def font_files() -> dict[str, Path]:
    """The DejaVu Sans regular and bold TTF files of the installed matplotlib (mpl-data/fonts/ttf)."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    files = {"": folder / "DejaVuSans.ttf", "B": folder / "DejaVuSans-Bold.ttf"}
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        raise FileNotFoundError(f"the DejaVu fonts of matplotlib are missing: {', '.join(missing)}")
    return files


def rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _text_on(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    r, g, b = colour
    return BLACK if 0.299 * r + 0.587 * g + 0.114 * b > 150 else (255, 255, 255)


def _light(colour: tuple[int, int, int], k: float = 0.75) -> tuple[int, int, int]:
    r, g, b = colour
    return int(r + (255 - r) * k), int(g + (255 - g) * k), int(b + (255 - b) * k)


class BulletinPDF(FPDF):
    """FPDF with the bulletin's running header (after the first page) and footer (every page)."""

    def __init__(self, bulletin: Bulletin, words: Words) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.bulletin, self.words = bulletin, words
        self._widths: dict[tuple[str, str, float, str], float] = {}
        for style, path in font_files().items():
            self.add_font(FONT, style, str(path))
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(True, margin=16)
        self.alias_nb_pages()
        self.set_title(f"{words.t('bulletin.title')} {words.date(bulletin.issue_date)}")
        self.set_author(words.t("app.short"))
        self.set_creator("Tasqyn")
        self.set_lang(words.lang)

    def header(self) -> None:
        if self.page_no() == 1:
            return
        self.set_font(FONT, "", 7)
        self.set_text_color(*MUTED)
        w = self.words
        text = f"{w.t('app.short')} · {w.t('bulletin.title')} · {w.date(self.bulletin.issue_date)}"
        self.cell(0, 4, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_draw_color(*LINE)
        self.line(MARGIN, self.get_y(), PAGE_W - MARGIN, self.get_y())
        self.ln(2)
        self.set_text_color(*BLACK)

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font(FONT, "", 7)
        self.set_text_color(*MUTED)
        self.cell(0, 4, self.words.footer(self.bulletin, self.page_no(), "{nb}"), align="C")
        self.set_text_color(*BLACK)

    # --- helpers ---------------------------------------------------------------------------------------------

    def _width(self, word: str) -> float:
        key = (self.font_family, self.font_style, self.font_size_pt, word)
        w = self._widths.get(key)
        if w is None:
            w = self._widths[key] = self.get_string_width(word)
        return w

    def wrap(self, text: str, w: float) -> list[str]:
        """`text` broken into lines of at most `w` mm at word boundaries (a word longer than a line is cut), with
        widths of words cached: fpdf2's own line breaking is quadratic in the text's length."""
        room = w - 2 * self.c_margin
        space = self._width(" ")
        lines: list[str] = []
        for paragraph in str(text).split("\n"):
            cur, cur_w = "", 0.0
            for word in paragraph.split(" "):
                ww = self._width(word)
                if cur and cur_w + space + ww <= room:
                    cur, cur_w = f"{cur} {word}", cur_w + space + ww
                    continue
                if cur:
                    lines.append(cur)
                while ww > room and len(word) > 1:  # cut a word that does not fit on a line of its own
                    k = len(word) - 1
                    while k > 1 and self._width(word[:k]) > room:
                        k -= 1
                    lines.append(word[:k])
                    word = word[k:]
                    ww = self._width(word)
                cur, cur_w = word, ww
            lines.append(cur)
        return lines

    def para(self, w: float, h: float, text: str, align: str = "L", fill: bool = False) -> None:
        """`text` wrapped into lines of `w` mm from the current x; ends at the left margin below the last line."""
        x = self.get_x()
        for line in self.wrap(text, w):
            self.set_x(x)
            self.cell(w, h, line, align=align, fill=fill, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def fit(self, text: str, w: float) -> str:
        """`text` cut with an ellipsis to fit `w` mm in the current font."""
        if self.get_string_width(text) <= w - 1:
            return text
        while text and self.get_string_width(text + "…") > w - 1:
            text = text[:-1]
        return text + "…"

    def badge(self, w: float, h: float, level: int | None, text: str) -> None:
        colour = rgb(level_colour(level))
        self.set_fill_color(*colour)
        self.set_text_color(*_text_on(colour))
        self.cell(w, h, self.fit(text, w), align="C", fill=True)
        self.set_text_color(*BLACK)

    def badge_block(self, x: float, y: float, w: float, h: float, level: int | None, text: str) -> None:
        """A level badge filling a w x h box, its text wrapped and centred."""
        colour = rgb(level_colour(level))
        self.set_fill_color(*colour)
        self.rect(x, y, w, h, style="F")
        self.set_text_color(*_text_on(colour))
        lines = self.wrap(text, w)
        self.set_xy(x, y + (h - 3.2 * len(lines)) / 2)
        for line in lines:
            self.set_x(x)
            self.cell(w, 3.2, line, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
        self.set_text_color(*BLACK)

    def lines_needed(self, text: str, w: float) -> int:
        return max(1, len(self.wrap(text, w)))

    def section(self, title: str) -> None:
        if self.will_page_break(16):
            self.add_page()
        self.ln(2)
        self.set_font(FONT, "B", 11)
        self.cell(0, 6, title, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "", 8)


def _title(pdf: BulletinPDF, b: Bulletin, w: Words) -> None:
    pdf.set_font(FONT, "B", 15)
    pdf.cell(0, 7, f"{w.t('app.short')} · {w.t('bulletin.title')}", align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 9)
    pdf.set_text_color(*MUTED)
    pdf.cell(0, 5, w.t("bulletin.subtitle"), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*BLACK)
    pdf.ln(1)
    for label, value in w.title_rows(b):
        y = pdf.get_y()
        pdf.set_font(FONT, "B", 8.5)
        pdf.para(62, 4.4, label)
        bottom = pdf.get_y()
        pdf.set_xy(MARGIN + 62, y)
        pdf.set_font(FONT, "", 8.5)
        pdf.para(WIDTH - 62, 4.4, value)
        pdf.set_y(max(bottom, pdf.get_y()))
    banner = w.outdated(b)
    if banner:
        pdf.set_fill_color(253, 236, 234)
        pdf.set_text_color(179, 38, 30)
        pdf.para(WIDTH, 4.6, banner, fill=True)
        pdf.set_text_color(*BLACK)


SUMMARY_COLS = (40.0, 30.0, 64.0, 18.0, 16.0, 18.0)


def _summary(pdf: BulletinPDF, b: Bulletin, w: Words) -> None:
    pdf.section(w.t("bulletin.summary"))
    if not b.basins:
        pdf.cell(0, 5, w.t("bulletin.no_basins"), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        return
    heads = (
        w.t("col.basin"),
        w.t("bulletin.risk_level"),
        w.t("bulletin.expected"),
        w.t("col.trend"),
        w.t("col.stations"),
        w.t("bulletin.no_level_count"),
    )
    _header_row(pdf, SUMMARY_COLS, heads, 7.0)
    for basin in b.basins:
        expected = w.expected(basin.level, basin.probability, basin.first_date, basin.state)
        if basin.overridden and basin.override_reason:
            expected += " *"
        cells = (basin.name, None, expected, w.trend(basin.trend), str(basin.n_stations), str(basin.n_no_level))
        pdf.set_font(FONT, "B", 7)
        badge_lines = pdf.lines_needed(w.level(basin.level, basin.state), SUMMARY_COLS[1])
        pdf.set_font(FONT, "", 7.5)
        n = max(pdf.lines_needed(str(c), SUMMARY_COLS[i]) for i, c in enumerate(cells) if c is not None)
        h = max(3.6 * n, 3.2 * badge_lines) + 1
        if pdf.will_page_break(h):
            pdf.add_page()
            _header_row(pdf, SUMMARY_COLS, heads, 7.0)
        x, y = MARGIN, pdf.get_y()
        for i, (width, text) in enumerate(zip(SUMMARY_COLS, cells, strict=True)):
            pdf.set_xy(x, y)
            if text is None:
                pdf.set_font(FONT, "B", 7)
                pdf.badge_block(x, y, width, h, basin.level, w.level(basin.level, basin.state))
                pdf.set_font(FONT, "", 7.5)
            else:
                warn = i == 5 and basin.n_no_level > 0
                pdf.set_text_color(*((138, 90, 0) if warn else BLACK))
                pdf.set_xy(x, y + 0.5)
                pdf.para(width, 3.6, text, align="R" if i >= 4 else "L")
                pdf.set_text_color(*BLACK)
            x += width
        pdf.set_draw_color(*LINE)
        pdf.line(MARGIN, y + h, MARGIN + sum(SUMMARY_COLS), y + h)
        pdf.set_xy(MARGIN, y + h)
    overrides = [bs for bs in b.basins if bs.overridden and bs.override_reason]
    if overrides:
        pdf.ln(1)
        pdf.set_font(FONT, "", 7.5)
        for bs in overrides:
            text = f"* {bs.name}: {w.t('phrase.override', reason=bs.override_reason)}"
            pdf.para(WIDTH, 3.6, text)


def _header_row(pdf: BulletinPDF, cols: tuple[float, ...], heads: tuple[str, ...], h: float) -> None:
    """A grey header row whose cells wrap (up to three lines; the row grows to `h` or what they need)."""
    pdf.set_font(FONT, "B", 6)
    pdf.set_fill_color(236, 240, 243)
    x0, y0 = pdf.get_x(), pdf.get_y()
    x = x0
    wrapped = [pdf.wrap(text, width)[:3] for width, text in zip(cols, heads, strict=True)]
    h = max(h, 3.0 * max(len(lines) for lines in wrapped) + 1.0)
    for width, lines in zip(cols, wrapped, strict=True):
        pdf.rect(x, y0, width, h, style="F")
        pdf.set_xy(x, y0 + (h - 3.0 * len(lines)) / 2)
        for line in lines:
            pdf.set_x(x)
            pdf.cell(width, 3.0, line, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
        x += width
    pdf.set_xy(x0, y0 + h)


def _outlooks(pdf: BulletinPDF, b: Bulletin, w: Words) -> None:
    basins = [bs for bs in b.basins if bs.outlook is not None]
    if not basins:
        return
    pdf.section(w.t("outlook.title"))
    for bs in basins:
        pdf.set_font(FONT, "B", 8)
        pdf.cell(44, 4, pdf.fit(bs.name, 44))
        pdf.set_font(FONT, "", 8)
        pdf.para(WIDTH - 44, 4, w.outlook(bs.outlook))


def _notes(pdf: BulletinPDF, b: Bulletin, w: Words) -> None:
    pdf.section(w.t("bulletin.notes"))
    if not b.notes:
        pdf.set_text_color(*MUTED)
        pdf.cell(0, 4, w.t("bulletin.notes_none"), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(*BLACK)
        return
    for n in b.notes:
        text = f"{w.date(n.at.date())}: {w.note(n)}"
        pdf.para(WIDTH, 3.8, text)


def _no_level(pdf: BulletinPDF, b: Bulletin, w: Words) -> None:
    pdf.section(w.t("bulletin.no_level_title"))
    rows = b.no_level
    if not rows:
        pdf.cell(0, 4, w.t("bulletin.no_level_none"), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        return
    for s in rows:
        if pdf.will_page_break(8):
            pdf.add_page()
        y = pdf.get_y()
        pdf.set_font(FONT, "B", 7.5)
        pdf.para(58, 3.8, f"{s.name} ({s.station_id})")
        bottom = pdf.get_y()
        pdf.set_xy(MARGIN + 58, y)
        pdf.set_font(FONT, "B", 6.5)
        pdf.badge(32, 3.8, None, w.level(None, s.state))
        pdf.set_xy(MARGIN + 92, y)
        pdf.set_font(FONT, "", 7.5)
        pdf.para(WIDTH - 92, 3.8, w.reason(s, b.issue_date))
        pdf.set_y(max(bottom, pdf.get_y()) + 0.5)


def _lead_cols(has_levels: bool) -> tuple[float, ...]:
    return (20.0, 29.0, 26.0, 19.0, 19.0, 19.0) if has_levels else (22.0, 44.0, 22.0, 22.0, 22.0)


def _station_height(pdf: BulletinPDF, s: BulletinStation, w: Words) -> float:
    pdf.set_font(FONT, "B", 9)
    title = pdf.lines_needed(f"{s.name} — {s.river} ({s.station_id})", WIDTH - 42) * 4.6
    pdf.set_font(FONT, "", 7.5)
    status = pdf.lines_needed(w.station_status(s, pdf.bulletin.issue_date), WIDTH) * 3.5
    table = (7.0 + ROW_H * len(s.leads)) if s.leads else 4.0
    marks = pdf.lines_needed(w.marks(s), WIDTH) * 3.3
    return 1.5 + title + status + 4.0 + max(table, THUMB_H if s.history or s.leads else 0) + marks + 3.0


def _station(pdf: BulletinPDF, b: Bulletin, s: BulletinStation, w: Words) -> None:
    need = _station_height(pdf, s, w)
    if pdf.will_page_break(need):
        pdf.add_page()
    pdf.set_draw_color(*LINE)
    pdf.line(MARGIN, pdf.get_y(), PAGE_W - MARGIN, pdf.get_y())
    pdf.ln(0.8)
    pdf.set_font(FONT, "B", 9)
    title = s.name + (f" — {s.river}" if s.river and s.river != s.name else "") + f" ({s.station_id})"
    y = pdf.get_y()
    pdf.set_xy(PAGE_W - MARGIN - 40, y)
    pdf.set_font(FONT, "B", 7)
    pdf.badge(40, 4.6, s.level, w.level(s.level, s.state))
    pdf.set_xy(MARGIN, y)
    pdf.set_font(FONT, "B", 9)
    pdf.para(WIDTH - 42, 4.6, title)
    pdf.ln(0.6)
    pdf.set_font(FONT, "", 7.5)
    pdf.para(WIDTH, 3.5, w.station_status(s, b.issue_date))
    pdf.cell(WIDTH, 4, pdf.fit(w.observed(s), WIDTH), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    top = pdf.get_y()
    bottom = top
    if s.leads:
        bottom = _lead_table(pdf, b, s, w)
    else:
        pdf.set_text_color(*MUTED)
        text = w.t("bulletin.no_forecast_table")
        pdf.cell(WIDTH - THUMB_W - 4, 4, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(*BLACK)
        bottom = pdf.get_y()
    if s.history or s.leads:
        _thumb(pdf, b, s, PAGE_W - MARGIN - THUMB_W, top + 0.5)
        bottom = max(bottom, top + THUMB_H + 1)
    pdf.set_xy(MARGIN, bottom + 0.5)
    pdf.set_font(FONT, "", 7)
    pdf.set_text_color(*MUTED)
    pdf.para(WIDTH, 3.3, w.marks(s))
    pdf.set_text_color(*BLACK)
    pdf.ln(1.5)


def _lead_table(pdf: BulletinPDF, b: Bulletin, s: BulletinStation, w: Words) -> float:
    has_levels = s.has_levels
    cols = _lead_cols(has_levels)
    heads = [w.t("col.date"), w.t("bulletin.col_q")]
    if has_levels:
        heads.append(w.t("bulletin.col_h"))
    heads += [f"P: {w.mark(k)}" for k in KINDS]
    _header_row(pdf, cols, tuple(heads), 7.0)
    alert = b.alert_probability if b.alert_probability is not None else 0.3
    pdf.set_font(FONT, "", 7)
    for ld in s.leads:
        x = MARGIN
        pdf.set_x(x)
        pdf.cell(cols[0], ROW_H, f"{w.short_date(ld.valid_date)} (+{ld.lead})", border="B")
        pdf.cell(cols[1], ROW_H, w.range_text(ld.q_median, ld.q_low, ld.q_high), border="B", align="R")
        k = 2
        if has_levels:
            pdf.cell(cols[2], ROW_H, w.range_text(ld.h_median, ld.h_low, ld.h_high, 0), border="B", align="R")
            k = 3
        for j, kind in enumerate(KINDS):
            p = ld.p_exceed.get(kind)
            hot = p is not None and p >= alert and s.level is not None
            if hot:
                pdf.set_fill_color(*_light(rgb(level_colour(KIND_LEVEL[kind]))))
            pdf.cell(cols[k + j], ROW_H, w.pct(p), border="B", align="R", fill=hot)
        pdf.ln(ROW_H)
    return pdf.get_y()


def _thumb(pdf: BulletinPDF, b: Bulletin, s: BulletinStation, x: float, y: float) -> None:
    t = thumbnail(s, b.issue_date, THUMB_W, THUMB_H)
    pdf.set_line_width(0.2)
    pdf.set_draw_color(*LINE)
    pdf.rect(x, y, THUMB_W, THUMB_H)
    if t.empty:
        return

    def at(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(x + px, y + py) for px, py in points]

    for my, colour in t.marks:
        pdf.set_draw_color(*rgb(colour))
        pdf.set_dash_pattern(1.0, 0.7)
        pdf.line(x, y + my, x + THUMB_W, y + my)
    pdf.set_dash_pattern()
    pdf.set_draw_color(154, 160, 166)
    pdf.line(x + t.issue_x, y, x + t.issue_x, y + THUMB_H)
    if len(t.band) > 2:
        pdf.set_fill_color(188, 214, 236)
        pdf.polygon(at(t.band), style="F")
    pdf.set_line_width(0.35)
    if len(t.median) > 1:
        pdf.set_draw_color(31, 119, 180)
        pdf.polyline(at(t.median))
    if len(t.observed) > 1:
        pdf.set_draw_color(*BLACK)
        pdf.polyline(at(t.observed))
    pdf.set_line_width(0.2)
    pdf.set_font(FONT, "", 5.5)
    pdf.set_text_color(*MUTED)
    pdf.set_xy(x + 0.5, y + 0.3)
    pdf.cell(THUMB_W - 1, 2.4, f"{pdf.words.num(t.y_max)} {pdf.words.units(t.units)}")
    pdf.set_xy(x + 0.5, y + THUMB_H - 2.7)
    pdf.cell(THUMB_W - 1, 2.4, pdf.words.num(t.y_min))
    pdf.set_text_color(*BLACK)


def _basin(pdf: BulletinPDF, b: Bulletin, basin: BulletinBasin, w: Words) -> None:
    first = basin.stations[0] if basin.stations else None
    need = 12 + (_station_height(pdf, first, w) if first is not None else 0)
    if pdf.will_page_break(need):
        pdf.add_page()
    pdf.ln(2)
    pdf.set_font(FONT, "B", 11)
    pdf.cell(WIDTH - 44, 6.5, pdf.fit(w.basin_title(basin), WIDTH - 44))
    pdf.set_font(FONT, "B", 8)
    pdf.badge(44, 6.5, basin.level, w.level(basin.level, basin.state))
    pdf.ln(7.5)
    for s in basin.stations:
        _station(pdf, b, s, w)


def render_pdf(bulletin: Bulletin, lang: str) -> bytes:
    """The bulletin as PDF bytes in `lang` (kk | ru | en)."""
    w = Words(lang)
    pdf = BulletinPDF(bulletin, w)
    pdf.add_page()
    _title(pdf, bulletin, w)
    _summary(pdf, bulletin, w)
    _outlooks(pdf, bulletin, w)
    _notes(pdf, bulletin, w)
    _no_level(pdf, bulletin, w)
    pdf.set_font(FONT, "", 7)
    pdf.set_text_color(*MUTED)
    pdf.ln(1)
    what = w.t("bulletin.discharge")
    pdf.para(WIDTH, 3.4, w.t("bulletin.chart_note", what=what))
    pdf.para(WIDTH, 3.4, w.generated(bulletin))
    pdf.set_text_color(*BLACK)
    for basin in bulletin.basins:
        _basin(pdf, bulletin, basin, w)
    return bytes(pdf.output())
