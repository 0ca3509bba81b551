"""Docs that cannot rot: every `pbxwatch`, `curl`, `python3` and `.sh` command in the README and the
Russian runbook is run here, word for word (placeholders filled in), against the simulators; the
README's first command runs in a fresh copy of the repository; systemd units are verified.

The environment: `pbxwatch sim fleet` and `pbxwatch sim cloud` as processes, a config file pointing
at them (SQLite database, relay service on a free port: the runbook's commands name 8010, and each is run
with that port written in instead), and the seed's scripts.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from pbxwatch.config import SYSTEM_CONFIG_ENV

REPO = Path(__file__).resolve().parents[1]
DOCS = (REPO / "README.md", REPO / "docs" / "RUNBOOK.ru.md")
KINDS = ("pbxwatch ", "curl ", "python3 ", "./")
DOC_PORT = ":8010"  # the port the runbook's commands name; rewritten to RELAY_PORT when they run


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


RELAY_PORT = _free_port()
FLEET_BASE = "127.0.9.1"  # on ports the kernel picks: another checkout's docs test may run at the same time
DEVICE = "1000abcdef"
APP_ID, APP_SECRET = "docsappid001", "docs-app-secret-0001"


def doc_commands(text: str) -> list[str]:
    """Commands in fenced blocks (comment stripped) and in inline code spans, in document order."""
    found, fenced = [], False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            command = stripped if stripped.startswith("python3") else stripped.split(" #")[0].strip()
            if command.startswith(KINDS):
                found.append(command)
            continue
        found.extend(
            span
            for span in re.findall(r"`([^`]+)`", line)
            if span.startswith(KINDS) and (not span.startswith("./") or ".sh" in span)
        )
    return found


def all_doc_commands() -> set[str]:
    return {c for doc in DOCS for c in doc_commands(doc.read_text(encoding="utf-8"))}


# Under pytest-xdist (--dist loadgroup) the tests on the module's environment (several processes: slow)
# share one worker, so it is started once.
DOCS_ENV_GROUP = pytest.mark.xdist_group("docs_env")


class LineReader:
    """Lines a child prints, read by a thread (a select() on the pipe misses lines Python already buffered)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        with contextlib.suppress(ValueError, OSError):  # the pipe is closed when the fixture stops the child
            for line in self.proc.stdout:
                self.lines.put(line.strip())

    def next(self, timeout: float = 30.0) -> str:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.proc.args} printed nothing within {timeout} s") from None


@dataclass
class DocsEnv:
    workdir: Path
    env: dict[str, str]
    cloud_url: str
    hosts: list[tuple[str, str, int]]  # name, address, port

    def run(self, command: str, *, cwd: Path | None = None, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", command],
            cwd=cwd or self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def code(self) -> str:
        """A fresh OAuth code from the simulated cloud (what the browser's redirect would carry)."""
        reply = httpx.post(
            f"{self.cloud_url}/_sim/code", json={"redirectUrl": f"http://localhost:{RELAY_PORT}/ewelink-callback/"}
        )
        reply.raise_for_status()
        code: str = reply.json()["code"]
        return code

    def state(self) -> str:
        """The `state` of a fresh auth URL of the running relay service (the runbook's section 4)."""
        from urllib.parse import parse_qs, urlsplit

        reply = httpx.get(f"http://localhost:{RELAY_PORT}/ewelink-auth-url")
        reply.raise_for_status()
        state: str = parse_qs(urlsplit(reply.json()["auth_url"]).query)["state"][0]
        return state

    def host_args(self, index: int = 0) -> str:
        _, address, port = self.hosts[index]
        return f"{address} --port {port}"


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _spawn(args: list[str], env: dict[str, str], errors: Path) -> subprocess.Popen[str]:
    with errors.open("w") as err:
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True, env=env, start_new_session=True)


