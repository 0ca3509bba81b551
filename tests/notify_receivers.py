"""Real notification receivers on loopback: an HTTP server for apprise `json://` and an SMTP server
(aiosmtpd) for `mailto://`. Both record what arrived; `fail` makes the HTTP one answer 500."""

from __future__ import annotations

import asyncio
import email
import json
import socket
import threading
import time
from collections.abc import Iterator
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller


class JsonReceiver:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.fail = False
        self.refused = 0
        self.hang = threading.Event()  # set: every request waits until `release()`
        self.released = threading.Event()
        self.waiting = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.hang.is_set():
                    receiver.waiting += 1
                    receiver.released.wait(60)
                if receiver.fail:
                    receiver.refused += 1
                    self.send_response(500)
                else:
                    receiver.messages.append(json.loads(data))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_port}/hook"

    def titles(self) -> list[str]:
        return [m["title"] for m in self.messages]

    async def wait_for(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert len(self.messages) >= count, f"{len(self.messages)} message(s) arrived: {self.titles()}"
        return self.messages

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


class _SmtpHandler:
    def __init__(self) -> None:
        self.mails: list[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(email.message_from_bytes(envelope.content))
        return "250 OK"


class SmtpReceiver:
    def __init__(self) -> None:
        with socket.socket() as probe:  # aiosmtpd's readiness check needs a real port number up front
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.handler = _SmtpHandler()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    @property
    def url(self) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=pbxwatch@example.com&to=ops@example.com"

    def subjects(self) -> list[str]:
        return [str(make_header(decode_header(m["Subject"]))) for m in self.handler.mails]

    async def wait_for(self, count: int, timeout: float = 20.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while len(self.handler.mails) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert len(self.handler.mails) >= count, f"mails: {self.subjects()}"
        return self.subjects()

    def close(self) -> None:
        self.controller.stop()


@pytest.fixture
def json_receiver() -> Iterator[JsonReceiver]:
    receiver = JsonReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver()
    yield receiver
    receiver.close()
