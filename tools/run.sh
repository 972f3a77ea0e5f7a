#!/bin/sh
# run.sh BUILD — `make run`: the whole local stack on embedded defaults.
#
# Data lives under ./var: the database (var/switchboard.db), the local
# knowledge index (var/rag), the email outbox (var/outbox), ipc sockets
# (var/run) and daemon logs (var/log). The stream-token secret and a first
# admin API key are created once and kept in var/ (mode 0600). On the first
# run a demo business (number, knowledge, configuration) and a demo payer
# are created through the gateway. Without OPENAI_API_KEY the speech model
# is the offline voice engine (sb-voice on 127.0.0.1:8082, where the bridge
# looks by default), so a whole call works with no cloud account. sb-tap then shows live events in the
# foreground; Ctrl-C stops every daemon cleanly (SIGTERM, then wait).
set -eu
BUILD=${1:-build}
BIN="$BUILD/bin"
VAR="${SB_VAR_DIR:-$(pwd)/var}"
RUN="$VAR/run"
LOG="$VAR/log"
HTTP=${SB_GATEWAY_LISTEN:-127.0.0.1:8080}
mkdir -p "$RUN" "$LOG" "$VAR/outbox" "$VAR/rag"

# A secret kept in var/NAME, made once.
secret() {
	[ -s "$VAR/$1" ] || (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$VAR/$1")
	cat "$VAR/$1"
}

export SB_RUN_DIR="$RUN"
export SB_DB="${SB_DB:-$VAR/switchboard.db}"
export SB_RAG_DATA_DIR="${SB_RAG_DATA_DIR:-$VAR/rag}"
export SB_OUTBOX_DIR="${SB_OUTBOX_DIR:-$VAR/outbox}"
export SB_SECRET="${SB_SECRET:-$(secret secret)}"
export SB_ADMIN_KEY="${SB_ADMIN_KEY:-sbk_$(secret admin-key)}"
# Signs webhooks from the local Twilio simulator (sb-callsim); a real
# account's token goes in the environment instead. No account SID is set,
# so nothing here ever calls Twilio's REST API.
export TWILIO_AUTH_TOKEN="${TWILIO_AUTH_TOKEN:-$(secret twilio-auth-token)}"
export SB_GATEWAY_LISTEN="$HTTP"
export SB_PUBLIC_URL="${SB_PUBLIC_URL:-http://$HTTP}"
export SB_VOICE_WORK_DIR="${SB_VOICE_WORK_DIR:-$VAR/voice}"

pids=""
names=""
tap=""
start() {
	name=$1; shift
	[ -x "$BIN/$name" ] || { echo "skipping $name (not built)"; return 0; }
	"$BIN/$name" "$@" >>"$LOG/$name.log" 2>&1 &
	pids="$pids $!"
	names="$names $name"
	echo "started $name (pid $!, log $LOG/$name.log)"
}

# SIGTERM every daemon, wait for each and report how it exited.
stop_all() {
	trap - INT TERM EXIT
	[ -n "$tap" ] && kill -TERM "$tap" 2>/dev/null
	echo
	echo "stopping:$names"
	for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
	bad=0
	set -- $names
	for p in $pids; do
		st=0
		wait "$p" || st=$?
		[ "$st" -eq 0 ] || { echo "$1 exited $st"; bad=1; }
		shift
	done
	if [ "$bad" -eq 0 ]; then echo "all stopped cleanly"; else echo "some daemons did not stop cleanly"; exit 1; fi
}
trap stop_all INT TERM EXIT

start sb-store
if [ -z "${OPENAI_API_KEY:-}" ] && [ -z "${SB_REALTIME_URL:-}" ]; then
	export SB_VOICE_LISTEN="${SB_VOICE_LISTEN:-127.0.0.1:8082}"
	export SB_REALTIME_URL="ws://$SB_VOICE_LISTEN/v1/realtime"
	start sb-voice
else
	echo "speech model: ${SB_REALTIME_URL:-OpenAI Realtime} (sb-voice not started)"
fi
start sb-rag-worker
start sb-media-bridge
start sb-scheduler
start sb-gateway

# Wait until the gateway answers /healthz (which needs the store).
i=0
until curl -fsS "http://$HTTP/healthz" >/dev/null 2>&1; do
	i=$((i + 1))
	[ "$i" -gt 300 ] && { echo "the gateway did not come up; see $LOG/" >&2; exit 1; }
	sleep 0.1
done

api() { # METHOD PATH [JSON]
	curl -fsS -X "$1" -H "Authorization: Bearer $SB_ADMIN_KEY" -H 'Content-Type: application/json' \
		${3:+-d "$3"} "http://$HTTP$2"
}

seed() {
	biz=$(api POST /api/businesses '{"name":"Nimbus Internet","timezone":"America/New_York"}' |
		sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
	[ -n "$biz" ] || return 1
	api POST /api/phone-numbers "{\"number\":\"+15550100100\",\"businessId\":\"$biz\"}" >/dev/null
	api PUT /api/config "{\"businessId\":\"$biz\",\"values\":{\"greeting_message\":\"Thanks for calling Nimbus Internet, how can I help?\",\"ai_personality\":\"friendly and concise\",\"transfer_number\":\"+15550100199\"}}" >/dev/null
	api POST /api/rag "{\"businessId\":\"$biz\",\"title\":\"Plans and prices\",\"category\":\"billing\",\"content\":\"The Basic plan costs 30 dollars a month for 100 megabits. The Premium plan costs 55 dollars a month for 1 gigabit, with free installation.\"}" >/dev/null
	api POST /api/rag "{\"businessId\":\"$biz\",\"title\":\"Opening hours\",\"category\":\"support\",\"content\":\"Phone support is open every day from 7 am to 11 pm Eastern time. Our stores open Monday to Saturday, 9 am to 6 pm.\"}" >/dev/null
	api POST /api/payers "{\"businessId\":\"$biz\",\"name\":\"Dana Demo\",\"email\":\"dana@example.com\",\"phone\":\"+15550100123\",\"amountDue\":129.5,\"currency\":\"USD\",\"daysOverdue\":12,\"timezone\":\"America/New_York\"}" >/dev/null
	echo "$biz" > "$VAR/.seeded"
	echo "seeded demo business $biz (number +15550100100) and a demo payer"
}
[ -s "$VAR/.seeded" ] || seed || echo "seeding failed; see var/log/sb-gateway.log" >&2

cat <<MSG

Switchboard is running (data in ./var).
  Admin API:  http://$HTTP/api   (Authorization: Bearer $SB_ADMIN_KEY)
  Health:     http://$HTTP/healthz   Metrics: http://$HTTP/metrics
  Try:        curl -H "Authorization: Bearer $SB_ADMIN_KEY" http://$HTTP/api/businesses
Live events follow (Ctrl-C stops everything):

MSG
# In the background with a wait, so that SIGTERM to this script (not only
# Ctrl-C to the whole terminal) stops everything at once.
"$BIN/sb-tap" --follow &
tap=$!
wait "$tap" || true
