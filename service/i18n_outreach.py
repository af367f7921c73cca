"""Messages of the bulletins and notifications (bulletins/, records/bulletin.py, records/notifications.py): key ->
{language: text} (kk, ru, en), pending like service/i18n_catalog.py (which merges them) until they move into the
gettext catalogues. Read through bulletins.i18n (the one accessor outside service/)."""

from __future__ import annotations

OUTREACH: dict[str, dict[str, str]] = {
    # --- bulletins (bulletins/, records/bulletin.py) ---
    "bulletin.title": {
        "en": "Daily hydrological bulletin",
        "ru": "Ежедневный гидрологический бюллетень",
        "kk": "Күнделікті гидрологиялық бюллетень",
    },
    "bulletin.subtitle": {
        "en": "Flood risk on the rivers of Kazakhstan",
        "ru": "Паводковая опасность на реках Казахстана",
        "kk": "Қазақстан өзендеріндегі су тасқыны қаупі",
    },
    "bulletin.issue_date": {"en": "Issue date", "ru": "Дата выпуска", "kk": "Шығарылған күні"},
    "bulletin.published": {"en": "Published", "ru": "Опубликован", "kk": "Жарияланды"},
    "bulletin.review": {"en": "Review", "ru": "Проверка", "kk": "Тексеру"},
    "bulletin.data_age": {
        "en": "Data age at issue",
        "ru": "Давность данных на дату выпуска",
        "kk": "Шығарылған күнгі деректердің ескілігі",
    },
    "bulletin.run": {"en": "Run", "ru": "Выпуск прогноза", "kk": "Болжам шығарылымы"},
    "bulletin.scope": {
        "en": "Basins in this bulletin: {basins}",
        "ru": "Бассейны в этом бюллетене: {basins}",
        "kk": "Бұл бюллетеньдегі алаптар: {basins}",
    },
    "bulletin.summary": {"en": "Summary by basin", "ru": "Сводка по бассейнам", "kk": "Алаптар бойынша жиынтық"},
    "bulletin.risk_level": {"en": "Risk level", "ru": "Степень опасности", "kk": "Қауіптілік дәрежесі"},
    "bulletin.expected": {"en": "Expected", "ru": "Ожидается", "kk": "Күтіледі"},
    "bulletin.no_level_count": {
        "en": "Without a current level",
        "ru": "Без актуальной степени опасности",
        "kk": "Өзекті дәрежесі жоқ",
    },
    "bulletin.basin": {"en": "Basin {name}", "ru": "Бассейн {name}", "kk": "{name} алабы"},
    "bulletin.observed": {"en": "Observed {date}", "ru": "Наблюдение {date}", "kk": "Бақылау {date}"},
    "bulletin.discharge": {"en": "discharge", "ru": "расход воды", "kk": "су шығыны"},
    "bulletin.water_level": {"en": "water level", "ru": "уровень воды", "kk": "су деңгейі"},
    "bulletin.change_24h": {"en": "{change} in 24 h", "ru": "{change} за сутки", "kk": "тәулікте {change}"},
    "bulletin.no_obs": {
        "en": "No usable observation in the last 30 days",
        "ru": "Нет пригодных наблюдений за последние 30 дней",
        "kk": "Соңғы 30 күнде жарамды бақылау жоқ",
    },
    "bulletin.col_q": {
        "en": "Discharge, m³/s: median (90% range)",
        "ru": "Расход воды, м³/с: медиана (90% интервал)",
        "kk": "Су шығыны, м³/с: медиана (90% аралық)",
    },
    "bulletin.col_h": {
        "en": "Water level, cm: median (90% range)",
        "ru": "Уровень воды, см: медиана (90% интервал)",
        "kk": "Су деңгейі, см: медиана (90% аралық)",
    },
    "bulletin.col_p": {
        "en": "Probability of exceeding the mark",
        "ru": "Вероятность превышения отметки",
        "kk": "Белгіден асу ықтималдығы",
    },
    "bulletin.thresholds": {"en": "Marks", "ru": "Отметки", "kk": "Белгілер"},
    "bulletin.no_thresholds": {
        "en": "No marks at this station",
        "ru": "Отметок на посту нет",
        "kk": "Бекетте белгілер жоқ",
    },
    "bulletin.no_forecast_table": {
        "en": "No forecast for this station in the run",
        "ru": "В этом выпуске прогноза для поста нет",
        "kk": "Бұл шығарылымда бекетке болжам жоқ",
    },
    "bulletin.no_level_title": {
        "en": "Stations without a current risk level (not «normal»)",
        "ru": "Посты без актуальной степени опасности (это не «норма»)",
        "kk": "Өзекті қауіптілік дәрежесі жоқ бекеттер («қалыпты» емес)",
    },
    "bulletin.no_level_none": {
        "en": "Every station has a current level.",
        "ru": "У всех постов есть актуальная степень опасности.",
        "kk": "Барлық бекеттің өзекті қауіптілік дәрежесі бар.",
    },
    "bulletin.notes": {"en": "Hydrologists' notes", "ru": "Примечания гидрологов", "kk": "Гидрологтардың ескертпелері"},
    "bulletin.notes_none": {
        "en": "No notes or overrides.",
        "ru": "Примечаний и изменений нет.",
        "kk": "Ескертпелер мен өзгерістер жоқ.",
    },
    "bulletin.note_approve": {
        "en": "{user} approved the forecast: {reason}",
        "ru": "{user} утвердил(а) прогноз: {reason}",
        "kk": "{user} болжамды бекітті: {reason}",
    },
    "bulletin.note_override": {
        "en": "{user} set the risk level of {target} from «{old}» to «{new}»: {reason}",
        "ru": "{user} изменил(а) степень опасности ({target}) с «{old}» на «{new}»: {reason}",
        "kk": "{user} ({target}) қауіптілік дәрежесін «{old}» орнына «{new}» етіп өзгертті: {reason}",
    },
    "bulletin.footer": {
        "en": "{service} · run {run_id} · page {page} of {pages}",
        "ru": "{service} · выпуск {run_id} · страница {page} из {pages}",
        "kk": "{service} · шығарылым {run_id} · {pages} беттің {page}-беті",
    },
    "bulletin.generated": {
        "en": "Generated {when} UTC from the published forecast.",
        "ru": "Сформирован {when} UTC по опубликованному прогнозу.",
        "kk": "Жарияланған болжам бойынша {when} UTC жасалды.",
    },
    "bulletin.link": {"en": "Bulletin", "ru": "Бюллетень", "kk": "Бюллетень"},
    "bulletin.no_basins": {
        "en": "None of your basins is in this forecast.",
        "ru": "Ваших бассейнов в этом прогнозе нет.",
        "kk": "Бұл болжамда сіздің алаптарыңыз жоқ.",
    },
    "bulletin.summary_sheet": {"en": "Summary", "ru": "Сводка", "kk": "Жиынтық"},
    "bulletin.code": {"en": "Post code", "ru": "Код поста", "kk": "Бекет коды"},
    "bulletin.reason": {"en": "Reason", "ru": "Причина", "kk": "Себебі"},
    "bulletin.units": {"en": "units", "ru": "единицы", "kk": "бірліктер"},
    "bulletin.mark_source": {"en": "Source of the marks", "ru": "Источник отметок", "kk": "Белгілердің дереккөзі"},
    "bulletin.chart_note": {
        "en": "Chart: observed {what} over 30 days (black), forecast median and 90% range (blue), marks (dashed).",
        "ru": "График: наблюдаемый {what} за 30 дней (чёрный), медиана прогноза и 90% интервал (синий), отметки "
        "(пунктир).",
        "kk": "График: 30 күндегі бақыланған {what} (қара), болжам медианасы мен 90% аралығы (көк), белгілер "
        "(үзік сызық).",
    },
    "bulletin.x_obs_date": {"en": "Observation date", "ru": "Дата наблюдения", "kk": "Бақылау күні"},
    "bulletin.x_discharge": {"en": "Discharge, m³/s", "ru": "Расход воды, м³/с", "kk": "Су шығыны, м³/с"},
    "bulletin.x_level": {"en": "Water level, cm", "ru": "Уровень воды, см", "kk": "Су деңгейі, см"},
    "bulletin.x_change": {"en": "change in 24 h", "ru": "изменение за сутки", "kk": "тәуліктегі өзгеріс"},
    "bulletin.x_first_date": {"en": "From", "ru": "С даты", "kk": "Бастап"},
    "bulletin.x_outlook": {
        "en": "Spring flood outlook",
        "ru": "Прогноз весеннего половодья",
        "kk": "Көктемгі су тасқынының болжамы",
    },
    "bulletin.unsupported_lang": {
        "en": "unsupported language {lang!r}: use one of {langs}",
        "ru": "язык {lang!r} не поддерживается: используйте один из {langs}",
        "kk": "{lang!r} тіліне қолдау жоқ: мыналардың бірін таңдаңыз: {langs}",
    },
}
