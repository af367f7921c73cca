"""Languages of the dashboard: Kazakh (kk), Russian (ru, the default) and English (en).

Every label, level name and message of the dashboard comes from `CATALOG` through `t(key, lang, **fields)`.
Dates are written in each language's own way: ru "14 апреля 2024", kk "2024 ж. 14 сәуір", en "14 April 2024".
The language is chosen by `?lang=kk|ru|en` and remembered in the `tasqyn_lang` cookie. River and station names
are shown as the data gives them (never translated).
"""

from __future__ import annotations

import datetime as dt
import math
import numbers

LANGS: tuple[str, ...] = ("ru", "kk", "en")
DEFAULT_LANG = "ru"
LANG_COOKIE = "tasqyn_lang"
LANG_NAMES = {"kk": "Қазақша", "ru": "Русский", "en": "English"}

MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"],
    # genitive, as in "14 апреля"
    "ru": ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября",
           "ноября", "декабря"],
    "kk": ["қаңтар", "ақпан", "наурыз", "сәуір", "мамыр", "маусым", "шілде", "тамыз", "қыркүйек", "қазан",
           "қараша", "желтоқсан"],
}  # fmt: skip
# Kazakh ablative ("from ...") of each month name, for "14 сәуірден бастап"
KK_MONTHS_ABL = ["қаңтардан", "ақпаннан", "наурыздан", "сәуірден", "мамырдан", "маусымнан", "шілдеден", "тамыздан",
                 "қыркүйектен", "қазаннан", "қарашадан", "желтоқсаннан"]  # fmt: skip
MONTHS_SHORT = {
    "en": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    "ru": ["янв", "фев", "мар", "апр", "мая", "июн", "июл", "авг", "сен", "окт", "ноя", "дек"],
    "kk": ["қаң", "ақп", "нау", "сәу", "мам", "мау", "шіл", "там", "қыр", "қаз", "қар", "жел"],
}  # fmt: skip

LEVEL_KEYS = ("normal", "warning", "danger", "extreme")
LEVEL_COLOURS = {0: "#2e9d4a", 1: "#f2c200", 2: "#d7301f", 3: "#7b2d9b"}
NO_DATA_COLOUR = "#9aa0a6"

# key -> {lang: text}; `{name}` fields are filled by t(..., name=...)
from service.i18n_catalog import CATALOG  # noqa: E402  (the messages: key -> {lang: text})


def norm_lang(lang: str | None) -> str:
    """A supported language code (unknown or empty -> the default, Russian)."""
    if not lang:
        return DEFAULT_LANG
    lang = lang.strip().lower()[:2]
    return lang if lang in LANGS else DEFAULT_LANG


def t(key: str, lang: str = DEFAULT_LANG, **fields: object) -> str:
    """The text of `key` in `lang` with `{fields}` filled; falls back to Russian, then English, then the key."""
    entry = CATALOG.get(key)
    if entry is None:
        return key
    text = entry.get(lang) or entry.get(DEFAULT_LANG) or entry.get("en") or key
    return text.format(**fields) if fields else text


def format_date(day: dt.date | None, lang: str = DEFAULT_LANG, year: bool = True) -> str:
    """A date in the local form: ru "14 апреля 2024", kk "2024 ж. 14 сәуір", en "14 April 2024" ("" for None)."""
    if day is None:
        return ""
    if isinstance(day, dt.datetime):
        day = day.date()
    m = MONTHS[norm_lang(lang)][day.month - 1]
    if lang == "kk":
        return f"{day.year} ж. {day.day} {m}" if year else f"{day.day} {m}"
    return f"{day.day} {m} {day.year}" if year else f"{day.day} {m}"


def format_date_from(day: dt.date, lang: str = DEFAULT_LANG) -> str:
    """The date as it stands after "from" in each language (kk takes the ablative: "14 сәуірден")."""
    if lang == "kk":
        return f"{day.day} {KK_MONTHS_ABL[day.month - 1]}"
    return format_date(day, lang, year=False)


def format_short_date(day: dt.date, lang: str = DEFAULT_LANG) -> str:
    """A compact date for axes and tables: "14 апр", "14 сәу", "14 Apr"."""
    return f"{day.day} {MONTHS_SHORT[norm_lang(lang)][day.month - 1]}"


def format_datetime(moment: dt.datetime | None, lang: str = DEFAULT_LANG) -> str:
    """A timestamp as "<date> HH:MM" in UTC."""
    if moment is None:
        return ""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return f"{format_date(moment.date(), lang)} {moment:%H:%M}"


def _missing(x: object) -> bool:
    """None, NaN or not a number at all (e.g. a key missing from a report, undefined in a template)."""
    return not isinstance(x, numbers.Real) or (isinstance(x, float) and math.isnan(x))


