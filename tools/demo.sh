#!/bin/sh
# demo.sh BUILD — `make demo`: one simulated phone call through the whole
# stack, then its transcript.
#
# Starts the `make run` stack (tools/run.sh) with its data in a temporary
# folder, on loopback ports from SB_DEMO_PORT (default 18080, 18081, 18082),
# with the offline voice engine (sb-voice) as the speech model, as `make run`
# has it without an OpenAI key. The caller's questions are synthesised speech
# (`sb-voice --say`, flite's rms voice). sb-callsim rings the demo business
# like Twilio would: signed voice webhook → TwiML → media stream → sb-voice
# hears the question → knowledge lookup → spoken answer, taking turns, and
# finally says goodbye. The stored call is printed as "Caller: … / Agent: …",
# and everything is stopped and removed.
set -eu
BUILD=${1:-build}
BIN="$BUILD/bin"
PORT=${SB_DEMO_PORT:-18080}
GW=127.0.0.1:$PORT
BRIDGE=127.0.0.1:$((PORT + 1))
RT=127.0.0.1:$((PORT + 2))
DIR=$(mktemp -d "${TMPDIR:-/tmp}/sb-demo.XXXXXX")
launcher=""

cleanup() {
	[ -n "$launcher" ] && kill -TERM "$launcher" 2>/dev/null && wait "$launcher" 2>/dev/null
	rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

unset OPENAI_API_KEY SB_REALTIME_URL
SB_VAR_DIR="$DIR/var" SB_GATEWAY_LISTEN="$GW" SB_BRIDGE_LISTEN="$BRIDGE" SB_STREAM_URL="ws://$BRIDGE" \
SB_VOICE_LISTEN="$RT" tools/run.sh "$BUILD" >"$DIR/launcher.log" 2>&1 &
launcher=$!

echo "starting the stack (logs in $DIR while it runs) ..."
i=0
until [ -s "$DIR/var/.seeded" ] && curl -fsS "http://$GW/healthz" >/dev/null 2>&1; do
	i=$((i + 1))
	[ "$i" -gt 300 ] && { echo "the stack did not come up:" >&2; tail -20 "$DIR/launcher.log" >&2; exit 1; }
	sleep 0.1
done

# The caller's lines, synthesised once.
files=""
n=0
for line in "how much does the premium plan cost" "what are your opening hours" "goodbye"; do
	n=$((n + 1))
	"$BIN/sb-voice" --run-dir "$DIR/say" --say "$line" --voice rms --say-out "$DIR/caller$n.wav" >/dev/null 2>&1
	files="${files:+$files,}$DIR/caller$n.wav"
done

echo "calling +15550100100 (the demo business); the caller asks two questions, then says goodbye ..."
"$BIN/sb-callsim" --run-dir "$DIR/sim" --webhook-url "http://$GW/api/twilio/voice" \
	--twilio-auth-token "$(cat "$DIR/var/twilio-auth-token")" --from +15550100222 --to +15550100100 \
	--say "$files" --say-gap-ms 1500 --duration-ms 60000 --report "$DIR/call.json" >"$DIR/callsim.log" 2>&1
sid=$(jq -r '.items[0].callSid' "$DIR/call.json")
key="sbk_$(cat "$DIR/var/admin-key")"

i=0
until curl -fsS -H "Authorization: Bearer $key" "http://$GW/api/calls/$sid" >"$DIR/transcript.json" 2>/dev/null &&
	[ "$(jq -r '.endedAt // empty' "$DIR/transcript.json")" != "" ]; do
	i=$((i + 1))
	[ "$i" -gt 200 ] && break
	sleep 0.1
done

echo
echo "Call $sid ($(jq -r '.status' "$DIR/transcript.json"), $(jq -r '.durationS' "$DIR/transcript.json") s):"
jq -r '.transcript[] | (if .role == "user" then "  Caller: " elif .role == "assistant" then "  Agent:  " else "  (" + .role + ") " end) + .text' \
	"$DIR/transcript.json"
jq -r '.toolCalls[] | "  [tool " + .name + " " + (.arguments // "") + "]"' "$DIR/transcript.json"
