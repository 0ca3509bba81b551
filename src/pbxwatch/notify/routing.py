"""Which channels (apprise URLs) an event goes to: `[notify] urls` + `min_level`, and `[[notify.routes]]`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pbxwatch.config import NotifySettings
from pbxwatch.notify.notices import Notice, at_least


@dataclass(frozen=True)
class Channel:
    url: str

    @property
    def key(self) -> str:
        """What the database stores instead of the URL (URLs carry bot tokens and passwords)."""
        return hashlib.sha256(self.url.encode()).hexdigest()[:20]

    @property
    def label(self) -> str:
        scheme = self.url.partition("://")[0] or "?"
        return f"{scheme}://…{self.key[:6]}"


@dataclass(frozen=True)
class Route:
    channels: tuple[Channel, ...]
    min_level: str
    events: frozenset[str] = frozenset()
    units: frozenset[str] = frozenset()

    def takes(self, notice: Notice) -> bool:
        if self.events and notice.kind not in self.events:
            return False
        if self.units and (notice.unit is None or notice.unit not in self.units):
            return False
        return at_least(notice.level, self.min_level)


@dataclass(frozen=True)
class Routing:
    routes: tuple[Route, ...]

    @classmethod
    def from_settings(cls, notify: NotifySettings) -> Routing:
        """Raises `ConfigError` when a route's `urls_file` cannot be read."""
        routes = [Route(tuple(Channel(u) for u in notify.urls), notify.min_level)] if notify.urls else []
        for r in notify.routes:
            channels = tuple(Channel(u) for u in r.all_urls())
            routes.append(Route(channels, r.min_level, frozenset(r.events), frozenset(r.units)))
        return cls(tuple(routes))

    def channels_for(self, notice: Notice) -> list[Channel]:
        seen: dict[str, Channel] = {}
        for route in self.routes:
            if route.takes(notice):
                for channel in route.channels:
                    seen.setdefault(channel.key, channel)
        return list(seen.values())

    def by_key(self) -> dict[str, Channel]:
        return {c.key: c for r in self.routes for c in r.channels}
