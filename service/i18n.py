"""Languages of the dashboard: Kazakh (kk), Russian (ru, the default) and English (en).

Every label, level name and message comes from the gettext catalogues `service/locale/<lang>/LC_MESSAGES/
messages.po` through `t(key, lang, **fields)`: the message ids are the keys (`"map.title"`), `{fields}` are filled
with str.format. A plural entry takes its form from the `n` field (`t("age.days", "ru", n=3)` -> "3 дня"). The
`.po` files are compiled in memory at first use (Babel), so nothing has to be built after `pip install -e .`;
`python -m service.i18n_po` extracts the keys and checks the catalogues (see there).

Dates and numbers follow CLDR through Babel: ru "14 апреля 2024 г.", kk "2024 ж. 14 сәуір", en "14 April 2024";
"1 234,5" (no-break space, decimal comma) in ru and kk, "1,234.5" in en; percentages "45 %" in ru as CLDR writes them.
The language is chosen by `?lang=kk|ru|en` and remembered in the `tasqyn_lang` cookie. River and station names are
shown as the data gives them (never translated). The level colours have one definition, the `:root` block of
`static/dashboard.css`, read here for the server-drawn SVG (LEVEL_COLOURS).
"""

from __future__ import annotations

import datetime as dt
import gettext
import io
import math
import numbers
import re
import threading
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date as _babel_date
from babel.dates import format_skeleton
from babel.numbers import format_decimal

from service.i18n_po import messages, mo_bytes, read_catalog

LANGS: tuple[str, ...] = ("ru", "kk", "en")
DEFAULT_LANG = "ru"
LANG_COOKIE = "tasqyn_lang"
LANG_NAMES = {"kk": "Қазақша", "ru": "Русский", "en": "English"}
BABEL_LOCALES = {"ru": "ru", "kk": "kk", "en": "en_GB"}  # English dates as in Kazakhstan: day month year

# Kazakh ablative ("from ...") of each month name, for "14 сәуірден бастап" (CLDR has no ablative)
KK_MONTHS_ABL = ["қаңтардан", "ақпаннан", "наурыздан", "сәуірден", "мамырдан", "маусымнан", "шілдеден", "тамыздан",
                 "қыркүйектен", "қазаннан", "қарашадан", "желтоқсаннан"]  # fmt: skip

LEVEL_KEYS = ("normal", "warning", "danger", "extreme")
CSS = Path(__file__).resolve().parent / "static" / "dashboard.css"


def _css_colours(path: Path = CSS) -> dict[str, str]:
    """The `--name: #rrggbb` custom properties of the stylesheet's first `:root` block (the level colours)."""
    text = path.read_text(encoding="utf-8")
    root = re.search(r":root\s*{([^}]*)}", text)
    if root is None:
        raise RuntimeError(f"{path}: no :root block with the level colours")
    return dict(re.findall(r"--([\w-]+)\s*:\s*(#[0-9a-fA-F]{6})\b", root.group(1)))


_COLOURS = _css_colours()
LEVEL_COLOURS = {k: _COLOURS[f"l{k}"] for k in range(4)}  # normal, warning, danger, extreme
NO_DATA_COLOUR = _COLOURS["none"]
LEVEL_TEXT_COLOURS = {k: _COLOURS.get(f"l{k}-text", LEVEL_COLOURS[k]) for k in range(4)}  # text on white


def N_(key: str) -> str:  # noqa: N802 - the gettext convention
    """Marks a key for extraction (python -m service.i18n_po) without translating it."""
    return key


UNIT_KEYS = {"m3/s": N_("units.m3s"), "cm": N_("units.cm"), "km2": N_("units.km2")}


def unit(units: str, lang: str = DEFAULT_LANG) -> str:
    """A unit in the reader's script: "m3/s" -> м³/с (ru, kk) or m³/s (en), "cm" -> см or cm."""
    return t(UNIT_KEYS.get(units, N_("units.m3s")), lang)