@pytest.fixture(scope="module")
def docs_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DocsEnv]:
    work = tmp_path_factory.mktemp("docs")
    bin_dir = Path(sys.executable).parent
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("PBXWATCH_") or k == SYSTEM_CONFIG_ENV}
    base_env["PATH"] = f"{bin_dir}:{base_env.get('PATH', '')}"
    base_env["COLUMNS"] = "200"
    started: list[subprocess.Popen[str]] = []
    docs: DocsEnv | None = None
    try:
        fleet = _spawn(
            [str(bin_dir / "pbxwatch"), "sim", "fleet", "--hosts", "2", "--base-address", FLEET_BASE, "--port", "0",
             "--state-dir", str(work / "fleet"), "--control-port", "0"],
            base_env, work / "fleet.err",
        )  # fmt: skip
        started.append(fleet)
        hosts = []
        fleet_lines = LineReader(fleet)
        for _ in range(2):
            line = fleet_lines.next()
            assert len(line.split()) == 3, f"sim fleet: {line!r}; stderr: {(work / 'fleet.err').read_text()}"
            name, address, port = line.split()
            hosts.append((name, address, int(port)))
        (work / "devices.json").write_text(json.dumps([{"id": DEVICE, "name": "Relay 0201"}]))
        cloud = _spawn(
            [str(bin_dir / "pbxwatch"), "sim", "cloud", "--port", "0", "--app-id", APP_ID, "--app-secret", APP_SECRET,
             "--devices", str(work / "devices.json")],
            base_env, work / "cloud.err",
        )  # fmt: skip
        started.append(cloud)
        cloud_url = LineReader(cloud).next().split()[0]
        (work / "known_hosts").touch()
        (work / "pbxwatch.toml").write_text(
            f'database_url = "sqlite:///{work / "pbxwatch.db"}"\nlog_dir = "{work / "logs"}"\n'
            f'run_dir = "{work / "run"}"\n\n[ewelink]\napp_id = "{APP_ID}"\napp_secret = "{APP_SECRET}"\n'
            f'redirect_url = "http://localhost:{RELAY_PORT}/ewelink-callback/"\ntoken_file = "{work / "token.json"}"\n'
            f'api_url = "{cloud_url}"\noauth_url = "{cloud_url}/oauth/index.html"\n\n[relay]\nport = {RELAY_PORT}\n\n'
            f'[ssh]\nusername = "pbxwatch"\nkey_file = "{work / "fleet" / "client_key"}"\n'
            f'known_hosts = "{work / "known_hosts"}"\nconnect_timeout = 2\ncommand_timeout = 3\n\n'
            f'[monitor]\nrelay_url = "http://127.0.0.1:{RELAY_PORT}"\npoll_interval = 5\nretry_interval = 2\n'
        )  # fmt: skip
        env = {**base_env, "PBXWATCH_CONFIG": str(work / "pbxwatch.toml"), "PBXWATCH_RUN_DIR": str(work / "run")}
        (work / "units.csv").write_text(
            f"number,name,host,ssh_port,parameter_option_2\n0202,Beta,{hosts[1][1]},{hosts[1][2]},false\n"
        )
        docs = DocsEnv(work, env, cloud_url, hosts)
        yield docs
    finally:
        if docs is not None:
            docs.run("./all.sh stop", cwd=REPO, timeout=60)
        for proc in reversed(started):
            _stop(proc)


# doc command -> (what actually runs, expected exit code, text expected in stdout). `{host}` etc. are
# the placeholders of the docs filled in; `cwd: repo` commands are the seed's scripts.
Check = tuple[str, int, str]


