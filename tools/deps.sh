#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, when any is missing.
set -euo pipefail
. "$(dirname "$0")/common.sh"

major=$(pg_major)
packages=(
	"postgresql-server-dev-$major"
	"postgresql-$major-cron"
	"postgresql-$major-pgtap"
	libtap-parser-sourcehandler-pgtap-perl
)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
((${#missing[@]})) || exit 0

echo "installing ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
	apt=(apt-get)
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
	apt=(sudo apt-get)
else
	echo "missing packages: ${missing[*]}" >&2
	echo "install them as root: apt-get install ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${apt[@]}" update -qq
"${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
