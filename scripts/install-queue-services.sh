#!/usr/bin/env bash
# Installs Debian's Redis and PostgreSQL for the queue-mode e2e test (test/e2e/queue.e2e.test.ts),
# which starts its own instances on 127.0.0.1 and free ports (test/harness/services.ts). The packages'
# own services are kept from starting (a temporary policy-rc.d): the tests need none of them running.
# Idempotent: does nothing when both are there. Uses sudo only when not root.
set -euo pipefail

have_redis() { [ -x /usr/bin/redis-server ]; }
have_postgres() { compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null; }

if have_redis && have_postgres; then
	echo "install-queue-services: redis-server and postgresql already installed"
	exit 0
fi

# shellcheck source=apt-sudo.sh
source "$(dirname "$0")/apt-sudo.sh" install-queue-services "redis-server and postgresql"

packages=()
have_redis || packages+=(redis-server)
have_postgres || packages+=(postgresql)
echo "install-queue-services: installing Debian's ${packages[*]} …"
POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
	# invoke-rc.d asks this before starting a service; 101 means "not now".
	printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
	"${SUDO[@]}" chmod +x "$POLICY"
	trap '"${SUDO[@]}" rm -f "$POLICY"' EXIT
fi
"${SUDO[@]}" apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"

if ! have_redis || ! have_postgres; then
	echo "install-queue-services: apt-get finished but redis-server or pg_ctl is missing" >&2
	exit 1
fi
echo "install-queue-services: done"
