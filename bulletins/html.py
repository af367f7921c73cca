"""The bulletin as one self-contained HTML page (Jinja2 template `templates/bulletin.html`: inline style with a
print stylesheet for A4 portrait, inline SVG thumbnails, no script, no external reference), so that it can be
served, saved, mailed and printed as it is."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from bulletins import chart
from bulletins.i18n import level_colour
from bulletins.text import KIND_LEVEL, KINDS, Words
from records.bulletin import Bulletin

TEMPLATES = Path(__file__).resolve().parent / "templates"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def render_html(bulletin: Bulletin, lang: str) -> str:
    """The bulletin as an HTML document in `lang` (kk | ru | en)."""
    w = Words(lang)
    thumbs = {
        s.station_id: Markup(chart.svg(chart.thumbnail(s, bulletin.issue_date, 200, 110)))
        for s in bulletin.stations
        if s.history or s.leads
    }
    alert = bulletin.alert_probability if bulletin.alert_probability is not None else 0.3
    return (
        environment()
        .get_template("bulletin.html")
        .render(
            b=bulletin,
            w=w,
            lang=lang,
            kinds=KINDS,
            kind_level=KIND_LEVEL,
            colour=level_colour,
            thumbs=thumbs,
            alert=alert,
            footer_css=Markup(footer_css(bulletin, w)),
        )
    )


def _css_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\3c ") + '"'


def footer_css(bulletin: Bulletin, w: Words) -> str:
    """The footer as CSS `content` of an @page margin box: the catalogue's text with counter(page) and
    counter(pages) where its {page} and {pages} stand."""
    text = w.footer(bulletin, "\x00page\x00", "\x00pages\x00")
    parts = []
    for k, piece in enumerate(text.split("\x00")):
        if k % 2:
            parts.append(f"counter({piece})")
        elif piece:
            parts.append(_css_string(piece))
    return " ".join(parts)
