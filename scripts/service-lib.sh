# shellcheck shell=bash
# Shared start|stop|restart|status for pbxwatch's service scripts (docs/design.md §8). Sourced by reboot.sh,
# ewelink.sh and all.sh; never run on its own.
#
# A script sets, before `svc_main "$@"`:
#   SVC_NAME      pid file name and label ("reboot" -> $PBXWATCH_RUN_DIR/reboot.pid)
#   SVC_ARGS      array: the pbxwatch arguments that run the service in the foreground
#   svc_ready     a function: exit 0 once the service answers (called with the service's pid)
#
# Environment: PBXWATCH_BIN (default: <project>/.venv/bin/pbxwatch, else `pbxwatch` on PATH),
# PBXWATCH_RUN_DIR (default: the run_dir of pbxwatch's configuration, so pid files sit beside the monitor's
# heartbeat where `pbxwatch status` looks), PBXWATCH_START_TIMEOUT / PBXWATCH_STOP_TIMEOUT (seconds, 30).
# `status` exits 0 running, 1 stale pid file, 3 stopped (the LSB codes).

set -u

SVC_ROOT="$(cd "$(dirname "${BASH_SOURCE[1]:-$0}")" && pwd)"
cd "$SVC_ROOT" || exit 1

if [ -z "${PBXWATCH_BIN:-}" ]; then
    if [ -x "$SVC_ROOT/.venv/bin/pbxwatch" ]; then
        PBXWATCH_BIN="$SVC_ROOT/.venv/bin/pbxwatch"
    else
        PBXWATCH_BIN="$(command -v pbxwatch || true)"
    fi
fi
SVC_START_TIMEOUT="${PBXWATCH_START_TIMEOUT:-30}"
SVC_STOP_TIMEOUT="${PBXWATCH_STOP_TIMEOUT:-30}"

svc_pid_file() { echo "$PBXWATCH_RUN_DIR/$SVC_NAME.pid"; }
svc_out_file() { echo "$PBXWATCH_RUN_DIR/$SVC_NAME.out"; }

# The python that runs pbxwatch (for small helpers such as an HTTP probe).
svc_python() {
    local dir
    dir="$(dirname "$PBXWATCH_BIN")"
    if [ -x "$dir/python" ]; then echo "$dir/python"; else command -v python3; fi
}

# The run directory as pbxwatch's configuration says (TOML file and PBXWATCH_* variables), made absolute.
svc_configured_run_dir() {
    "$(svc_python)" -c 'from pbxwatch.config import load_settings; print(load_settings().run_dir)' 2>/dev/null
}
if [ -z "${PBXWATCH_RUN_DIR:-}" ]; then
    # Not exported: the service reads the same setting itself. A broken config falls back to ./run, and the
    # service then reports the problem when it starts.
    PBXWATCH_RUN_DIR="$(svc_configured_run_dir)" || PBXWATCH_RUN_DIR=""
    [ -n "$PBXWATCH_RUN_DIR" ] || PBXWATCH_RUN_DIR="$SVC_ROOT/run"
fi

# 0 when URL answers with HTTP 2xx.
svc_http_ok() {
    "$(svc_python)" - "$1" <<'EOF' >/dev/null 2>&1
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as reply:
    sys.exit(0 if 200 <= reply.status < 300 else 1)
EOF
}

# The pid in the pid file when that process is alive and is a pbxwatch process; empty otherwise.
svc_live_pid() {
    local file pid
    file="$(svc_pid_file)"
    [ -f "$file" ] || return 0
    pid="$(tr -dc '0-9' <"$file")"
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    if [ -r "/proc/$pid/cmdline" ] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q pbxwatch; then
        return 0  # the pid was reused by something else
    fi
    echo "$pid"
}

svc_status() {
    local pid
    pid="$(svc_live_pid)"
    if [ -n "$pid" ]; then
        echo "$SVC_NAME: running (pid $pid)"
        return 0
    fi
    if [ -f "$(svc_pid_file)" ]; then
        echo "$SVC_NAME: not running, but a stale pid file is left: $(svc_pid_file)"
        return 1
    fi
    echo "$SVC_NAME: stopped"
    return 3
}

svc_start() {
    local pid waited=0
    pid="$(svc_live_pid)"
    if [ -n "$pid" ]; then
        echo "$SVC_NAME: already running (pid $pid)"
        return 0
    fi
    if [ -z "$PBXWATCH_BIN" ] || [ ! -x "$PBXWATCH_BIN" ]; then
        echo "$SVC_NAME: pbxwatch not found (set PBXWATCH_BIN, or install into $SVC_ROOT/.venv)" >&2
        return 1
    fi
    mkdir -p "$PBXWATCH_RUN_DIR" || return 1
    rm -f "$(svc_pid_file)"
    nohup "$PBXWATCH_BIN" "${SVC_ARGS[@]}" >>"$(svc_out_file)" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$(svc_pid_file)"
    while [ "$waited" -lt $((SVC_START_TIMEOUT * 10)) ]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "$SVC_NAME: failed to start; last output ($(svc_out_file)):" >&2
            tail -n 5 "$(svc_out_file)" >&2
            rm -f "$(svc_pid_file)"
            return 1
        fi
        if svc_ready "$pid"; then
            echo "$SVC_NAME: started (pid $pid)"
            return 0
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    echo "$SVC_NAME: did not answer within ${SVC_START_TIMEOUT}s; stopping it (see $(svc_out_file))" >&2
    svc_stop >/dev/null
    return 1
}

svc_stop() {
    local pid waited=0
    pid="$(svc_live_pid)"
    if [ -z "$pid" ]; then
        rm -f "$(svc_pid_file)"
        echo "$SVC_NAME: not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$waited" -ge $((SVC_STOP_TIMEOUT * 10)) ]; then
            echo "$SVC_NAME: still running after ${SVC_STOP_TIMEOUT}s; sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null
            break
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    rm -f "$(svc_pid_file)"
    echo "$SVC_NAME: stopped"
    return 0
}

svc_main() {
    case "${1:-}" in
        start) svc_start ;;
        stop) svc_stop ;;
        restart) svc_stop && svc_start ;;
        status) svc_status ;;
        *)
            echo "usage: $(basename "${BASH_SOURCE[1]:-$0}") start|stop|restart|status" >&2
            return 2
            ;;
    esac
}
