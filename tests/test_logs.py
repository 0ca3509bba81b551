"""Shared logging: the two seed log files, redaction of secrets, and rotation tolerance (docs/design.md §8)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from pbxwatch.config import Settings
from pbxwatch.logs import RedactingFilter, setup_logging


@pytest.fixture
def restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("Authorization: Bearer 0123456789abcdef0123", "Authorization: ***"),
        ('refresh ok {"at": "aaaaaaaa1111", "rt": "bbbbbbbb2222"}', 'refresh ok {"at": "***", "rt": "***"}'),
        ("sent Sign v1+mfNY2ukxswM8sZOTg99srZsVnUVv9DGXeav1096M= to cloud", "sent Sign *** to cloud"),
        ("accessToken=abcdef123456 device=1000abcdef", "accessToken=*** device=1000abcdef"),
        (
            "cycle 0123456789abcdef0123456789abcdef for 1000abcdef",
            "cycle 0123456789abcdef0123456789abcdef for 1000abcdef",
        ),
        ("the app secret is my-app-secret-value!", "the app secret is ***!"),
        # an endpoint or a word that merely contains a key name is not a secret
        ("POST /v2/user/oauth/token: error 405", "POST /v2/user/oauth/token: error 405"),
        ("oauth/token: error 405", "oauth/token: error 405"),
        ("retry at: 12:00, device_token_count=2", "retry at: 12:00, device_token_count=2"),
        # while the real ones stay hidden
        ("token: abcdef123456 refreshed", "token: *** refreshed"),
        ("POST /oauth/token at=aaaa1111&rt=bbbb2222", "POST /oauth/token at=***&rt=***"),
        ('{"refreshToken": "xyz123456", "password": "hunter2"}', '{"refreshToken": "***", "password": "***"}'),
    ],
)
def test_redaction(line: str, shown: str) -> None:
    assert RedactingFilter(("my-app-secret-value",)).redact(line) == shown


def test_service_log_files_are_utf8_and_redacted(tmp_path: Path, restore_root_logging: None) -> None:
    settings = Settings.model_validate({"log_dir": tmp_path / "logs", "ewelink": {"app_secret": "very-secret-app-key"}})
    setup_logging(settings, "relay", owner=True, stderr=False)
    log = logging.getLogger("pbxwatch.test")
    log.warning("Нет access_token для управления устройствами!")
    log.info("secret %s and token=%s", "very-secret-app-key", "abc123abc123")
    try:
        raise ValueError("Bearer abcdefabcdef1234")
    except ValueError:
        log.exception("failed")
    text = (tmp_path / "logs" / "ewelink_service.log").read_text(encoding="utf-8")
    assert "Нет access_token для управления устройствами!" in text
    assert "very-secret-app-key" not in text
    assert "abc123abc123" not in text
    assert "abcdefabcdef1234" not in text
    setup_logging(settings, "monitor", owner=True, stderr=False)
    logging.getLogger("pbxwatch.test").info("probe done")
    assert "probe done" in (tmp_path / "logs" / "reboot_service.log").read_text(encoding="utf-8")


@pytest.mark.parametrize("owner", [True, False])
def test_writers_follow_an_external_rotation(tmp_path: Path, owner: bool, restore_root_logging: None) -> None:
    settings = Settings.model_validate({"log_dir": tmp_path})
    setup_logging(settings, "relay", owner=owner, stderr=False)
    log = logging.getLogger("pbxwatch.test")
    log.warning("before rotation")
    path = tmp_path / "ewelink_service.log"
    path.rename(tmp_path / "ewelink_service.log.1")
    log.warning("after rotation")
    assert "after rotation" in path.read_text(encoding="utf-8")
    assert "after rotation" not in (tmp_path / "ewelink_service.log.1").read_text(encoding="utf-8")
