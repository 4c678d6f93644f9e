#!/usr/bin/env bash
# Installs Debian's Chromium for the editor browser test (test/e2e/editor.browser.test.ts), which
# drives it with playwright-core (executablePath /usr/bin/chromium; playwright never downloads a browser).
# Idempotent: does nothing when /usr/bin/chromium is already there. Uses sudo only when not root.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
	echo "install-chromium: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM") already installed"
	exit 0
fi

# shellcheck source=apt-sudo.sh
source "$(dirname "$0")/apt-sudo.sh" install-chromium "chromium (apt-get install chromium)"

echo "install-chromium: installing Debian's chromium package …"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

if [ ! -x "$CHROMIUM" ]; then
	echo "install-chromium: apt-get finished but $CHROMIUM is missing" >&2
	exit 1
fi
echo "install-chromium: $("$CHROMIUM" --version) installed"