# Keys the code builds at run time ("level." + kind): declared here so that extraction and the catalogue test see them.
DYNAMIC_KEYS = (
    N_("level.normal"), N_("level.warning"), N_("level.danger"), N_("level.extreme"), N_("level.none"),
    N_("levelnoun.warning"), N_("levelnoun.danger"), N_("levelnoun.extreme"),
    N_("threshold.warning"), N_("threshold.danger"), N_("threshold.extreme"),
    N_("prob.very_likely"), N_("prob.likely"), N_("prob.possible"), N_("prob.unlikely"),
    N_("state.ok"), N_("state.stale"), N_("state.climatology"), N_("state.fallback"), N_("state.no_thresholds"),
    N_("state.failed"), N_("state.no_forecast"), N_("state.no_data"),
    N_("trend.rising"), N_("trend.steady"), N_("trend.falling"),
    N_("role.admin"), N_("role.hydrologist"), N_("role.akimat"), N_("role.anonymous"), N_("role.system"),
    N_("runstatus.running"), N_("runstatus.success"), N_("runstatus.failed"),
    N_("review.draft"), N_("review.approved"), N_("review.unreviewed"), N_("review.unpublished"),
    N_("action.approve"), N_("action.override"), N_("action.publish"), N_("action.auto_publish"),
    N_("driver.flow"), N_("driver.rain"), N_("driver.snow"), N_("driver.temperature"), N_("driver.season"),
    N_("driver.basin"), N_("driver.calibration"), N_("driver.nwp_rain"), N_("driver.nwp_temperature"),
    N_("col.station"), N_("col.basin"),
    N_("model.lightgbm"), N_("model.persistence"), N_("model.climatology"),
    N_("reason.climatology"), N_("reason.fallback"), N_("reason.no_thresholds"), N_("reason.failed"),
    N_("reason.no_forecast"), N_("station.units_q"), N_("station.units_h"), N_("station.above_chart"),
    N_("outlook.volume"), N_("outlook.volume_mm"), N_("outlook.peak"), N_("outlook.swe_measured"),
    N_("outlook.swe_degree_day"), N_("login.rate_limited"), N_("error.busy"), N_("review.reason_required"),
    # the error pages of service/errors.py (by HTTP status)
    N_("error.login_required"), N_("error.forbidden"), N_("error.not_found"), N_("error.method"), N_("error.invalid"),
    N_("error.unavailable"), N_("error.server"),
)  # fmt: skip


# --- the catalogues ------------------------------------------------------------------------------------------------


class _Catalogue:
    """One language's messages: the .po compiled in memory to GNU gettext, and the keys that are plural."""

    def __init__(self, lang: str) -> None:
        cat = read_catalog(lang)
        self.gnu = gettext.GNUTranslations(io.BytesIO(mo_bytes(cat)))
        self.texts = messages(cat)
        self.plural = {k for k, v in self.texts.items() if isinstance(v, tuple)}

    def text(self, key: str, n: object) -> str | None:
        if key not in self.texts:
            return None
        if key in self.plural:
            count = int(n) if isinstance(n, numbers.Real) and not _missing(n) else 0
            return self.gnu.ngettext(key, key, abs(count))
        return self.gnu.gettext(key)


_LOCK = threading.Lock()


@cache
def _catalogue(lang: str) -> _Catalogue:
    with _LOCK:
        return _Catalogue(lang)


def reload() -> None:
    """Read the .po files again (after editing them in a running process, e.g. in tests)."""
    _catalogue.cache_clear()


def _pending() -> dict[str, dict[str, str]]:
    """Entries waiting in service/i18n_catalog.py to be moved into the .po files (python -m service.i18n_po absorb)."""
    from service.i18n_catalog import CATALOG

    return CATALOG


def norm_lang(lang: str | None) -> str:
    """A supported language code (unknown or empty -> the default, Russian)."""
    if not lang:
        return DEFAULT_LANG
    lang = lang.strip().lower()[:2]
    return lang if lang in LANGS else DEFAULT_LANG


def has_key(key: str) -> bool:
    """True if the catalogues (or the pending dict) know `key`."""
    return any(key in _catalogue(lang).texts for lang in LANGS) or key in _pending()


def t(key: str, lang: str = DEFAULT_LANG, **fields: object) -> str:
    """The text of `key` in `lang` with `{fields}` filled (a plural entry by `n`); falls back to Russian, then
    English, then the key itself."""
    text = None
    for code in dict.fromkeys((norm_lang(lang), DEFAULT_LANG, "en")):
        text = _catalogue(code).text(key, fields.get("n"))
        if text:
            break
    else:
        entry = _pending().get(key) or {}
        text = entry.get(norm_lang(lang)) or entry.get(DEFAULT_LANG) or entry.get("en") or key
    return text.format(**fields) if fields else text


