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
CATALOG: dict[str, dict[str, str]] = {
    # --- levels
    "level.normal": {"en": "Normal", "ru": "Норма", "kk": "Қалыпты"},
    "level.warning": {"en": "Warning", "ru": "Неблагоприятный", "kk": "Қолайсыз"},
    "level.danger": {"en": "Danger", "ru": "Опасный", "kk": "Қауіпті"},
    "level.extreme": {"en": "Extreme", "ru": "Критический", "kk": "Сыни"},
    "level.none": {"en": "No forecast", "ru": "Нет прогноза", "kk": "Болжам жоқ"},
    # level nouns inside a sentence
    "levelnoun.warning": {"en": "warning level", "ru": "неблагоприятный уровень", "kk": "қолайсыз деңгей"},
    "levelnoun.danger": {"en": "danger level", "ru": "опасный уровень", "kk": "қауіпті деңгей"},
    "levelnoun.extreme": {"en": "extreme level", "ru": "критический уровень", "kk": "сыни деңгей"},
    "threshold.warning": {"en": "warning", "ru": "неблагоприятная отметка", "kk": "қолайсыз белгі"},
    "threshold.danger": {"en": "danger", "ru": "опасная отметка", "kk": "қауіпті белгі"},
    "threshold.extreme": {"en": "extreme", "ru": "критическая отметка", "kk": "сыни белгі"},
    # --- probability in words
    "prob.very_likely": {"en": "very likely", "ru": "весьма вероятен", "kk": "өте ықтимал"},
    "prob.likely": {"en": "likely", "ru": "вероятен", "kk": "ықтимал"},
    "prob.possible": {"en": "possible", "ru": "возможен", "kk": "мүмкін"},
    "prob.unlikely": {"en": "unlikely", "ru": "маловероятен", "kk": "екіталай"},
    "phrase.level": {
        "en": "{level} {word} ({pct}) from {date}",
        "ru": "{level} {word} ({pct}) с {date}",
        "kk": "{date} бастап {level} {word} ({pct})",
    },
    "phrase.level_nodate": {
        "en": "{level} {word} ({pct})",
        "ru": "{level} {word} ({pct})",
        "kk": "{level} {word} ({pct})",
    },
    "phrase.normal": {
        "en": "no threshold exceedance expected",
        "ru": "превышения отметок не ожидается",
        "kk": "белгілерден асу күтілмейді",
    },
    "phrase.normal_p": {
        "en": "no threshold exceedance expected (warning level {pct})",
        "ru": "превышения отметок не ожидается (неблагоприятный уровень {pct})",
        "kk": "белгілерден асу күтілмейді (қолайсыз деңгей {pct})",
    },
    "phrase.override": {
        "en": "set by a hydrologist: {reason}",
        "ru": "установлено гидрологом: {reason}",
        "kk": "гидролог белгіледі: {reason}",
    },
    # --- header and navigation
    "app.title": {"en": "Tasqyn flood forecast", "ru": "Тасқын: прогноз паводков", "kk": "Тасқын: су тасқыны болжамы"},
    "app.short": {"en": "Tasqyn", "ru": "Тасқын", "kk": "Тасқын"},
    "nav.map": {"en": "Map", "ru": "Карта", "kk": "Карта"},
    "nav.runs": {"en": "Runs", "ru": "Запуски", "kk": "Іске қосулар"},
    "nav.login": {"en": "Log in", "ru": "Войти", "kk": "Кіру"},
    "nav.logout": {"en": "Log out", "ru": "Выйти", "kk": "Шығу"},
    "nav.signed_in": {"en": "{user} ({role})", "ru": "{user} ({role})", "kk": "{user} ({role})"},
    "role.admin": {"en": "administrator", "ru": "администратор", "kk": "әкімші"},
    "role.hydrologist": {"en": "hydrologist", "ru": "гидролог", "kk": "гидролог"},
    "role.akimat": {"en": "akimat", "ru": "акимат", "kk": "әкімдік"},
    "role.anonymous": {"en": "guest", "ru": "гость", "kk": "қонақ"},
    "role.system": {"en": "system", "ru": "система", "kk": "жүйе"},
    "status.issue_date": {"en": "Issued", "ru": "Выпуск", "kk": "Шығарылды"},
    "status.review": {"en": "Review", "ru": "Проверка", "kk": "Тексеру"},
    "status.data_age": {"en": "Data age", "ru": "Возраст данных", "kk": "Деректер жасы"},
    "status.newest_obs": {
        "en": "newest observation {date}",
        "ru": "последнее наблюдение {date}",
        "kk": "соңғы бақылау {date}",
    },
    "review.draft": {"en": "draft, not yet reviewed", "ru": "черновик, не проверен", "kk": "жоба, тексерілмеген"},
    "review.approved": {"en": "approved by a hydrologist", "ru": "проверен гидрологом", "kk": "гидролог тексерген"},
    "review.unreviewed": {
        "en": "published without review",
        "ru": "опубликован без проверки",
        "kk": "тексерусіз жарияланды",
    },
    "review.unpublished": {"en": "not published", "ru": "не опубликован", "kk": "жарияланбаған"},
    "review.draft_banner": {
        "en": "You are looking at a draft: akimats and the public do not see it until it is approved.",
        "ru": "Это черновик: акиматы и публика не видят его, пока он не утверждён.",
        "kk": "Бұл жоба: бекітілгенге дейін әкімдіктер мен жұртшылық оны көрмейді.",
    },
    "review.unreviewed_banner": {
        "en": "Published automatically without review; no hydrologist has checked these levels yet.",
        "ru": "Опубликовано автоматически без проверки; гидролог ещё не проверил эти уровни.",
        "kk": "Тексерусіз автоматты түрде жарияланды; бұл деңгейлерді гидролог әлі тексерген жоқ.",
    },
    "age.days": {"en": "{n} days", "ru": "{n} {days}", "kk": "{n} күн"},
    "age.today": {"en": "today", "ru": "сегодня", "kk": "бүгін"},
    "nothing_published": {
        "en": "No forecast has been published yet.",
        "ru": "Прогноз ещё не опубликован.",
        "kk": "Болжам әлі жарияланған жоқ.",
    },
    "lang.label": {"en": "Language", "ru": "Язык", "kk": "Тіл"},
    # --- map page
    "map.title": {"en": "Flood risk map", "ru": "Карта паводковой опасности", "kk": "Су тасқыны қаупінің картасы"},
    "map.legend": {"en": "Legend", "ru": "Условные обозначения", "kk": "Шартты белгілер"},
    "map.stations": {"en": "Stations", "ru": "Посты", "kk": "Бекеттер"},
    "map.basins": {"en": "Basins", "ru": "Бассейны", "kk": "Бассейндер"},
    "map.no_coords": {
        "en": "Stations without coordinates",
        "ru": "Посты без координат",
        "kk": "Координатасыз бекеттер",
    },
    "map.no_coords_note": {
        "en": "not on the map: the registry gives no coordinates",
        "ru": "не показаны на карте: в реестре нет координат",
        "kk": "картада жоқ: тізілімде координаталар жоқ",
    },
    "map.n_stations": {"en": "{n} stations", "ru": "постов: {n}", "kk": "бекеттер: {n}"},
    "map.outline_note": {
        "en": "Outline: Natural Earth (public domain); no map tiles are loaded.",
        "ru": "Контуры: Natural Earth (общественное достояние); подложка не загружается.",
        "kk": "Контурлар: Natural Earth (қоғамдық игілік); карта тақтайшалары жүктелмейді.",
    },
    "map.summary": {"en": "Summary", "ru": "Сводка", "kk": "Жиынтық"},
    # --- table columns
    "col.station": {"en": "Station", "ru": "Пост", "kk": "Бекет"},
    "col.river": {"en": "River", "ru": "Река", "kk": "Өзен"},
    "col.basin": {"en": "Basin", "ru": "Бассейн", "kk": "Бассейн"},
    "col.level": {"en": "Level", "ru": "Уровень", "kk": "Деңгей"},
    "col.outlook": {"en": "Outlook", "ru": "Прогноз", "kk": "Болжам"},
    "col.first_date": {"en": "From", "ru": "С", "kk": "Бастап"},
    "col.probability": {"en": "Probability", "ru": "Вероятность", "kk": "Ықтималдық"},
    "col.trend": {"en": "Trend", "ru": "Тенденция", "kk": "Үрдіс"},
    "col.status": {"en": "Status", "ru": "Статус", "kk": "Күйі"},
    "col.lead": {"en": "Lead", "ru": "Заблаговр.", "kk": "Мерзім"},
    "col.date": {"en": "Date", "ru": "Дата", "kk": "Күні"},
    "col.median": {"en": "Median", "ru": "Медиана", "kk": "Медиана"},
    "col.range90": {"en": "90% range", "ru": "90% интервал", "kk": "90% аралық"},
    "col.value": {"en": "Value", "ru": "Значение", "kk": "Мәні"},
    "col.source": {"en": "Source", "ru": "Источник", "kk": "Дереккөз"},
    "col.threshold": {"en": "Threshold", "ru": "Отметка", "kk": "Белгі"},
    "col.stations": {"en": "Stations", "ru": "Посты", "kk": "Бекеттер"},
    "col.when": {"en": "When (UTC)", "ru": "Когда (UTC)", "kk": "Қашан (UTC)"},
    "col.who": {"en": "Who", "ru": "Кто", "kk": "Кім"},
    "col.action": {"en": "Action", "ru": "Действие", "kk": "Әрекет"},
    "col.what": {"en": "What", "ru": "Что", "kk": "Не"},
    "col.why": {"en": "Reason", "ru": "Причина", "kk": "Себебі"},
    "col.issue_date": {"en": "Issue date", "ru": "Дата выпуска", "kk": "Шығарылған күні"},
    "col.run_status": {"en": "Run", "ru": "Запуск", "kk": "Іске қосу"},
    "col.review": {"en": "Review", "ru": "Проверка", "kk": "Тексеру"},
    "col.forecast": {"en": "Forecast", "ru": "Спрогн.", "kk": "Болжанды"},
    "col.stale": {"en": "Stale", "ru": "Устар.", "kk": "Ескірген"},
    "col.failed": {"en": "Failed", "ru": "Сбой", "kk": "Сәтсіз"},
    "col.published": {"en": "Published", "ru": "Опубликован", "kk": "Жарияланды"},
    "col.skill": {
        "en": "Skill vs persistence",
        "ru": "Качество отн. инерц. прогноза",
        "kk": "Инерциялық болжамға қатысты сапа",
    },
    "col.model": {"en": "Model", "ru": "Модель", "kk": "Модель"},
    "trend.rising": {"en": "rising", "ru": "подъём", "kk": "көтерілу"},
    "trend.steady": {"en": "steady", "ru": "без изменений", "kk": "тұрақты"},
    "trend.falling": {"en": "falling", "ru": "спад", "kk": "төмендеу"},
    "stationstatus.ok": {"en": "ok", "ru": "норма", "kk": "қалыпты"},
    "stationstatus.stale": {"en": "stale data", "ru": "устаревшие данные", "kk": "ескірген деректер"},
    "stationstatus.fallback": {"en": "fallback model", "ru": "резервная модель", "kk": "қосалқы модель"},
    "stationstatus.failed": {"en": "failed", "ru": "сбой", "kk": "сәтсіз"},
    "runstatus.running": {"en": "running", "ru": "выполняется", "kk": "орындалуда"},
    "runstatus.success": {"en": "success", "ru": "успешно", "kk": "сәтті"},
    "runstatus.failed": {"en": "failed", "ru": "сбой", "kk": "сәтсіз"},
    # --- basin page
    "basin.title": {"en": "Basin {name}", "ru": "Бассейн {name}", "kk": "{name} бассейні"},
    "basin.level": {"en": "Basin level", "ru": "Уровень бассейна", "kk": "Бассейн деңгейі"},
    "basin.unknown": {"en": "Unknown basin: {id}", "ru": "Неизвестный бассейн: {id}", "kk": "Белгісіз бассейн: {id}"},
    # --- spring flood outlook (basin page)
    "outlook.title": {
        "en": "Spring flood outlook",
        "ru": "Прогноз весеннего половодья",
        "kk": "Көктемгі су тасқынының болжамы",
    },
    "outlook.volume_text": {
        "en": "spring flood volume expected at {pct}% of normal (80% range {low}–{high}%)",
        "ru": "объём весеннего половодья ожидается {pct}% нормы (80% интервал {low}–{high}%)",
        "kk": "көктемгі су тасқынының көлемі норманың {pct}% шамасында күтіледі (80% аралық {low}–{high}%)",
    },
    "outlook.peak_text": {
        "en": "peak {low}–{high} m³/s",
        "ru": "максимальный расход {low}–{high} м³/с",
        "kk": "ең жоғары су шығыны {low}–{high} м³/с",
    },
    "outlook.issued": {
        "en": "Issued {date} · flood season {start} – {end}",
        "ru": "Выпущен {date} · период половодья {start} – {end}",
        "kk": "{date} шығарылды · су тасқыны кезеңі {start} – {end}",
    },
    "outlook.quantity": {"en": "Quantity", "ru": "Характеристика", "kk": "Сипаттама"},
    "outlook.volume": {"en": "Volume, million m³", "ru": "Объём, млн м³", "kk": "Көлемі, млн м³"},
    "outlook.volume_mm": {"en": "Runoff depth, mm", "ru": "Слой стока, мм", "kk": "Ағын қабаты, мм"},
    "outlook.peak": {
        "en": "Peak discharge, m³/s",
        "ru": "Максимальный расход, м³/с",
        "kk": "Ең жоғары су шығыны, м³/с",
    },
    "outlook.expected": {"en": "Expected", "ru": "Ожидается", "kk": "Күтіледі"},
    "outlook.range80": {"en": "80% range", "ru": "80% интервал", "kk": "80% аралық"},
    "outlook.norm": {"en": "Norm", "ru": "Норма", "kk": "Норма"},
    "outlook.pct_norm": {"en": "% of norm", "ru": "% нормы", "kk": "нормадан %"},
    "outlook.skill": {
        "en": "Leave-one-year-out check over {first}–{last} ({n} years): the volume error was within 0.674σ in "
        "{acc} of years (the norm alone: {acc_norm}); skill versus the norm {skill}.",
        "ru": "Проверка с исключением года за {first}–{last} гг. (лет: {n}): ошибка объёма не превысила 0,674σ в {acc} "
        "лет (одна норма: {acc_norm}); качество относительно нормы {skill}.",
        "kk": "{first}–{last} жж. жылды алып тастау арқылы тексеру (жыл саны: {n}): көлем қатесі 0,674σ-дан аспаған "
        "жылдар үлесі {acc} (тек норма: {acc_norm}); нормаға қатысты сапа {skill}.",
    },
    "outlook.swe_title": {
        "en": "Basin snow water equivalent against its climatology",
        "ru": "Снегозапасы бассейна в сравнении с многолетними значениями",
        "kk": "Бассейндегі қар қоры көпжылдық мәндермен салыстырғанда",
    },
    "outlook.swe_units": {"en": "snow water equivalent, mm", "ru": "снегозапас, мм", "kk": "қар қоры, мм"},
    "outlook.swe_current": {"en": "this season", "ru": "текущий сезон", "kk": "ағымдағы маусым"},
    "outlook.swe_median": {
        "en": "median of the same day in earlier seasons",
        "ru": "медиана того же дня за предыдущие сезоны",
        "kk": "алдыңғы маусымдардың сол күнгі медианасы",
    },
    "outlook.swe_band": {
        "en": "10–90% of earlier seasons",
        "ru": "10–90% предыдущих сезонов",
        "kk": "алдыңғы маусымдардың 10–90%",
    },
    "outlook.swe_measured": {
        "en": "Measured basin snow water equivalent.",
        "ru": "Измеренные снегозапасы бассейна.",
        "kk": "Бассейннің өлшенген қар қоры.",
    },
    "outlook.swe_degree_day": {
        "en": "Snow water equivalent estimated from precipitation and air temperature (degree-day model).",
        "ru": "Снегозапасы рассчитаны по осадкам и температуре воздуха (модель градусо-дней).",
        "kk": "Қар қоры жауын-шашын мен ауа температурасы бойынша есептелген (градус-күн моделі).",
    },
    "outlook.issue_line": {"en": "outlook issued", "ru": "выпуск прогноза", "kk": "болжам шықты"},
    "outlook.unavailable": {
        "en": "No spring flood outlook for this basin on {date}: {message}",
        "ru": "Прогноз весеннего половодья на {date} для бассейна не составлен: {message}",
        "kk": "{date} күнгі көктемгі су тасқыны болжамы бұл бассейн үшін жасалмады: {message}",
    },
    "outlook.expired": {
        "en": "The latest spring flood outlook (issued {date}) covered the flood season up to {end}.",
        "ru": "Последний прогноз весеннего половодья (выпущен {date}) относился к периоду до {end}.",
        "kk": "Соңғы көктемгі су тасқыны болжамы {date} шығарылған; оның кезеңі аяқталды ({end}).",
    },
    # --- station page
    "station.title": {"en": "Station {name}", "ru": "Пост {name}", "kk": "{name} бекеті"},
    "station.unknown": {"en": "Unknown station: {id}", "ru": "Неизвестный пост: {id}", "kk": "Белгісіз бекет: {id}"},
    "station.hydrograph": {"en": "Hydrograph and forecast", "ru": "Гидрограф и прогноз", "kk": "Гидрограф және болжам"},
    "station.observed": {"en": "observed", "ru": "наблюдения", "kk": "бақылау"},
    "station.median": {"en": "forecast median", "ru": "медиана прогноза", "kk": "болжам медианасы"},
    "station.band50": {"en": "50% range", "ru": "50% интервал", "kk": "50% аралық"},
    "station.band90": {"en": "90% range", "ru": "90% интервал", "kk": "90% аралық"},
    "station.issue_line": {"en": "issue date", "ru": "дата выпуска", "kk": "шығарылған күні"},
    "station.units_q": {"en": "discharge, m³/s", "ru": "расход воды, м³/с", "kk": "су шығыны, м³/с"},
    "station.units_h": {"en": "water level, cm", "ru": "уровень воды, см", "kk": "су деңгейі, см"},
    "station.level_chart": {
        "en": "Water level against the marks (forecast through the rating curve)",
        "ru": "Уровень воды и отметки (прогноз через кривую расходов)",
        "kk": "Су деңгейі және белгілер (болжам шығын қисығы арқылы)",
    },
    "station.above_chart": {
        "en": "above the chart: {names} m³/s",
        "ru": "выше графика: {names} м³/с",
        "kk": "графиктен жоғары: {names} м³/с",
    },
    "station.no_recent_obs": {
        "en": "No observations in the {n} days before the issue date.",
        "ru": "Нет наблюдений за {n} дней до даты выпуска.",
        "kk": "Шығарылған күнге дейінгі {n} күнде бақылау жоқ.",
    },
    "station.exceedance": {
        "en": "Probability of exceeding each threshold",
        "ru": "Вероятность превышения отметок",
        "kk": "Белгілерден асу ықтималдығы",
    },
    "station.thresholds": {"en": "Thresholds", "ru": "Отметки", "kk": "Белгілер"},
    # --- why the forecast changes (driver contributions)
    "col.drivers": {"en": "Main drivers", "ru": "Главные факторы", "kk": "Негізгі факторлар"},
    "station.why": {
        "en": "Why the forecast changes",
        "ru": "Почему меняется прогноз",
        "kk": "Болжам неге өзгереді",
    },
    "station.why_sentence": {
        "en": "On {date} the median is {change} on the issue day: {drivers}.",
        "ru": "На {date} медиана {change} к дню выпуска: {drivers}.",
        "kk": "{date} күні медиана шығарылған күнмен салыстырғанда {change}: {drivers}.",
    },
    "station.why_mainly": {"en": "mainly {items}", "ru": "главным образом {items}", "kk": "негізінен {items}"},
    "station.why_nothing": {
        "en": "no single driver stands out",
        "ru": "ни один фактор не выделяется",
        "kk": "ерекше фактор жоқ",
    },
    "station.why_note": {
        "en": "How much each group of inputs moves the median from the discharge of the issue day, in percent "
        "(the model's contributions, SHAP values): +20% raises the forecast by a fifth. Season includes the "
        "usual change of the time of year; calibration is what the calibrated median adds to the models.",
        "ru": "Насколько каждая группа входных данных сдвигает медиану от расхода в день выпуска, в процентах "
        "(вклады модели, значения SHAP): +20% поднимает прогноз на пятую часть. «Сезон» включает обычное "
        "изменение для этого времени года; «калибровка» — поправку калиброванной медианы.",
        "kk": "Әр кіріс деректер тобы медиананы шығарылған күнгі шығыннан қанша пайызға жылжытады (модель "
        "үлестері, SHAP мәндері): +20% болжамды бестен бірге көтереді. «Маусым» жылдың осы уақытына тән "
        "өзгерісті қамтиды; «калибрлеу» — калибрленген медиананың түзетуі.",
    },
    "station.why_none": {
        "en": "This forecast has no explanation (forecasts of a baseline method, and runs made before "
        "explanations were kept, have none).",
        "ru": "У этого прогноза нет объяснения (его нет у прогнозов базовым методом и у выпусков, сделанных "
        "до того, как объяснения стали сохраняться).",
        "kk": "Бұл болжамның түсіндірмесі жоқ (базалық әдіс болжамдарында және түсіндірмелер сақталмай "
        "тұрғандағы шығарылымдарда ол жоқ).",
    },
    "driver.flow": {"en": "flow and its trend", "ru": "расход и его ход", "kk": "шығын және оның барысы"},
    "driver.rain": {"en": "rain", "ru": "осадки", "kk": "жауын-шашын"},
    "driver.snow": {"en": "snowpack and snowmelt", "ru": "снегозапасы и снеготаяние", "kk": "қар қоры және қар еруі"},
    "driver.temperature": {"en": "air temperature", "ru": "температура воздуха", "kk": "ауа температурасы"},
    "driver.season": {"en": "season", "ru": "сезон", "kk": "маусым"},
    "driver.basin": {"en": "basin", "ru": "бассейн", "kk": "алап"},
    "driver.calibration": {"en": "calibration", "ru": "калибровка", "kk": "калибрлеу"},
    "station.skill": {
        "en": "Model skill at this station (backtest)",
        "ru": "Качество модели на этом посту (ретроспективная проверка)",
        "kk": "Осы бекеттегі модель сапасы (ретроспективті тексеру)",
    },
    "station.skill_none": {
        "en": "No backtest has been run for this station yet.",
        "ru": "Ретроспективная проверка для этого поста ещё не проводилась.",
        "kk": "Бұл бекет үшін ретроспективті тексеру әлі жүргізілмеген.",
    },
    "station.skill_note": {
        "en": "Skill vs persistence: 1 is perfect, 0 is no better than assuming tomorrow equals today.",
        "ru": "Качество относительно инерционного прогноза: 1 — идеально, 0 — не лучше, чем «завтра как сегодня».",
        "kk": "Инерциялық болжаммен салыстырғандағы сапа: 1 — мінсіз, 0 — «ертең бүгінгідей» болжамнан артық емес.",
    },
    "station.coverage": {"en": "90% range coverage", "ru": "Покрытие 90% интервала", "kk": "90% аралықты қамту"},
    "station.download": {"en": "Download forecast (CSV)", "ru": "Скачать прогноз (CSV)", "kk": "Болжамды жүктеу (CSV)"},
    "station.no_forecast": {
        "en": "No forecast for this station in this run.",
        "ru": "В этом выпуске нет прогноза для поста.",
        "kk": "Бұл шығарылымда бекет үшін болжам жоқ.",
    },
    "station.no_thresholds": {"en": "No thresholds known.", "ru": "Отметки не заданы.", "kk": "Белгілер белгісіз."},
    "station.model": {"en": "Model {name} {version}", "ru": "Модель {name} {version}", "kk": "Модель {name} {version}"},
    "station.last_obs": {
        "en": "Last observation: {value} m³/s on {date}",
        "ru": "Последнее наблюдение: {value} м³/с, {date}",
        "kk": "Соңғы бақылау: {value} м³/с, {date}",
    },
    "station.no_coords": {"en": "no coordinates", "ru": "нет координат", "kk": "координаттар жоқ"},
    # --- review
    "review.title": {"en": "Review", "ru": "Проверка", "kk": "Тексеру"},
    "review.approve": {"en": "Approve and publish", "ru": "Утвердить и опубликовать", "kk": "Бекіту және жариялау"},
    "review.override": {"en": "Override the level", "ru": "Изменить уровень", "kk": "Деңгейді өзгерту"},
    "review.new_level": {"en": "New level", "ru": "Новый уровень", "kk": "Жаңа деңгей"},
    "review.reason": {"en": "Reason (required)", "ru": "Причина (обязательно)", "kk": "Себебі (міндетті)"},
    "review.save": {"en": "Save override", "ru": "Сохранить", "kk": "Сақтау"},
    "review.clear": {"en": "Clear override", "ru": "Снять изменение", "kk": "Өзгерісті алып тастау"},
    "review.reason_required": {
        "en": "A reason is required for an override.",
        "ru": "Для изменения уровня нужна причина.",
        "kk": "Деңгейді өзгерту үшін себеп қажет.",
    },
    "review.done_approve": {
        "en": "The forecast of {date} is approved and published.",
        "ru": "Прогноз от {date} утверждён и опубликован.",
        "kk": "{date} болжамы бекітілді және жарияланды.",
    },
    "review.done_override": {
        "en": "Level of {target} set to {level}.",
        "ru": "Уровень {target}: {level}.",
        "kk": "{target} деңгейі: {level}.",
    },
    "review.overridden": {"en": "overridden", "ru": "изменено", "kk": "өзгертілді"},
    "review.model_level": {"en": "model: {level}", "ru": "модель: {level}", "kk": "модель: {level}"},
    "action.approve": {"en": "approved", "ru": "утверждён", "kk": "бекітілді"},
    "action.override": {"en": "override", "ru": "изменение уровня", "kk": "деңгейді өзгерту"},
    "action.publish": {"en": "published", "ru": "опубликован", "kk": "жарияланды"},
    "action.auto_publish": {
        "en": "published automatically (unreviewed)",
        "ru": "опубликован автоматически (без проверки)",
        "kk": "автоматты жарияланды (тексерусіз)",
    },
    "runs.title": {"en": "Forecast runs", "ru": "Запуски прогноза", "kk": "Болжам іске қосулары"},
    "runs.audit": {"en": "Audit trail", "ru": "Журнал действий", "kk": "Әрекеттер журналы"},
    "runs.none": {"en": "No runs recorded yet.", "ru": "Запусков пока нет.", "kk": "Іске қосулар әлі жоқ."},
    "runs.audit_login": {
        "en": "The audit trail is shown to signed-in users.",
        "ru": "Журнал действий доступен после входа.",
        "kk": "Әрекеттер журналы кіргеннен кейін көрсетіледі.",
    },
    "runs.audit_none": {"en": "No review actions yet.", "ru": "Действий пока нет.", "kk": "Әрекеттер әлі жоқ."},
    # --- login
    "login.title": {"en": "Log in", "ru": "Вход", "kk": "Кіру"},
    "login.username": {"en": "User name", "ru": "Имя пользователя", "kk": "Пайдаланушы аты"},
    "login.password": {"en": "Password", "ru": "Пароль", "kk": "Құпиясөз"},
    "login.submit": {"en": "Log in", "ru": "Войти", "kk": "Кіру"},
    "login.failed": {
        "en": "Wrong user name or password.",
        "ru": "Неверное имя пользователя или пароль.",
        "kk": "Пайдаланушы аты немесе құпиясөз қате.",
    },
    "login.rate_limited": {
        "en": "Too many attempts; try again in {n} minutes.",
        "ru": "Слишком много попыток; повторите через {n} мин.",
        "kk": "Әрекеттер тым көп; {n} минуттан кейін қайталаңыз.",
    },
    # --- errors
    "error.forbidden": {
        "en": "You do not have access to this page.",
        "ru": "У вас нет доступа к этой странице.",
        "kk": "Бұл бетке қол жеткізу құқығыңыз жоқ.",
    },
    "error.login_required": {
        "en": "Please log in to see this page.",
        "ru": "Войдите, чтобы увидеть эту страницу.",
        "kk": "Бұл бетті көру үшін кіріңіз.",
    },
    "error.csrf": {
        "en": "The form has expired; please reload the page and try again.",
        "ru": "Форма устарела; обновите страницу и повторите.",
        "kk": "Пішіннің мерзімі өтті; бетті жаңартып, қайталаңыз.",
    },
    "error.not_found": {"en": "Not found.", "ru": "Не найдено.", "kk": "Табылмады."},
    "error.back": {"en": "Back to the map", "ru": "Вернуться к карте", "kk": "Картаға оралу"},
}


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
