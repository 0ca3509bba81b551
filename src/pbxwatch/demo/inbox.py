"""The demo's notification receiver: an HTTP endpoint on loopback that apprise's `json://` posts to.

It keeps every message and hands each to a callback as it arrives, so the operator watching the demo
sees the messages pbxwatch sends, in the order they reach the receiver.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Message:
    title: str
    body: str


class Inbox:
    def __init__(self, on_message: Callable[[Message], None] | None = None) -> None:
        self.messages: list[Message] = []
        self.on_message = on_message
        self._lock = threading.Lock()
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0) or 0)
                try:
                    data: Any = json.loads(self.rfile.read(min(length, 1_000_000)))
                except ValueError:
                    data = {}
                self.send_response(200)
                self.end_headers()
                if isinstance(data, dict):
                    inbox.receive(Message(str(data.get("title", "")), str(data.get("message", ""))))

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="demo-inbox", daemon=True)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_port}/pbxwatch"

    def start(self) -> None:
        self.thread.start()

    def receive(self, message: Message) -> None:
        with self._lock:
            self.messages.append(message)
        if self.on_message is not None:
            self.on_message(message)

    def titles(self) -> list[str]:
        with self._lock:
            return [m.title for m in self.messages]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
