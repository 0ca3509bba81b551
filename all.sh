#!/usr/bin/env bash
# Both services: ./all.sh start|stop|restart|status   (docs/design.md §8)
# The relay service (ewelink.sh) starts first and stops last: the monitor asks it to power-cycle.
# `status` exits 0 when both run, 1 when one has a stale pid file, 3 otherwise.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT" || exit 1

relay() { "$ROOT/ewelink.sh" "$1"; }
monitor() { "$ROOT/reboot.sh" "$1"; }

case "${1:-}" in
    start) relay start && monitor start ;;
    stop)
        monitor stop
        relay stop
        ;;
    restart)
        monitor stop
        relay stop
        relay start && monitor start
        ;;
    status)
        relay status
        r=$?
        monitor status
        m=$?
        if [ "$r" -eq 0 ] && [ "$m" -eq 0 ]; then exit 0; fi
        if [ "$r" -eq 1 ] || [ "$m" -eq 1 ]; then exit 1; fi
        exit 3
        ;;
    *)
        echo "usage: $(basename "$0") start|stop|restart|status" >&2
        exit 2
        ;;
esac
