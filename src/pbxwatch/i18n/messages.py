"""The texts pbxwatch sends to operators (notifications), in Russian and English (`pbxwatch.i18n`)."""

from __future__ import annotations

# The seed's token messages (also logged by the eWeLink client), verbatim.
SEED_TOKENS_EXPIRED = "Токены истекли, нужна повторная авторизация"
SEED_TOKENS_NOT_LOADED = "Не удалось загрузить токены eWeLink! Авторизация требуется через CLI или callback."

MESSAGES: dict[str, dict[str, str]] = {
    "title.unit": {
        "ru": "pbxwatch: {unit} {name} — {what}",
        "en": "pbxwatch: {unit} {name} — {what}",
    },
    "title.service": {"ru": "pbxwatch: {what}", "en": "pbxwatch: {what}"},
    # one incident, one thread
    "what.outage_confirmed": {"ru": "АТС не отвечает", "en": "PBX down"},
    "body.outage_confirmed": {
        "ru": "Инцидент #{incident}. АТС {host} не отвечает с {since} ({failures} проверок подряд): {reason}.\n"
        "Что дальше: {next}",
        "en": "Incident #{incident}. PBX {host} has been down since {since} ({failures} failed checks in a row): "
        "{reason}.\nNext: {next}",
    },
    "next.will_cycle": {
        "ru": "pbxwatch проверит реле и перезагрузит АТС по питанию.",
        "en": "pbxwatch will check the relay and power-cycle the PBX.",
    },
    "next.auto_off": {
        "ru": "автоперезагрузка для этого предприятия выключена — pbxwatch только наблюдает, нужен человек.",
        "en": "automatic power-cycles are off for this enterprise — pbxwatch only watches; a human is needed.",
    },
    "next.no_relay": {
        "ru": "реле не настроено — перезагрузить нечем, нужен человек.",
        "en": "no relay is configured — nothing to power-cycle with; a human is needed.",
    },
    "what.cycle_started": {"ru": "перезагрузка по питанию", "en": "power-cycle started"},
    "body.cycle_started": {
        "ru": "Инцидент #{incident}. pbxwatch выключил и включает реле {device} (цикл {cycle}).\n"
        "Что дальше: ждём загрузки АТС до {grace} с, затем проверяем снова.",
        "en": "Incident #{incident}. pbxwatch is power-cycling relay {device} (cycle {cycle}).\n"
        "Next: waiting up to {grace} s for the PBX to boot, then checking again.",
    },
    "what.cycle_done": {"ru": "реле снова включено", "en": "relay back ON"},
    "body.cycle_done": {
        "ru": "Инцидент #{incident}. Реле {device} прочитано включённым (цикл {cycle}).\n"
        "Что дальше: ждём, пока АТС загрузится и ответит.",
        "en": "Incident #{incident}. Relay {device} read back ON (cycle {cycle}).\n"
        "Next: waiting for the PBX to boot and answer.",
    },
    "what.cycle_failed": {"ru": "перезагрузка не удалась", "en": "power-cycle failed"},
    "body.cycle_failed": {
        "ru": "Инцидент #{incident}. Перезагрузка реле {device} не удалась: {reason}.\n"
        "Что дальше: pbxwatch повторит попытку через {retry} с.",
        "en": "Incident #{incident}. Power-cycle of relay {device} failed: {reason}.\n"
        "Next: pbxwatch retries in {retry} s.",
    },
    "what.held": {"ru": "перезагрузка отложена", "en": "power-cycle held"},
    "body.held": {
        "ru": "Инцидент #{incident}. Автоперезагрузка отложена: {reason}.\nЧто дальше: {next}",
        "en": "Incident #{incident}. Automatic power-cycle held: {reason}.\nNext: {next}",
    },
    "hold.relay_offline": {
        "ru": "реле {device} не в сети — на объекте, вероятно, пропало питание или интернет",
        "en": "relay {device} is offline — the site has probably lost power or internet",
    },
    "next.relay_offline": {
        "ru": "pbxwatch проверит реле снова через {retry} с и перезагрузит АТС, когда реле появится.",
        "en": "pbxwatch checks the relay again in {retry} s and power-cycles when it is back.",
    },
    "hold.no_relay": {"ru": "реле не настроено", "en": "no relay is configured"},
    "hold.dry_run": {"ru": "режим dry run: перезагрузка только записана", "en": "dry run: the cycle is only recorded"},
    "hold.maintenance": {"ru": "идёт плановое обслуживание", "en": "a maintenance window is open"},
    "hold.other": {"ru": "{detail}", "en": "{detail}"},
    "hold.unstable": {
        "ru": "АТС нестабильна, нужен человек: {detail}",
        "en": "unstable, needs a human: {detail}",
    },
    "next.rearm": {
        "ru": "автоматических перезагрузок не будет, пока АТС не проработает стабильно или оператор не выполнит "
        "`pbxwatch units rearm`.",
        "en": "no automatic power-cycles until it has been stable for a while or an operator runs "
        "`pbxwatch units rearm`.",
    },
    "next.human": {"ru": "нужен человек.", "en": "a human is needed."},
    "next.wait": {
        "ru": "pbxwatch продолжает проверять и сообщит о восстановлении.",
        "en": "pbxwatch keeps checking and will report the recovery.",
    },
    "what.gave_up": {"ru": "нужен человек", "en": "needs a human"},
    "body.gave_up": {
        "ru": "Инцидент #{incident}. Лимит автоперезагрузок исчерпан ({reason}), АТС всё ещё не отвечает.\n"
        "Что дальше: pbxwatch больше не перезагружает её сам — нужен человек "
        "(после ремонта: pbxwatch units rearm {unit}).",
        "en": "Incident #{incident}. The automatic power-cycle cap is reached ({reason}) and the PBX is still "
        "down.\nNext: pbxwatch will not cycle it again by itself — a human is needed "
        "(afterwards: pbxwatch units rearm {unit}).",
    },
    "what.recovered": {"ru": "АТС снова в сети", "en": "PBX recovered"},
    "body.recovered": {
        "ru": "Инцидент #{incident} закрыт. АТС {host} снова отвечает; простой {downtime}. {fixed}\n"
        "Что дальше: обычные проверки.",
        "en": "Incident #{incident} closed. PBX {host} answers again; downtime {downtime}. {fixed}\n"
        "Next: regular checks.",
    },
    "fixed.cycle": {"ru": "Помогла перезагрузка по питанию.", "en": "The power-cycle fixed it."},
    "fixed.itself": {"ru": "Восстановилась без перезагрузки.", "en": "It recovered without a power-cycle."},
    "what.reminder": {"ru": "всё ещё не отвечает", "en": "still down"},
    "body.reminder": {
        "ru": "Инцидент #{incident} открыт с {since} ({downtime}). АТС {host} всё ещё не отвечает: {reason}.\n"
        "Что дальше: следующее напоминание через {every}.",
        "en": "Incident #{incident} open since {since} ({downtime}). PBX {host} is still down: {reason}.\n"
        "Next: another reminder in {every}.",
    },
    "suppressed": {
        "ru": "(ещё {count} сообщ. по этой АТС подавлено: слишком часто)",
        "en": "({count} more message(s) about this PBX suppressed: too frequent)",
    },
    # mass outage: one grouped message
    "what.mass_outage": {"ru": "массовый сбой: {count} АТС", "en": "mass outage: {count} PBXes"},
    "body.mass_outage": {
        "ru": "Одновременно не отвечают {count} АТС: {units}.\npbxwatch ничего не перезагружает, пока сбой "
        "массовый (вероятно, сеть или дата-центр).\nЧто дальше: проверки продолжаются; сообщим, когда "
        "сбой закончится.",
        "en": "{count} PBXes are down at once: {units}.\npbxwatch power-cycles nothing while the outage is "
        "fleet-wide (probably the network or a data centre).\nNext: checks go on; you will hear when it "
        "ends.",
    },
    "what.mass_outage_over": {"ru": "массовый сбой закончился", "en": "mass outage over"},
    "body.mass_outage_over": {
        "ru": "Массовый сбой закончился. Ещё не отвечают: {count}.\nЧто дальше: обычные правила, по одной АТС.",
        "en": "The mass outage is over. Still down: {count}.\nNext: the usual rules, one PBX at a time.",
    },
    # service events
    "what.token_expiring": {"ru": "токен eWeLink скоро истечёт", "en": "eWeLink token expiring"},
    "body.token_expiring": {
        "ru": "Refresh-токен eWeLink истекает в ближайшие 7 дней. После этого перезагрузки по питанию "
        "невозможны.\nЧто сделать: авторизуйтесь заново по ссылке {link}",
        "en": "The eWeLink refresh token expires within 7 days. After that no power-cycle is possible.\n"
        "To do: authorize again at {link}",
    },
    "what.token_dead": {"ru": SEED_TOKENS_EXPIRED, "en": "eWeLink tokens dead"},
    "body.token_dead": {
        "ru": SEED_TOKENS_EXPIRED + " ({state}). Перезагрузки по питанию невозможны.\n"
        "Что сделать: откройте {link}, авторизуйтесь и перезапустите сервисы.",
        "en": "eWeLink tokens are dead ({state}): power-cycles are impossible.\n"
        "To do: open {link}, authorize, then restart the services.",
    },
    "what.token_missing": {"ru": "нет токенов eWeLink", "en": "no eWeLink tokens"},
    "body.token_missing": {
        "ru": SEED_TOKENS_NOT_LOADED + " Перезагрузки по питанию невозможны.\n"
        "Что сделать: откройте {link} и авторизуйтесь.",
        "en": "The eWeLink tokens could not be loaded: authorization is needed (CLI or callback). "
        "Power-cycles are impossible.\nTo do: open {link} and authorize.",
    },
    "what.monitor_silent": {"ru": "монитор молчит", "en": "monitor stopped"},
    "body.monitor_silent": {
        "ru": "Монитор не обновлял heartbeat с {at} ({ago}). АТС сейчас никто не проверяет.\n"
        "Что сделать: ./reboot.sh status; журнал reboot_service.log.",
        "en": "The monitor has not written its heartbeat since {at} ({ago}). Nobody is checking the PBXes.\n"
        "To do: ./reboot.sh status; see reboot_service.log.",
    },
    "what.standby_took_over": {"ru": "резервный монитор принял работу", "en": "standby monitor took over"},
    "body.standby_took_over": {
        "ru": "Резервный монитор {who} стал активным: прежний остановился или потерял базу.\n"
        "Что дальше: проверки продолжаются; разберитесь, что случилось с прежним.",
        "en": "Standby monitor {who} became active: the previous one stopped or lost the database.\n"
        "Next: checks go on; find out what happened to the previous one.",
    },
    "what.test": {"ru": "тестовое сообщение", "en": "test message"},
    "body.test": {
        "ru": "Тест уведомлений pbxwatch с {who}. Если вы это читаете, канал работает.",
        "en": "pbxwatch notification test from {who}. If you read this, the channel works.",
    },
    # durations
    "dur.d": {"ru": "{n} д", "en": "{n} d"},
    "dur.h": {"ru": "{n} ч", "en": "{n} h"},
    "dur.m": {"ru": "{n} мин", "en": "{n} min"},
    "dur.s": {"ru": "{n} с", "en": "{n} s"},
}