def _plan(docs: DocsEnv) -> list[tuple[str, Check, bool]]:
    host = docs.host_args(0)
    return [
        ("pbxwatch db upgrade", ("pbxwatch db upgrade", 0, "created the schema"), False),
        ("pbxwatch db check", ("pbxwatch db check", 0, "schema matches the contract"), False),
        ("pbxwatch units import units.csv", ("pbxwatch units import units.csv", 0, "1 added"), False),
        (
            "pbxwatch units add 0201 --host 10.20.1.2 --parameter-option-2 --ewelink-device-id 1000abcdef",
            # never a non-loopback address in tests: the example host becomes the simulated PBX
            (
                f"pbxwatch units add 0201 --host {host.replace(' --port', ' --ssh-port')} --parameter-option-2 "
                "--ewelink-device-id 1000abcdef",
                0,
                "added unit 0201",
            ),
            False,
        ),
        ("pbxwatch probe HOST --trust-new-key", (f"pbxwatch probe {host} --trust-new-key", 0, "up"), False),
        ("pbxwatch probe HOST", (f"pbxwatch probe {host}", 0, "up"), False),
        ("./ewelink.sh", ("./ewelink.sh status", 3, "stopped"), True),
        ("./all.sh start", ("./all.sh start", 0, ""), True),
        ("./all.sh status", ("./all.sh status", 0, "running"), True),
        ("./all.sh", ("./all.sh status", 0, "running"), True),
        ("./reboot.sh", ("./reboot.sh status", 0, "running"), True),
        ("curl http://localhost:8010/health", ("curl -sf http://localhost:8010/health", 0, '"token":"missing"'), False),
        (
            "curl http://localhost:8010/ewelink-auth-url",
            ("curl http://localhost:8010/ewelink-auth-url", 0, '"auth_url"'),
            False,
        ),
        ("pbxwatch ewelink auth-url", ("pbxwatch ewelink auth-url", 0, f"clientId={APP_ID}"), False),
        (
            'python3 -c "from ewelink_devices import EWeLinkDevices; print(EWeLinkDevices().generate_oauth_url())"',
            (
                'python3 -c "from ewelink_devices import EWeLinkDevices; print(EWeLinkDevices().generate_oauth_url())"',
                0,
                f"clientId={APP_ID}",
            ),
            False,
        ),
        (
            'curl "http://localhost:8010/ewelink-callback/?code=ВАШ_CODE&region=eu&state=ВАШ_STATE"',
            ('curl -sf "http://localhost:8010/ewelink-callback/?code={code}&region=eu&state={state}"', 0, ""),
            False,
        ),
        (
            "python3 -c \"from ewelink_devices import EWeLinkDevices; EWeLinkDevices().exchange_oauth_code('ВАШ_CODE', region='eu')\"",
            (
                "python3 -c \"from ewelink_devices import EWeLinkDevices; EWeLinkDevices().exchange_oauth_code('{code}', region='eu')\"",
                0,
                "",
            ),
            False,
        ),
        ("pbxwatch ewelink login ВАШ_CODE --region eu", ("pbxwatch ewelink login {code} --region eu", 0, ""), False),
        ("pbxwatch ewelink login CODE --region eu", ("pbxwatch ewelink login {code} --region eu", 0, ""), False),
        ("pbxwatch ewelink token", ("pbxwatch ewelink token", 0, "valid"), False),
        ("pbxwatch relay devices", ("pbxwatch relay devices", 0, DEVICE), False),
        ("pbxwatch relay on DEVICE", (f"pbxwatch relay on {DEVICE}", 0, ""), False),
        ("pbxwatch relay on DEVICE_ID", (f"pbxwatch relay on {DEVICE}", 0, ""), False),
        (
            'curl -X POST http://localhost:8010/toggle -H \'Content-Type: application/json\' -d \'{"device_id": "DEVICE_ID", "state": true}\'',
            (
                f'curl -sf -X POST http://localhost:8010/toggle -H \'Content-Type: application/json\' -d \'{{"device_id": "{DEVICE}", "state": true}}\'',
                0,
                DEVICE,
            ),
            False,
        ),
        # 0202's host key is never trusted in this walk-through: it is `unknown`, so the Nagios WARNING code 1.
        ("pbxwatch status", ("pbxwatch status", 1, "1 online, 1 unknown"), False),
        ("pbxwatch status --watch", ("timeout 12 pbxwatch status --watch", 124, "0201"), False),
        ("pbxwatch units rearm NUMBER", ("pbxwatch units rearm 0201", 0, ""), False),
        ("pbxwatch units rearm НОМЕР", ("pbxwatch units rearm 0202", 0, ""), False),
        (
            "./all.sh restart && ./reboot.sh restart && ./ewelink.sh restart",
            ("./all.sh restart && ./reboot.sh restart && ./ewelink.sh restart", 0, ""),
            True,
        ),
        ("curl http://localhost:8010/health", ("curl -sf http://localhost:8010/health", 0, '"token":"valid"'), False),
    ]


# Commands the docs name that other tests run (the services the scripts above start, the simulators
# this module starts, and synopses whose `--help` is checked below).
RUN_ELSEWHERE = {
    "pbxwatch monitor": "started by ./all.sh start and ./reboot.sh above",
    "pbxwatch relay serve": "started by ./all.sh start and ./ewelink.sh above",
    "pbxwatch sim cloud": "the docs_env fixture runs it",
}


