"""Run the real `pbxwatch` CLI in a subprocess, with a clean PBXWATCH_* environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from pbxwatch.config import SYSTEM_CONFIG_ENV


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PBXWATCH_") or k == SYSTEM_CONFIG_ENV}
    env["COLUMNS"] = "200"  # rich tables: no truncated cells in assertions
    env.update(extra or {})
    return env


def pbxwatch(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 120, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pbxwatch", *args],
        cwd=cwd,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input_text,
        check=False,
    )
