"""Every text of the dashboard, by key, in Russian and English (`ui.language`, default `ru`).

One catalog module so the lead can merge it into the shared message catalog. Values are
`str.format` templates; a `timedelta` value is shown as a short age ("5 min").
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Literal

Language = Literal["ru", "en"]

STATE_WORDS: dict[str, dict[str, str]] = {
    "state_online": {"ru": "в сети", "en": "online"},
    "state_offline": {"ru": "не в сети", "en": "offline"},
    "state_unknown": {"ru": "неизвестно", "en": "unknown"},
    "state_held": {"ru": "удержан", "en": "held"},
    "state_cycling": {"ru": "перезагрузка", "en": "cycling"},
    "state_boot_grace": {"ru": "загружается", "en": "boot grace"},
    "state_paused": {"ru": "на паузе", "en": "paused"},
}

REASONS: dict[str, dict[str, str]] = {
    "reason_ok": {"ru": "", "en": ""},
    "reason_inactive": {"ru": "юнит выключен (active = false)", "en": "unit inactive (active = false)"},
    "reason_maintenance": {"ru": "окно обслуживания: {why}", "en": "maintenance window: {why}"},
    "reason_cycling": {"ru": "идёт перезагрузка реле", "en": "relay power-cycle in progress"},
    "reason_never_checked": {"ru": "ещё не проверялся", "en": "never checked"},
    "reason_stale": {"ru": "последняя проверка {age} назад: монитор работает?",
                     "en": "last check {age} ago: is the monitor running?"},
    "reason_failing": {"ru": "неудачных проверок подряд: {count}", "en": "{count} failed check(s) in a row"},
    "reason_held": {"ru": "не перезагружается: {why}", "en": "not cycled: {why}"},
    "reason_boot_grace": {"ru": "перезагружен {age} назад, ждём загрузки", "en": "cycled {age} ago, waiting for boot"},
    "reason_down": {"ru": "{error}", "en": "{error}"},
}

PAGES: dict[str, dict[str, str]] = {
    "app": {"ru": "Панель", "en": "Dashboard"},
    "nav_fleet": {"ru": "Парк", "en": "Fleet"},
    "nav_events": {"ru": "События", "en": "Events"},
    "nav_system": {"ru": "Система", "en": "System"},
    "login": {"ru": "Войти", "en": "Log in"},
    "logout": {"ru": "Выйти", "en": "Log out"},
    "read_only": {"ru": "только просмотр (нет relay.api_token)", "en": "read-only (no relay.api_token)"},
    "api_token": {"ru": "API-токен службы реле", "en": "Relay service API token"},
    "login_failed": {"ru": "Неверный токен.", "en": "Wrong token."},
    "login_hint": {"ru": "Это relay.api_token (PBXWATCH_RELAY_API_TOKEN).",
                   "en": "This is relay.api_token (PBXWATCH_RELAY_API_TOKEN)."},
    "login_needed": {"ru": "Чтобы что-то менять, войдите с API-токеном.",
                     "en": "Log in with the API token to change anything."},
    "login_to_act": {"ru": "кнопки работают после входа", "en": "the buttons work after logging in"},
    "no_api_token": {"ru": "relay.api_token не задан: панель только для просмотра.",
                     "en": "relay.api_token is not set: the dashboard is read-only."},
    "csrf_bad": {"ru": "Форма устарела или пришла не с этой страницы (CSRF). Откройте страницу заново.",
                 "en": "The form is stale or did not come from this page (CSRF). Open the page again."},
    "refused": {"ru": "Отказано", "en": "Refused"},
    "action_failed": {"ru": "Действие не выполнено", "en": "The action failed"},
    "back": {"ru": "Назад", "en": "Back"},
    "not_found": {"ru": "Не найдено", "en": "Not found"},
    "no_such_unit": {"ru": "Такого юнита нет.", "en": "There is no such unit."},
    "fleet_title": {"ru": "Парк АТС", "en": "The fleet"},
    "summary_title": {"ru": "За 30 дней", "en": "Last 30 days"},
    "uptime": {"ru": "Доступность", "en": "Uptime"},
    "incidents": {"ru": "Инциденты", "en": "Incidents"},
    "downtime": {"ru": "Простой", "en": "Downtime"},
    "mttr": {"ru": "Среднее восстановление", "en": "Mean time to recovery"},
    "auto_cycles": {"ru": "Автоперезагрузки", "en": "Automatic cycles"},
    "auto_fixed": {"ru": "из них помогли", "en": "of them fixed it"},
    "fixed_n": {"ru": "помогли: {n}", "en": "{n} fixed the outage"},
    "search_hint": {"ru": "номер, имя или хост", "en": "number, name or host"},
    "all_states": {"ru": "все состояния", "en": "all states"},
    "search": {"ru": "Найти", "en": "Search"},
    "clear": {"ru": "сбросить", "en": "clear"},
    "matched": {"ru": "показано {n} из {total}", "en": "{n} of {total} units"},
    "page_of": {"ru": "страница {page} из {pages}", "en": "page {page} of {pages}"},
    "prev": {"ru": "назад", "en": "previous"},
    "next": {"ru": "дальше", "en": "next"},
    "col_state": {"ru": "Состояние", "en": "State"},
    "col_unit": {"ru": "Юнит", "en": "Unit"},
    "col_host": {"ru": "Хост", "en": "Host"},
    "col_checked": {"ru": "Проверен", "en": "Checked"},
    "col_failures": {"ru": "Сбои", "en": "Failures"},
    "col_sip": {"ru": "SIP", "en": "SIP"},
    "col_disk": {"ru": "Диск", "en": "Disk"},
    "col_relay": {"ru": "Реле", "en": "Relay"},
    "col_incident": {"ru": "Инцидент идёт", "en": "Open incident"},
    "col_error": {"ru": "Ошибка", "en": "Error"},
    "col_time": {"ru": "Время", "en": "Time"},
    "col_change": {"ru": "Статус", "en": "Status"},
    "col_action": {"ru": "Действие", "en": "Action"},
    "col_result": {"ru": "Результат", "en": "Result"},
    "col_initiator": {"ru": "Инициатор", "en": "Initiator"},
    "col_start": {"ru": "Начало", "en": "Start"},
    "col_end": {"ru": "Конец", "en": "End"},
    "col_duration": {"ru": "Длительность", "en": "Duration"},
    "col_ended_by": {"ru": "Чем закончился", "en": "Ended by"},
    "ago": {"ru": "{age} назад", "en": "{age} ago"},
    "relay_online": {"ru": "в сети", "en": "online"},
    "relay_offline": {"ru": "не в сети", "en": "offline"},
    "no_relay": {"ru": "нет реле", "en": "no relay"},
    "no_units": {"ru": "Нет юнитов.", "en": "No units."},
    "no_rows": {"ru": "Нет записей.", "en": "No rows."},
    "no_incidents": {"ru": "Инцидентов не было.", "en": "No incidents."},
    "unit": {"ru": "Юнит", "en": "Unit"},
    "history": {"ru": "История (новые сверху)", "en": "History (newest first)"},
    "older": {"ru": "старее", "en": "older"},
    "newest": {"ru": "к новым", "en": "newest"},
    "status_change": {"ru": "смена статуса", "en": "status change"},
    "action_done": {"ru": "Автоперезагрузка в этом сбое уже была", "en": "Cycled in this outage"},
    "yes": {"ru": "да", "en": "yes"},
    "no": {"ru": "нет", "en": "no"},
    "ended_open": {"ru": "идёт", "en": "still open"},
    "ended_auto_cycle": {"ru": "автоперезагрузка", "en": "automatic power-cycle"},
    "ended_manual_cycle": {"ru": "ручная перезагрузка", "en": "manual power-cycle"},
    "ended_itself": {"ru": "восстановился сам", "en": "recovered by itself"},
    "btn_power-cycle": {"ru": "Перезагрузить питание", "en": "Power-cycle"},
    "btn_switch-on": {"ru": "Включить реле", "en": "Switch on"},
    "btn_rearm": {"ru": "Разрешить автоперезагрузку", "en": "Re-arm"},
    "btn_pause": {"ru": "Пауза (обслуживание)", "en": "Pause (maintenance)"},
    "confirm_pause": {"ru": "Поставить на паузу?", "en": "Pause this unit?"},
    "confirm_text_pause": {
        "ru": "Окно обслуживания для юнита {number} ({name}): проверки идут, но автоматических действий и "
              "уведомлений о сбое не будет до конца окна.",
        "en": "A maintenance window for unit {number} ({name}): checks go on, but no automatic action and no "
              "outage message until it ends."},
    "pause_for": {"ru": "на", "en": "for"},
    "pause_reason": {"ru": "причина", "en": "reason"},
    "done_pause": {"ru": "Юнит на паузе (окно обслуживания открыто).", "en": "Paused (a maintenance window is open)."},
    "confirm_power-cycle": {"ru": "Перезагрузить питание?", "en": "Power-cycle?"},
    "confirm_switch-on": {"ru": "Включить реле?", "en": "Switch the relay on?"},
    "confirm_rearm": {"ru": "Разрешить автоперезагрузку?", "en": "Re-arm?"},
    "confirm_text_power-cycle": {
        "ru": "Юнит {number} ({name}) будет обесточен через реле {device}, выход {outlet}, и включён снова.",
        "en": "Unit {number} ({name}) will lose power through relay {device}, outlet {outlet}, and get it back."},
    "confirm_text_switch-on": {"ru": "Реле {device}, выход {outlet}, юнита {number} ({name}) будет включено.",
                               "en": "Relay {device}, outlet {outlet}, of unit {number} ({name}) will be switched on."},
    "confirm_text_rearm": {
        "ru": "Монитор сможет ещё раз автоматически перезагрузить юнит {number} ({name}) в этом сбое.",
        "en": "The monitor may power-cycle unit {number} ({name}) once more in this outage."},
    "confirm_yes": {"ru": "Да, выполнить", "en": "Yes, do it"},
    "cancel": {"ru": "Отмена", "en": "Cancel"},
    "done_power-cycle": {"ru": "Перезагрузка запущена.", "en": "Power-cycle started."},
    "done_switch-on": {"ru": "Реле включено.", "en": "Relay switched on."},
    "done_rearm": {"ru": "Автоперезагрузка снова разрешена.", "en": "Re-armed."},
    "done_rearm-none": {"ru": "Нечего разрешать: автоперезагрузки в этом сбое не было.",
                        "en": "Nothing to re-arm: no automatic cycle in this outage."},
    "events_title": {"ru": "Журнал действий", "en": "Audit log"},
    "any_action": {"ru": "любое действие", "en": "any action"},
    "any_result": {"ru": "любой результат", "en": "any result"},
    "any_initiator": {"ru": "любой инициатор", "en": "any initiator"},
    "system_title": {"ru": "Система", "en": "System"},
    "sys_monitor": {"ru": "Монитор", "en": "Monitor"},
    "sys_token": {"ru": "Токен eWeLink", "en": "eWeLink token"},
    "sys_relay": {"ru": "Служба реле", "en": "Relay service"},
    "sys_db": {"ru": "База данных", "en": "Database"},
    "heartbeat": {"ru": "пульс {age} назад, роль {role}, pid {pid}",
                  "en": "heartbeat {age} ago, role {role}, pid {pid}"},
    "heartbeat_late": {"ru": "монитор молчит слишком долго", "en": "the monitor is silent for too long"},
    "heartbeat_units": {"ru": "юнитов: {units}, база: {database}", "en": "units: {units}, database: {database}"},
    "no_heartbeat": {"ru": "нет файла пульса {path}: монитор не запущен?",
                     "en": "no heartbeat file {path}: is the monitor running?"},
    "token_valid": {"ru": "действителен", "en": "valid"},
    "token_expiring": {"ru": "скоро истечёт: авторизуйтесь заново", "en": "expires soon: authorize again"},
    "token_expired": {"ru": "истёк", "en": "expired"},
    "token_missing": {"ru": "нет токена", "en": "missing"},
    "reauth": {"ru": "Авторизовать eWeLink заново", "en": "Authorize eWeLink again"},
    "reauth_login": {"ru": "ссылка на авторизацию видна после входа", "en": "the authorization link shows after login"},
    "health_ok": {"ru": "в порядке", "en": "ok"},
    "health_degraded": {"ru": "есть проблемы", "en": "degraded"},
    "last_cloud_call": {"ru": "последний вызов облака {at}, успешно: {ok}", "en": "last cloud call {at}, ok: {ok}"},
    "db_ok": {"ru": "доступна: юнитов {units}, строк истории {rows}, ревизия схемы {revision}",
              "en": "reachable: {units} units, {rows} history rows, schema revision {revision}"},
    "db_down": {"ru": "недоступна: {error}", "en": "unavailable: {error}"},
}

CATALOG: dict[str, dict[str, str]] = {**STATE_WORDS, **REASONS, **PAGES}


def translator(language: Language) -> Callable[..., str]:
    def t(key: str, **values: object) -> str:
        entry = CATALOG.get(key)
        if entry is None:
            return key  # a missing key shows itself instead of breaking the page
        shown = {k: short_age(v, language) if isinstance(v, timedelta) else v for k, v in values.items()}
        return entry[language].format(**shown)

    return t


AGE_UNITS: dict[str, dict[str, str]] = {
    "ru": {"d": "д", "h": "ч", "min": "мин", "s": "с"},
    "en": {"d": "d", "h": "h", "min": "min", "s": "s"},
}


def short_age(delta: timedelta | None, language: Language = "en") -> str:
    """'3 d', '2 h 5 min', '4 min', '12 s' (in the language's abbreviations)."""
    if delta is None:
        return "—"
    unit = AGE_UNITS[language]
    seconds = max(int(delta.total_seconds()), 0)
    if seconds >= 86400:
        return f"{seconds // 86400} {unit['d']}"
    if seconds >= 3600:
        return f"{seconds // 3600} {unit['h']} {seconds % 3600 // 60} {unit['min']}"
    if seconds >= 60:
        return f"{seconds // 60} {unit['min']}"
    return f"{seconds} {unit['s']}"
