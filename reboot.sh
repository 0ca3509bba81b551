#!/usr/bin/env bash
# The monitor (watchdog) service: ./reboot.sh start|stop|restart|status   (docs/design.md §8)
# Logs: reboot_service.log in log_dir. `start` returns once the monitor writes its heartbeat.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/service-lib.sh
. "$ROOT/scripts/service-lib.sh"

SVC_NAME="reboot"
SVC_ARGS=(monitor)

# The monitor answers by writing run/monitor.heartbeat with its pid (active, or standby behind another monitor).
svc_ready() {
    grep -q "\"pid\": $1[,}]" "$PBXWATCH_RUN_DIR/monitor.heartbeat" 2>/dev/null
}

svc_main "$@"
