"""The runbook's Python one-liners, run exactly as written from a temporary directory, in a fresh virtual
environment where pbxwatch was installed with `pip install .` (docs/design.md §7), against the simulated cloud."""

from __future__ import annotations

import json
import os
import subprocess
import venv
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pbxwatch.sim.cloud import SimCloud, SimCloudConfig, SimDevice

PROJECT = Path(__file__).resolve().parents[1]
REDIRECT_URL = "http://127.0.0.1:8010/ewelink-callback/"
# Verbatim from seed-runbook.ru.txt §4 and §5 ('ВАШ_CODE' is where the operator pastes the code).
GENERATE = 'python3 -c "from ewelink_devices import EWeLinkDevices; print(EWeLinkDevices().generate_oauth_url())"'
EXCHANGE = (
    'python3 -c "from ewelink_devices import EWeLinkDevices; '
    "EWeLinkDevices().exchange_oauth_code('ВАШ_CODE', region='eu')\""
)

# one worker under pytest-xdist (--dist loadgroup): the fresh venv below is built once
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("installed_env")]


@pytest.fixture(scope="module")
def installed_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (no system site-packages) with `pip install .` of this project."""
    root = tmp_path_factory.mktemp("fresh-env")
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(root / "venv")
    pip = subprocess.run(
        [str(root / "venv" / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "."],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    return root / "venv"


@pytest.fixture
def sim() -> Iterator[SimCloud]:
    with SimCloud(SimCloudConfig(), devices=[SimDevice("1000000001", "PBX relay")]) as cloud:
        yield cloud


def _shell(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", "-c", command], env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_both_oneliners_work_as_written(installed_env: Path, sim: SimCloud, tmp_path: Path) -> None:
    workdir = tmp_path / "anywhere"
    workdir.mkdir()
    token_file = tmp_path / "state" / "ewelink_token.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PBXWATCH_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(
        {
            "PATH": f"{installed_env / 'bin'}:/usr/bin:/bin",  # the pbxwatch environment is active
            "VIRTUAL_ENV": str(installed_env),
            "PBXWATCH_EWELINK_APP_ID": sim.config.app_id,
            "PBXWATCH_EWELINK_APP_SECRET": sim.config.app_secret,
            "PBXWATCH_EWELINK_REDIRECT_URL": REDIRECT_URL,
            "PBXWATCH_EWELINK_API_URL": sim.url,
            "PBXWATCH_EWELINK_OAUTH_URL": sim.oauth_url,
            "PBXWATCH_EWELINK_TOKEN_FILE": str(token_file),
            "PBXWATCH_LOG_DIR": str(tmp_path / "logs"),
        }
    )
    which = _shell("command -v python3", env, workdir)
    assert which.stdout.strip() == str(installed_env / "bin" / "python3")

    generated = _shell(GENERATE, env, workdir)
    assert generated.returncode == 0, generated.stderr
    assert generated.stderr == ""
    url = generated.stdout.strip()
    assert generated.stdout == url + "\n"  # only the URL
    assert url.startswith(sim.oauth_url + "?clientId=")

    page = httpx.get(url)
    assert page.status_code == 302
    callback = httpx.URL(page.headers["location"])
    assert str(callback).startswith(REDIRECT_URL)
    code = callback.params["code"]

    exchanged = _shell(EXCHANGE.replace("ВАШ_CODE", code), env, workdir)
    assert exchanged.returncode == 0, exchanged.stderr
    saved = json.loads(token_file.read_text())
    assert saved["region"] == "eu" and saved["accessToken"] not in exchanged.stdout + exchanged.stderr
    assert token_file.stat().st_mode & 0o777 == 0o600

    reused = _shell(EXCHANGE.replace("ВАШ_CODE", code), env, workdir)  # a code works once, 30 s at most
    assert reused.returncode == 1
    assert reused.stdout == ""
    assert reused.stderr.count("\n") == 1 and reused.stderr.startswith("error: ")
    assert "invalid code" in reused.stderr and "Traceback" not in reused.stderr
    log_text = (tmp_path / "logs" / "ewelink_service.log").read_text(encoding="utf-8")
    assert "invalid code" in log_text
    assert saved["accessToken"] not in log_text and sim.config.app_secret not in log_text
    assert not list(workdir.iterdir())  # nothing written into the operator's current directory


def test_missing_settings_give_one_line_not_a_traceback(installed_env: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PBXWATCH_", "PYTHON"))}
    env.update({"PATH": f"{installed_env / 'bin'}:/usr/bin:/bin", "PBXWATCH_LOG_DIR": str(tmp_path / "logs")})
    result = _shell(GENERATE, env, tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: ewelink.app_id is required")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
