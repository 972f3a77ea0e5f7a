#!/bin/sh
# deps.sh — install the Debian packages Switchboard needs to build, test and
# run, non-interactively, and only those that are missing.
#
#   tools/deps.sh            install what is missing (needs root or sudo)
#   tools/deps.sh --list     print the package list
#   tools/deps.sh --check    exit 1 if anything is missing, install nothing
set -eu

PKGS="
build-essential pkg-config
libnng-dev nng-utils
libmicrohttpd-dev
libwebsockets-dev libwebsockets-evlib-ev libev-dev
libcurl4-openssl-dev
libjansson-dev
libsqlite3-dev sqlite3
libssl-dev
libcmocka-dev
opensmtpd
wrk curl
valgrind
docker-compose yamllint systemd jq
libpocketsphinx-dev libsphinxbase-dev pocketsphinx-en-us
flite1-dev libspeexdsp-dev libwebrtc-audio-processing-dev
asterisk-core-sounds-en-wav asterisk-core-sounds-en
python3-aiosmtpd openssl
"

case "${1:-}" in
--list) echo $PKGS | tr ' ' '\n'; exit 0 ;;
esac

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

[ -z "$missing" ] && exit 0
if [ "${1:-}" = "--check" ]; then
	echo "deps: missing:$missing" >&2
	exit 1
fi

echo "deps: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