def tn(key: str, n: int, lang: str = DEFAULT_LANG, **fields: object) -> str:
    """A plural message for the count `n` (same as t(key, lang, n=n, ...))."""
    return t(key, lang, n=n, **fields)


def missing_keys() -> dict[str, list[str]]:
    """Keys lacking a language (for tests): {key: [missing langs]} over the catalogues and the pending dict."""
    keys = set().union(*(set(_catalogue(lang).texts) for lang in LANGS))
    out = {k: [lang for lang in LANGS if k not in _catalogue(lang).texts] for k in keys}
    for k, v in _pending().items():
        out[k] = [lang for lang in LANGS if not v.get(lang) and k not in _catalogue(lang).texts]
    return {k: v for k, v in out.items() if v}


# --- dates and numbers (CLDR) ------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def babel_locale(lang: str) -> Locale:
    return Locale.parse(BABEL_LOCALES[norm_lang(lang)])


def format_date(day: dt.date | None, lang: str = DEFAULT_LANG, year: bool = True) -> str:
    """A date in the language's long form: ru "14 апреля 2024 г.", kk "2024 ж. 14 сәуір", en "14 April 2024";
    without the year: "14 апреля", "14 сәуір", "14 April" ("" for None)."""
    if day is None:
        return ""
    if isinstance(day, dt.datetime):
        day = day.date()
    loc = babel_locale(lang)
    return _babel_date(day, "long", locale=loc) if year else format_skeleton("dMMMM", day, locale=loc)


def format_date_from(day: dt.date, lang: str = DEFAULT_LANG) -> str:
    """The date as it stands after "from" in each language (kk takes the ablative: "14 сәуірден")."""
    if norm_lang(lang) == "kk":
        return f"{day.day} {KK_MONTHS_ABL[day.month - 1]}"
    return format_date(day, lang, year=False)


def format_short_date(day: dt.date, lang: str = DEFAULT_LANG) -> str:
    """A compact date for axes and tables (CLDR): "14 апр.", "14 сәу.", "14 Apr"."""
    return format_skeleton("dMMM", day, locale=babel_locale(lang))


def month_short(month: int, lang: str = DEFAULT_LANG) -> str:
    """The abbreviated stand-alone name of a month (1-12): "апр.", "сәу.", "Apr"."""
    return babel_locale(lang).months["stand-alone"]["abbreviated"][month]


def date_parts(lang: str = DEFAULT_LANG) -> dict[str, object]:
    """CLDR month names and the long date pattern of `lang`, for scripts that format dates themselves (a browser's
    own Kazakh data can be missing): months (abbreviated, as after a day number), months_standalone, months_full
    (as in a date), date_full: the long pattern with {d} {MMMM} {y} ("{d} {MMMM} {y} г.", "{y} ж. {d} {MMMM}")."""
    loc = babel_locale(lang)
    pattern = loc.date_formats["long"].pattern
    parts = re.split(r"('[^']*')", pattern)
    out = []
    for part in parts:
        if part.startswith("'"):
            out.append(part.strip("'"))
        else:
            out.append(re.sub(r"y+", "{y}", re.sub(r"M{3,4}", "{MMMM}", re.sub(r"d+", "{d}", part))))
    months = loc.months
    return {
        "months": [months["format"]["abbreviated"][m] for m in range(1, 13)],
        "months_standalone": [months["stand-alone"]["abbreviated"][m] for m in range(1, 13)],
        "months_full": [months["format"]["wide"][m] for m in range(1, 13)],
        "date_full": "".join(out),
    }


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
    """A number with a sensible precision (3 significant digits by default) in the language's CLDR form
    ("1 234,5" with a no-break space in ru and kk, "1,234.5" in en); "–" where missing."""
    if _missing(x):
        return "–"
    if digits is None:
        ax = abs(x)
        if ax == 0:
            return "0"
        digits = 0 if ax >= 100 else 1 if ax >= 10 else 2 if ax >= 0.1 else 3
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    value = Decimal(f"{float(x):.{digits}f}")  # rounded as Python rounds the float (1234.5 -> 1234, 2.345 -> 2.35)
    return format_decimal(value, pattern, locale=babel_locale(lang)).replace("-", "\u2212")


def _percent(value: float, lang: str, sign: str = "") -> str:
    """A whole percentage in the language's CLDR pattern ("45 %" in ru, "45%" in kk and en)."""
    loc = babel_locale(lang)
    pattern = loc.percent_formats[None].pattern.split(";")[0]
    number = format_decimal(value, "#,##0", locale=loc)
    return sign + pattern.replace("#,##0", number).replace("%", loc.number_symbols["latn"]["percentSign"])


