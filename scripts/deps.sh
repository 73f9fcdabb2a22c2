#!/bin/sh
# Dependency bootstrap: make sure the Debian packages the build needs are present.
# Usage: scripts/deps.sh PACKAGE...
# Installs the missing ones with apt-get when running as root; otherwise prints the exact
# command to run and fails.
set -eu
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "deps: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    # a stale package list makes installs fail; refresh once, quietly
    apt-get update -qq >&2 || true
    apt-get install -y -qq --no-install-recommends $missing >&2
    exit 0
fi
echo "deps: missing Debian packages:$missing" >&2
echo "deps: run: sudo apt-get install$missing" >&2
exit 1
