#!/usr/bin/env bash
# Make sure the PostgreSQL the tests use answers on 127.0.0.1:5432; start the local cluster if it does not.
set -euo pipefail
host=${PBXWATCH_TEST_PG_HOST:-127.0.0.1}
port=${PBXWATCH_TEST_PG_PORT:-5432}

answers() { pg_isready -h "$host" -p "$port" -q 2>/dev/null; }

if answers; then
    exit 0
fi
if command -v pg_ctlcluster >/dev/null 2>&1 && [[ -d /etc/postgresql ]]; then
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    echo "ensure-postgres: starting PostgreSQL $version (cluster main)"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
fi
for _ in $(seq 1 60); do
    answers && exit 0
    sleep 0.5
done
echo "ensure-postgres: PostgreSQL does not answer on $host:$port; start it and try again" >&2
exit 1
