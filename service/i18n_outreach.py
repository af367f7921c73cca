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
    # --- notifications (records/notifications.py, bulletins/notify.py) ---
    "notify.subject.rise": {
        "en": "{basin}: flood risk rises to «{level}»",
        "ru": "{basin}: степень опасности повышается до «{level}»",
        "kk": "{basin}: қауіптілік дәрежесі «{level}» дейін көтерілді",
    },
    "notify.subject.fall": {
        "en": "{basin}: flood risk falls to «{level}»",
        "ru": "{basin}: степень опасности снизилась до «{level}»",
        "kk": "{basin}: қауіптілік дәрежесі «{level}» дейін төмендеді",
    },
    "notify.subject.all_clear": {
        "en": "{basin}: all clear, the risk level is back to «Normal»",
        "ru": "{basin}: отбой, степень опасности снова «Норма»",
        "kk": "{basin}: қауіп сейілді, қауіптілік дәрежесі қайтадан «Қалыпты»",
    },
    "notify.subject.override": {
        "en": "{basin}: a hydrologist set the risk level to «{level}»",
        "ru": "{basin}: гидролог установил степень опасности «{level}»",
        "kk": "{basin}: гидролог қауіптілік дәрежесін «{level}» етіп белгіледі",
    },
    "notify.subject.no_data": {
        "en": "{basin}: no current data, the risk level is unknown",
        "ru": "{basin}: нет актуальных данных, степень опасности неизвестна",
        "kk": "{basin}: өзекті деректер жоқ, қауіптілік дәрежесі белгісіз",
    },
    "notify.subject.data_restored": {
        "en": "{basin}: current data again, risk level «{level}»",
        "ru": "{basin}: данные снова актуальны, степень опасности «{level}»",
        "kk": "{basin}: деректер қайта өзекті, қауіптілік дәрежесі «{level}»",
    },
    "notify.issued": {
        "en": "Forecast issued {date} ({review}).",
        "ru": "Прогноз от {date} ({review}).",
        "kk": "{date} шығарылған болжам ({review}).",
    },
    "notify.no_data_body": {
        "en": "No station of the basin has current data: the risk level is unknown, not normal.",
        "ru": "Ни у одного поста бассейна нет актуальных данных: степень опасности неизвестна, это не «норма».",
        "kk": "Алаптың бірде-бір бекетінде өзекті деректер жоқ: қауіптілік дәрежесі белгісіз, бұл «қалыпты» емес.",
    },
    "notify.previous": {
        "en": "Previously announced: «{level}».",
        "ru": "Ранее сообщалось: «{level}».",
        "kk": "Бұған дейін хабарланғаны: «{level}».",
    },
    "notify.reason": {
        "en": "Hydrologist's reason: {reason}",
        "ru": "Обоснование гидролога: {reason}",
        "kk": "Гидролог негіздемесі: {reason}",
    },
    "notify.link": {"en": "Details: {url}", "ru": "Подробнее: {url}", "kk": "Толығырақ: {url}"},
    "notify.bulletin": {"en": "Bulletin (PDF): {url}", "ru": "Бюллетень (PDF): {url}", "kk": "Бюллетень (PDF): {url}"},
    "notify.footer": {
        "en": "You receive this through subscription {id} of {owner} (Tasqyn).",
        "ru": "Сообщение отправлено по подписке {id} ({owner}), Тасқын.",
        "kk": "Хабарлама {owner} иесінің {id} жазылымы бойынша жіберілді (Тасқын).",
    },
    "notify.failed_title": {
        "en": "Notifications not delivered",
        "ru": "Недоставленные уведомления",
        "kk": "Жеткізілмеген хабарламалар",
    },
    "notify.none_failed": {
        "en": "Every notification was delivered.",
        "ru": "Все уведомления доставлены.",
        "kk": "Барлық хабарлама жеткізілді.",
    },
    "notify.status.pending": {"en": "waiting", "ru": "ожидает", "kk": "күтуде"},
    "notify.status.retrying": {"en": "will be retried", "ru": "будет повторено", "kk": "қайта жіберіледі"},
    "notify.status.failed": {"en": "not delivered", "ru": "не доставлено", "kk": "жеткізілмеді"},
    "notify.status.sent": {"en": "delivered", "ru": "доставлено", "kk": "жеткізілді"},
    "notify.col_channel": {"en": "Channel", "ru": "Канал", "kk": "Арна"},
    "notify.col_attempts": {"en": "Attempts", "ru": "Попытки", "kk": "Әрекеттер"},
    "notify.col_next": {"en": "Next attempt", "ru": "Следующая попытка", "kk": "Келесі әрекет"},
    "notify.col_error": {"en": "Error", "ru": "Ошибка", "kk": "Қате"},
    "subs.title": {
        "en": "Notification subscriptions",
        "ru": "Подписки на уведомления",
        "kk": "Хабарламаларға жазылымдар",
    },
    "subs.owner": {"en": "Owner", "ru": "Владелец", "kk": "Иесі"},
    "subs.owner_user": {"en": "user", "ru": "пользователь", "kk": "пайдаланушы"},
    "subs.owner_key": {"en": "API key", "ru": "API-ключ", "kk": "API кілті"},
    "subs.basins": {"en": "Basins", "ru": "Бассейны", "kk": "Алаптар"},
    "subs.basins_all": {
        "en": "all basins it may read",
        "ru": "все доступные бассейны",
        "kk": "қолжетімді барлық алаптар",
    },
    "subs.basins_hint": {
        "en": "basin ids separated by commas; empty: all",
        "ru": "коды бассейнов через запятую; пусто: все",
        "kk": "алап кодтары үтір арқылы; бос: барлығы",
    },
    "subs.min_level": {"en": "From risk level", "ru": "Начиная со степени", "kk": "Қауіптілік дәрежесінен бастап"},
    "subs.lang": {"en": "Language", "ru": "Язык", "kk": "Тілі"},
    "subs.channels": {"en": "Channels", "ru": "Каналы", "kk": "Арналар"},
    "subs.emails": {"en": "E-mail addresses", "ru": "Адреса электронной почты", "kk": "Электрондық пошта мекенжайлары"},
    "subs.webhooks": {"en": "Webhook URLs", "ru": "Адреса вебхуков", "kk": "Вебхук мекенжайлары"},
    "subs.apprise": {
        "en": "Other channels (apprise URLs, e.g. tgram://token/chat)",
        "ru": "Другие каналы (адреса apprise, например tgram://token/chat)",
        "kk": "Басқа арналар (apprise мекенжайлары, мысалы tgram://token/chat)",
    },
    "subs.one_per_line": {"en": "one per line", "ru": "по одному в строке", "kk": "әр жолға біреуден"},
    "subs.add": {"en": "Add subscription", "ru": "Добавить подписку", "kk": "Жазылым қосу"},
    "subs.remove": {"en": "Remove", "ru": "Удалить", "kk": "Жою"},
    "subs.none": {"en": "No subscriptions yet.", "ru": "Подписок пока нет.", "kk": "Әзірге жазылымдар жоқ."},
    "subs.added": {
        "en": "Subscription {id} added. Webhook secret (shown once, for the X-Tasqyn-Signature check): {secret}",
        "ru": "Подписка {id} добавлена. Секрет вебхуков (показан один раз, для проверки X-Tasqyn-Signature): {secret}",
        "kk": "{id} жазылымы қосылды. Вебхук құпиясы (бір рет көрсетіледі, X-Tasqyn-Signature тексеруі үшін): {secret}",
    },
    "subs.removed": {
        "en": "Subscription {id} removed.",
        "ru": "Подписка {id} удалена.",
        "kk": "{id} жазылымы жойылды.",
    },
}
