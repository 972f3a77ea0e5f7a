#!/bin/sh
# run.sh BUILD — `make run`: start the local stack on embedded defaults.
#
# Data lives under ./var (database var/switchboard.db, sockets var/run/,
# daemon logs var/log/). Starts every daemon that exists so far, then shows
# live events with sb-tap in the foreground. Ctrl-C stops everything
# cleanly (SIGTERM to each daemon, waiting for it to exit).
set -eu
BUILD=${1:-build}
BIN="$BUILD/bin"
VAR="$(pwd)/var"
RUN="$VAR/run"
LOG="$VAR/log"
mkdir -p "$RUN" "$LOG"

export SB_RUN_DIR="$RUN"
export SB_DB="${SB_DB:-$VAR/switchboard.db}"

pids=""
start() {
	name=$1; shift
	"$BIN/$name" "$@" >>"$LOG/$name.log" 2>&1 &
	pids="$pids $!"
	echo "started $name (pid $!, log var/log/$name.log)"
}

stop_all() {
	trap - INT TERM EXIT
	echo
	echo "stopping:$pids"
	for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	echo "all stopped"
}
trap stop_all INT TERM EXIT

start sb-store

# Wait until the store answers (sb-tap --stats exits 0 and reports it up).
i=0
until "$BIN/sb-tap" --stats 2>/dev/null | grep -q "sb-store.*up"; do
	i=$((i + 1))
	[ "$i" -gt 100 ] && { echo "sb-store did not come up; see var/log/sb-store.log" >&2; exit 1; }
	sleep 0.1
done

cat <<MSG

Switchboard is running (data in ./var). Try, in another terminal:
  nngcat --req --dial ipc://$RUN/store.sock --format ascii \\
         --data '{"op":"businesses.create","args":{"name":"Acme"}}'
Live events follow (Ctrl-C stops everything):

MSG
"$BIN/sb-tap" --follow || true
