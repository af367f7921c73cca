"""The gettext catalogues of the dashboard (service/locale/<lang>/LC_MESSAGES/messages.po): every key the code and the
templates use is in them (or in the pending dict) with a Kazakh and a Russian text; a template shows no text of its
own (only what comes from the catalogue or the data); the checks fail on a catalogue that lacks a translation and on
a template with a literal word; plural forms follow each language's rule; the .po files work from the source tree
alone (compiled in memory, no .mo needed)."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po, write_po

from service import i18n
from service.i18n_po import LANGS, METHOD_MAP, extract_keys, problems, read_catalog

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = sorted((ROOT / "service" / "templates").glob("*.html"))
# words a template may show as they are: format names
ALLOWED_WORDS = {"PDF", "CSV", "XLSX"}
SHOWN_ATTRS = {"title", "alt", "placeholder", "aria-label", "label"}


@pytest.fixture(scope="module")
def used_keys() -> dict[str, list[tuple[str, int]]]:
    return extract_keys(ROOT)


def test_every_key_used_is_in_the_catalogue_in_every_language(used_keys):
    assert len(used_keys) > 300  # the extraction sees the code and the templates
    for key in ("map.title", "station.hydrograph", "chart.clim", "mapjs.search", "level.danger", "error.not_found"):
        assert key in used_keys, key  # literal keys, DYNAMIC_KEYS (N_) and error_page(..., key)
    pending = i18n._pending()
    missing = {}
    for key, where in used_keys.items():
        langs = [
            lang for lang in LANGS if key not in i18n._catalogue(lang).texts and not pending.get(key, {}).get(lang)
        ]
        if langs:
            missing[key] = (langs, where[:2])
    assert missing == {}, missing


def test_catalogues_are_complete_and_consistent():
    assert problems() == []  # every entry translated in kk, ru and en; plural counts; the same {fields} as English
    assert i18n.missing_keys() == {}  # the pending dict too


def test_the_check_fails_on_a_missing_translation(tmp_path):
    cats = {lang: read_catalog(lang) for lang in LANGS}
    cats["kk"].get("map.title").string = ""  # a Kazakh text removed
    cats["ru"].get("station.units_q").flags.add("fuzzy")  # a Russian text marked fuzzy (not reviewed)
    cats["ru"].get("age.days").string = ("{n} день", "{n} дня")  # one plural form short
    found = problems(cats)
    assert "kk: map.title: no translation" in found
    assert "ru: station.units_q: no translation" in found
    assert "ru: age.days: 2 plural forms, the language has 3" in found
    cats = {lang: read_catalog(lang) for lang in LANGS}
    cats["ru"].get("station.no_forecast_for").string = "Нет прогноза для поста {idd}."
    assert problems(cats) == ["ru: station.no_forecast_for: fields ['idd'] differ from English ['id']"]


class _Text(HTMLParser):
    """The text a reader sees in a template: text nodes and shown attributes, template code replaced by §."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        self.found += [v for k, v in attrs if k in SHOWN_ATTRS and v]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.found.append(data)


def literal_words(source: str) -> list[str]:
    """Words (runs of letters of any script) that a template shows outside {{ }}, {% %} and {# #}."""
    code = re.sub(r"{{.*?}}|{%.*?%}|{#.*?#}", "§", source, flags=re.S)
    parser = _Text()
    parser.feed(code)
    words = [w for text in parser.found for w in re.findall(r"[^\W\d_]+", text)]
    return [w for w in words if w not in ALLOWED_WORDS]


def test_templates_show_no_text_of_their_own():
    offenders = {p.name: literal_words(p.read_text(encoding="utf-8")) for p in TEMPLATES}
    assert {k: v for k, v in offenders.items() if v} == {}
    # the check sees text nodes and shown attributes, not code, tags, scripts or data attributes
    sample = '<p title="Zoom">Hello {{ tr("x.y") }} <b>мир</b></p><script>var a = "b";</script><i data-x="no">§</i>'
    assert literal_words(sample) == ["Zoom", "Hello", "мир"]


def test_babel_cfg_matches_the_extraction():
    from babel.messages.frontend import parse_mapping_cfg

    with (ROOT / "babel.cfg").open(encoding="utf-8") as f:
        method_map, _options = parse_mapping_cfg(f)
    assert method_map == METHOD_MAP


def test_plural_forms_follow_each_language():
    assert [i18n.t("age.days", "ru", n=n) for n in (1, 3, 5, 11, 21, 22, 25, 111)] == [
        "1 день", "3 дня", "5 дней", "11 дней", "21 день", "22 дня", "25 дней", "111 дней"
    ]  # fmt: skip
    assert [i18n.t("age.days", "en", n=n) for n in (1, 2)] == ["1 day", "2 days"]
    assert [i18n.t("age.days", "kk", n=n) for n in (1, 2)] == ["1 күн", "2 күн"]  # Kazakh: no plural after numbers
    assert i18n.t("thr.derived", "ru", n=2).endswith("1 раз в 2 года")
    assert i18n.t("thr.derived", "ru", n=20).endswith("1 раз в 20 лет")
    ru = read_catalog("ru")
    assert ru.num_plurals == 3 and read_catalog("kk").num_plurals == 2 and read_catalog("en").num_plurals == 2


def test_po_files_round_trip_and_need_no_build_step(tmp_path):
    """The running service reads the .po files (Babel compiles them in memory): no .mo is shipped or needed; a
    written catalogue reads back to the same messages (the files stay in Babel's own form)."""
    assert not list((ROOT / "service" / "locale").rglob("*.mo"))
    for lang in LANGS:
        path = ROOT / "service" / "locale" / lang / "LC_MESSAGES" / "messages.po"
        cat = read_po(path.open("rb"), locale=lang)
        buf = io.BytesIO()
        write_po(buf, cat, width=0, sort_output=True)
        again = read_po(io.BytesIO(buf.getvalue()), locale=lang)
        assert {m.id: m.string for m in again} == {m.id: m.string for m in cat}
    assert i18n.t("map.title", "kk") == "Су тасқыны қаупінің картасы"
    assert i18n.t("no.such.key", "ru") == "no.such.key"  # an unknown key shows itself (and the test above fails)


def test_risk_level_is_never_the_water_level():
    """«уровень» / «деңгей» is the water level only; the risk category is «степень опасности» / «қауіптілік
    дәрежесі» (docs/glossary.md); none of the replaced calques or abbreviations is left."""
    ru = {k: v for k, v in i18n._catalogue("ru").texts.items() if isinstance(v, str)}
    kk = {k: v for k, v in i18n._catalogue("kk").texts.items() if isinstance(v, str)}
    assert ru["col.level"] == "Степень опасности" and kk["col.level"] == "Қауіптілік дәрежесі"
    for key, text in ru.items():
        if re.search(r"уров", text, re.I):
            assert re.search(r"уров\w* вод|Уровни выше|уровни выше|уровень воды|Уровень воды|уровня воды", text), key
    for key, text in kk.items():
        if "деңгей" in text.lower():
            assert re.search(r"су деңгей|деңгейі|деңгейлер", text, re.I), key
    everything = " ".join(list(ru.values()) + list(kk.values()))
    for calque in ("Запуск", "Іске қосу", "Деректер жасы", "Устар.", "Возраст данных", "Заблаговр.", "m3/s"):
        assert calque not in everything, calque
