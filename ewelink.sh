#!/usr/bin/env bash
# The relay service (eWeLink, FastAPI on port 8010): ./ewelink.sh start|stop|restart|status   (docs/design.md §8)
# Logs: ewelink_service.log in log_dir. `start` returns once GET /health answers (any HTTP status:
# 503 means "running, database down"). `status` exits 0 running, 1 stale pid file, 3 stopped.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/service-lib.sh
. "$ROOT/scripts/service-lib.sh"

SVC_NAME="ewelink"
SVC_ARGS=(relay serve)

# Where the service listens, as pbxwatch's own configuration says (TOML file and PBXWATCH_* variables).
relay_health_url() {
    local where
    where="$("$(svc_python)" -c 'from pbxwatch.config import load_settings
s = load_settings()
host = "127.0.0.1" if s.relay.host in ("0.0.0.0", "::", "") else s.relay.host
print(f"[{host}]" if ":" in host else host, s.relay.port)' 2>/dev/null)" || where=""
    [ -n "$where" ] || where="127.0.0.1 8010"
    echo "http://${where% *}:${where#* }/health"
}

# Ready once /health gives any HTTP answer.
svc_ready() {
    "$(svc_python)" - "$RELAY_HEALTH_URL" <<'PY' >/dev/null 2>&1
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=2).close()
except urllib.error.HTTPError:
    pass  # an HTTP error status is still an answer
PY
}

case "${1:-}" in
    start | restart) RELAY_HEALTH_URL="$(relay_health_url)" ;;
esac
svc_main "$@"