def format_number(x: float | None, lang: str = DEFAULT_LANG, digits: int | None = None) -> str:
    """A number with a sensible precision (3 significant digits by default); decimal comma in ru and kk; "–" where
    missing."""
    if _missing(x):
        return "–"
    if digits is None:
        ax = abs(x)
        if ax == 0:
            return "0"
        digits = 0 if ax >= 100 else 1 if ax >= 10 else 2 if ax >= 0.1 else 3
    s = f"{x:,.{digits}f}".replace(",", " ")
    if lang in ("ru", "kk"):
        s = s.replace(".", ",")
    return s


def format_pct(p: float | None) -> str:
    """A probability as a whole percentage ("60%"); never "0%" or "100%" for a modelled probability."""
    if _missing(p):
        return "–"
    pct = round(100 * p)
    if p > 0 and pct == 0:
        return "<1%"
    if p < 1 and pct == 100:
        return ">99%"
    return f"{pct}%"


def format_change(pct: float | None, lang: str = DEFAULT_LANG) -> str:
    """A signed percentage change: "+35%", "−12%" (a true minus sign), "0%"; "–" when unknown."""
    if pct is None or (isinstance(pct, float) and math.isnan(pct)):
        return "–"
    r = round(pct)
    if r == 0:
        return "0%"
    return f"+{r}%" if r > 0 else f"\u2212{-r}%"


def ru_days(n: int) -> str:
    """Russian plural of "день" for n."""
    n = abs(n)
    if n % 10 == 1 and n % 100 != 11:
        return "день"
    if n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14):
        return "дня"
    return "дней"


def format_age(days: int | None, lang: str = DEFAULT_LANG) -> str:
    """An age in days: "today", "1 day", ru "3 дня", kk "3 күн"."""
    if days is None:
        return "–"
    if days == 0:
        return t("age.today", lang)
    if lang == "en" and days == 1:
        return "1 day"
    return t("age.days", lang, n=days, days=ru_days(days))


def level_key(level: int | None) -> str:
    """0-3 -> normal | warning | danger | extreme (None -> none)."""
    return "none" if level is None else LEVEL_KEYS[max(0, min(3, int(level)))]


def level_name(level: int | None, lang: str = DEFAULT_LANG) -> str:
    """The level's name in `lang` (Норма, Неблагоприятный, Опасный, Критический)."""
    return t(f"level.{level_key(level)}", lang)


def state_name(state: str | None, lang: str = DEFAULT_LANG) -> str:
    """The name of a station's state without a level (no current data, climatology only, ...)."""
    return t(f"state.{state or 'no_forecast'}", lang)


def level_colour(level: int | None) -> str:
    """Green, yellow, red, purple for 0-3; grey for no forecast."""
    return NO_DATA_COLOUR if level is None else LEVEL_COLOURS[max(0, min(3, int(level)))]


def probability_word(p: float, lang: str = DEFAULT_LANG) -> str:
    """Words for a probability: >= 0.8 very likely, >= 0.5 likely, >= 0.3 possible, else unlikely."""
    key = "very_likely" if p >= 0.8 else "likely" if p >= 0.5 else "possible" if p >= 0.3 else "unlikely"
    return t(f"prob.{key}", lang)


def level_phrase(
    level: int | None, probability: float | None, first_date: dt.date | None, lang: str = DEFAULT_LANG
) -> str:
    """The outlook in words, e.g. "danger level likely (60%) from 14 April" / "опасный уровень вероятен (60%) с
    14 апреля" / "14 сәуірден бастап қауіпті деңгей ықтимал (60%)". Level 0: no exceedance expected."""
    if level is None:
        return t("level.none", lang)
    if level <= 0:
        if probability is not None and probability >= 0.005:
            return t("phrase.normal_p", lang, pct=format_pct(probability))
        return t("phrase.normal", lang)
    noun = t(f"levelnoun.{level_key(level)}", lang)
    if probability is None:
        return noun[:1].upper() + noun[1:]
    word = probability_word(probability, lang)
    if first_date is None:
        text = t("phrase.level_nodate", lang, level=noun, word=word, pct=format_pct(probability))
    else:
        text = t("phrase.level", lang, level=noun, word=word, pct=format_pct(probability),
                 date=format_date_from(first_date, lang))  # fmt: skip
    return text[:1].upper() + text[1:]


def missing_keys() -> dict[str, list[str]]:
    """Catalog entries lacking a language (for tests): {key: [missing langs]}."""
    return {
        k: [lang for lang in LANGS if not v.get(lang)] for k, v in CATALOG.items() if any(not v.get(x) for x in LANGS)
    }
