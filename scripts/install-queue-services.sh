#!/usr/bin/env bash
# Installs Debian's Redis and PostgreSQL for the queue-mode e2e test (test/e2e/queue.e2e.test.ts),
# which starts its own instances on 127.0.0.1 and free ports (test/harness/services.ts). Installing
# them does not start them. Idempotent: does nothing when both are there. Uses sudo only when not root.
set -euo pipefail

have_redis() { [ -x /usr/bin/redis-server ]; }
have_postgres() { compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null; }

if have_redis && have_postgres; then
	echo "install-queue-services: redis-server and postgresql already installed"
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	SUDO=()
elif command -v sudo >/dev/null 2>&1; then
	SUDO=(sudo)
else
	echo "install-queue-services: not root and no sudo; cannot install redis-server and postgresql" >&2
	exit 1
fi

packages=()
have_redis || packages+=(redis-server)
have_postgres || packages+=(postgresql)
echo "install-queue-services: installing Debian's ${packages[*]} …"
"${SUDO[@]}" apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"

if ! have_redis || ! have_postgres; then
	echo "install-queue-services: apt-get finished but redis-server or pg_ctl is missing" >&2
	exit 1
fi
echo "install-queue-services: done"
