# Sourced by the install scripts: sets SUDO to () as root, (sudo) where sudo exists, or fails with
# "$1: not root and no sudo; cannot install $2".
if [ "$(id -u)" -eq 0 ]; then
	SUDO=()
elif command -v sudo >/dev/null 2>&1; then
	SUDO=(sudo)
else
	echo "$1: not root and no sudo; cannot install $2" >&2
	exit 1
fi
