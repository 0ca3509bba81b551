"""Build the outbox and its sender from settings (the monitor and the relay service run one pair each)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pbxwatch.config import Settings
from pbxwatch.db.engine import Database
from pbxwatch.notify.outbox import Outbox
from pbxwatch.notify.routing import Routing
from pbxwatch.notify.sender import Sender, utc_now


def notify_parts(settings: Settings, db: Database, clock: Callable[[], datetime] = utc_now) -> tuple[Outbox, Sender]:
    n = settings.notify
    box = Outbox(db, Routing.from_settings(n), n.language)
    sender = Sender(
        box,
        attempts=n.retry_attempts,
        backoff=n.retry_backoff,
        timeout=n.send_timeout,
        poll=n.poll_interval,
        clock=clock,
    )
    return box, sender
