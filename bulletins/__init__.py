"""Bulletin renderers: the daily bulletin (records.bulletin.Bulletin) as PDF, XLSX and HTML in kk, ru and en.

Presentation only, shared by the web service (the API serves the bulletins) and the flows (the daily run writes
them into the home): so it imports neither `service`'s web application nor `flows` nor Prefect. The words come
from the dashboard's catalogue through `bulletins.i18n`, the one accessor of it outside service/ (ARCHITECTURE.md).

    render(bulletin, "pdf", "kk") -> bytes
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from records.bulletin import Bulletin

FORMATS: tuple[str, ...] = ("pdf", "xlsx", "html")
MEDIA_TYPES = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html; charset=utf-8",
}


class UnsupportedFormat(ValueError):
    """A bulletin format other than pdf, xlsx or html."""


def render(bulletin: Bulletin, fmt: str, lang: str) -> bytes:
    """The bulletin in format `fmt` (pdf | xlsx | html) and language `lang` (kk | ru | en; others raise
    bulletins.i18n.UnsupportedLanguage)."""
    from bulletins.i18n import check_lang

    lang = check_lang(lang)
    if fmt == "pdf":
        from bulletins.pdf import render_pdf

        return render_pdf(bulletin, lang)
    if fmt == "xlsx":
        from bulletins.xlsx import render_xlsx

        return render_xlsx(bulletin, lang)
    if fmt == "html":
        from bulletins.html import render_html

        return render_html(bulletin, lang).encode("utf-8")
    raise UnsupportedFormat(f"unsupported bulletin format {fmt!r}: use one of {', '.join(FORMATS)}")