def format_percent(value: float | None, lang: str = DEFAULT_LANG) -> str:
    """A quantity already in percent (127.4 -> "127 %" in ru, "127%" in kk and en); "–" where missing."""
    return "–" if _missing(value) else _percent(round(value), lang)


def format_pct(p: float | None, lang: str = DEFAULT_LANG) -> str:
    """A probability (0-1) as a whole percentage ("60 %" in ru, "60%" in kk and en); never "0" or "100" for a
    modelled probability ("<1 %", ">99 %"); "–" where missing."""
    if _missing(p):
        return "–"
    pct = round(100 * p)
    if p > 0 and pct == 0:
        return "<" + _percent(1, lang)
    if p < 1 and pct == 100:
        return ">" + _percent(99, lang)
    return _percent(pct, lang)


def format_change(pct: float | None, lang: str = DEFAULT_LANG) -> str:
    """A signed percentage change: "+35 %", "−12 %" (a true minus sign), "0 %"; "–" when unknown."""
    if pct is None or (isinstance(pct, float) and math.isnan(pct)):
        return "–"
    r = round(pct)
    if r == 0:
        return _percent(0, lang)
    return _percent(r, lang, "+") if r > 0 else _percent(-r, lang, "\u2212")


def format_age(days: int | None, lang: str = DEFAULT_LANG) -> str:
    """An age in days: "today", "1 day", ru "3 дня", kk "3 күн"."""
    if days is None:
        return "–"
    if days == 0:
        return t("age.today", lang)
    return t("age.days", lang, n=days)


# --- levels ---------------------------------------------------------------------------------------------------


def level_key(level: int | None) -> str:
    """0-3 -> normal | warning | danger | extreme (None -> none)."""
    return "none" if level is None else LEVEL_KEYS[max(0, min(3, int(level)))]


def level_name(level: int | None, lang: str = DEFAULT_LANG) -> str:
    """The risk level's name in `lang` (Норма, Неблагоприятная, Опасная, Критическая)."""
    return t(f"level.{level_key(level)}", lang)


def state_name(state: str | None, lang: str = DEFAULT_LANG) -> str:
    """The name of a station's state without a level (data out of date, climatology only, ...)."""
    return t(f"state.{state or 'no_forecast'}", lang)


def level_colour(level: int | None) -> str:
    """Green, yellow, red, purple for 0-3; grey for no current level (static/dashboard.css :root)."""
    return NO_DATA_COLOUR if level is None else LEVEL_COLOURS[max(0, min(3, int(level)))]


def probability_word(p: float, lang: str = DEFAULT_LANG) -> str:
    """Words for a probability: >= 0.8 very likely, >= 0.5 likely, >= 0.3 possible, else unlikely."""
    key = "very_likely" if p >= 0.8 else "likely" if p >= 0.5 else "possible" if p >= 0.3 else "unlikely"
    return t(f"prob.{key}", lang)


def level_phrase(
    level: int | None, probability: float | None, first_date: dt.date | None, lang: str = DEFAULT_LANG
) -> str:
    """The outlook in words: which mark is expected to be exceeded, how likely and from when, e.g. ru
    "Превышение опасной отметки вероятно с 14 апреля (вероятность 60 %)", kk "14 сәуірден бастап қауіпті белгіден
    асу ықтимал (ықтималдығы 60%)", en "Exceedance of the danger mark likely from 14 April (probability 60%)".
    Level 0: no exceedance expected."""
    if level is None:
        return t("level.none", lang)
    if level <= 0:
        if probability is not None and probability >= 0.005:
            return t("phrase.normal_p", lang, pct=format_pct(probability, lang))
        return t("phrase.normal", lang)
    noun = t(f"levelnoun.{level_key(level)}", lang)
    if probability is None:
        text = t("phrase.level_only", lang, level=noun)
    else:
        word = probability_word(probability, lang)
        pct = format_pct(probability, lang)
        if first_date is None:
            text = t("phrase.level_nodate", lang, level=noun, word=word, pct=pct)
        else:
            text = t("phrase.level", lang, level=noun, word=word, pct=pct, date=format_date_from(first_date, lang))
    return text[:1].upper() + text[1:]