def test_every_documented_command_is_covered() -> None:
    planned = {doc for doc, _, _ in _plan_docs_only()}
    synopses = {c for c in all_doc_commands() if _is_synopsis(c)}
    missing = all_doc_commands() - planned - set(RUN_ELSEWHERE) - synopses
    assert not missing, f"documented commands no test runs (add them to _plan): {sorted(missing)}"


def _plan_docs_only() -> list[tuple[str, Check, bool]]:
    """The plan's doc-side strings, without starting anything (placeholder values are not needed)."""
    return _plan(DocsEnv(Path("/nonexistent"), {}, "http://127.0.0.1:1", [("h", "127.0.0.1", 1)]))


def _is_synopsis(command: str) -> bool:
    return any(mark in command for mark in ("[", "\\|", "…"))


@DOCS_ENV_GROUP
@pytest.mark.slow
def test_documented_commands_work_against_the_simulators(docs_env: DocsEnv) -> None:
    documented = all_doc_commands()
    for doc, (template, expected_code, expected_text), in_repo in _plan(docs_env):
        assert doc in documented, f"the plan names a command the docs do not have: {doc}"
        command = template.replace(DOC_PORT, f":{RELAY_PORT}")
        if "{code}" in template:  # codes live 30 s: fetch one right before the command that uses it
            command = command.replace("{code}", docs_env.code())
        if "{state}" in template:  # the state the service put in its auth URL, as the redirect carries it
            command = command.replace("{state}", docs_env.state())
        # a bound on a hang only: the seed's restart line stops and starts both services three times,
        # which on 2 cores shared by parallel test workers took more than 90 s
        result = docs_env.run(command, cwd=REPO if in_repo else None, timeout=300)
        shown = f"{doc}\n$ {command}\nexit {result.returncode}\n{result.stdout}\n{result.stderr}"
        assert result.returncode == expected_code, shown
        assert expected_text in result.stdout.replace(" ", "") or expected_text in result.stdout, shown
        assert "Traceback" not in result.stderr, shown
        if doc.startswith("python3") and "generate_oauth_url" in doc:
            assert result.stdout.count("\n") == 1 and result.stdout.startswith("http"), "prints only the URL"
    tokens = json.loads((docs_env.workdir / "token.json").read_text())
    assert set(tokens) >= {"accessToken", "refreshToken", "atExpiredTime", "rtExpiredTime", "region"}


@DOCS_ENV_GROUP
@pytest.mark.slow
def test_synopses_have_help(docs_env: DocsEnv) -> None:
    for synopsis in sorted(c for c in all_doc_commands() if _is_synopsis(c)):
        words = []
        for word in synopsis.split():
            if _is_synopsis(word) or word.isupper() or word.startswith("-"):
                break
            words.append(word)
        result = docs_env.run(" ".join([*words, "--help"]))
        assert result.returncode == 0, f"{synopsis}: {result.stderr}"
        assert "Usage: pbxwatch" in result.stdout


def test_readme_opens_with_the_two_commands() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in block.strip().splitlines()] == ["make demo", "make test"]
    assert text.index("```sh") < text.index("\n## "), "the two commands come first"
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_units_verify(tmp_path: Path) -> None:
    units = sorted((REPO / "deploy").glob("*.service"))
    assert len(units) >= 2
    for unit in units:
        # The units run /opt/pbxwatch/.venv/bin/pbxwatch; point a copy at this checkout so ExecStart exists.
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace("/opt/pbxwatch", str(REPO)))
        result = subprocess.run(
            ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
        )
        problems = [line for line in result.stderr.splitlines() if unit.name in line or "Unknown" in line]
        assert result.returncode == 0 and not problems, f"{unit.name}: {result.stderr}"


@pytest.mark.slow
def test_readme_first_command_tells_the_whole_story_in_a_fresh_copy(tmp_path: Path) -> None:
    """`make demo` in a copy of the tracked files: a fresh .venv, then the demo must exit 0."""
    files = (
        subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    )
    copy = tmp_path / "pbxwatch"
    for name in filter(None, files):
        source = REPO / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PBXWATCH_", "VIRTUAL_ENV"))}
    result = subprocess.run(
        ["make", "demo"], cwd=copy, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    assert "demo finished: every step happened as expected" in result.stdout
    assert (copy / ".venv" / "bin" / "pbxwatch").exists()
