"""The one accessor of the dashboard's message catalogue outside service/: the bulletins and the notifications
use the same words, dates and numbers as the dashboard.

The catalogue and its formatting functions live in `service.i18n` (pure Python: it imports no web framework; a
test checks that importing `bulletins` loads no FastAPI or Starlette). When the catalogue moves out of service/
(the gettext move), only this file changes.
"""

from __future__ import annotations

from service.i18n import (  # the catalogue's public interface (pure Python)
    LANGS,
    format_age,
    format_change,
    format_date,
    format_datetime,
    format_number,
    format_pct,
    format_short_date,
    level_colour,
    level_key,
    level_name,
    level_phrase,
    probability_word,
    state_name,
    t,
)

__all__ = [
    "LANGS",
    "UnsupportedLanguage",
    "check_lang",
    "format_age",
    "format_change",
    "format_date",
    "format_datetime",
    "format_number",
    "format_pct",
    "format_short_date",
    "level_colour",
    "level_key",
    "level_name",
    "level_phrase",
    "probability_word",
    "state_name",
    "t",
]


class UnsupportedLanguage(ValueError):
    """A language the catalogue does not have (the API answers 422)."""


def check_lang(lang: str | None) -> str:
    """`lang` if it is one of LANGS (kk, ru, en), else UnsupportedLanguage with a clear message."""
    code = (lang or "").strip().lower()
    if code not in LANGS:
        raise UnsupportedLanguage(f"unsupported language {lang!r}: use one of {', '.join(LANGS)}")
    return code
