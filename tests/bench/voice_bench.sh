#!/bin/sh
# voice_bench.sh BUILD — the offline voice engine (sb-voice) in the `make run`
# stack: turn latency at the caller, CPU per call-minute, concurrent calls.
#
# Starts tools/run.sh (store, rag-worker, sb-voice, bridge, scheduler,
# gateway; the seeded demo business and its knowledge) in a temporary
# folder on loopback ports from VOICE_BENCH_PORT (default 19080..19082), and
# synthesises three caller questions with `sb-voice --say` (flite rms: not
# the agent's voice). Then, with sb-callsim ringing the demo number through
# the signed webhook:
#   1. sequential: VOICE_BENCH_ROUNDS (5) calls of three questions each;
#   2. concurrent: VOICE_BENCH_CALLS (25) calls at once, ramped over 2 s.
# Turn latency = when the caller first hears the answer − when the caller
# stopped talking (sb-callsim's report), so it includes the VAD's end-of-turn
# silence (the bridge's default server_vad silence_duration_ms, 500 ms), the
# recogniser's finalisation, the knowledge lookup and synthesis.
# CPU per call-minute is sb-voice's user+system time (/proc) over the
# minutes of call audio it handled; answered = turns with a reply heard.
set -eu
BUILD=${1:-build}
BIN="$BUILD/bin"
PORT=${VOICE_BENCH_PORT:-19080}
ROUNDS=${VOICE_BENCH_ROUNDS:-5}
CALLS=${VOICE_BENCH_CALLS:-25}
GW=127.0.0.1:$PORT
DIR=$(mktemp -d "${TMPDIR:-/tmp}/voicebench.XXXXXX")
launcher=""
cleanup() {
	[ -n "$launcher" ] && kill -TERM "$launcher" 2>/dev/null && wait "$launcher" 2>/dev/null
	if [ -n "${VOICE_BENCH_KEEP:-}" ]; then echo "kept $DIR" >&2; else rm -rf "$DIR"; fi
}
trap cleanup EXIT INT TERM
command -v jq >/dev/null || { echo "voice_bench: jq is missing (tools/deps.sh)" >&2; exit 1; }

SB_VAR_DIR="$DIR/var" SB_GATEWAY_LISTEN="$GW" SB_BRIDGE_LISTEN="127.0.0.1:$((PORT + 1))" \
SB_STREAM_URL="ws://127.0.0.1:$((PORT + 1))" SB_VOICE_LISTEN="127.0.0.1:$((PORT + 2))" SB_VOICE_MAX_SESSIONS=200 \
tools/run.sh "$BUILD" >"$DIR/launcher.log" 2>&1 &
launcher=$!
i=0
until [ -s "$DIR/var/.seeded" ] && curl -fsS "http://$GW/healthz" >/dev/null 2>&1; do
	i=$((i + 1))
	[ "$i" -gt 300 ] && { echo "voice_bench: the stack did not come up" >&2; tail -20 "$DIR/launcher.log" >&2; exit 1; }
	sleep 0.1
done
vpid=$(pgrep -f "^$BIN/sb-voice" | head -n 1)

files=""
k=0
for q in "how much does the premium plan cost" "what are your opening hours" "how much does the basic plan cost"; do
	k=$((k + 1))
	f="$DIR/q$k.wav"
	"$BIN/sb-voice" --run-dir "$DIR/say" --say "$q" --voice rms --say-out "$f" >/dev/null 2>&1
	files="${files:+$files,}$f"
done

cpu() { awk '{print $14 + $15}' "/proc/$vpid/stat"; }
# calls NAME N RAMP — N calls at once; the report in $DIR/NAME.json
calls() {
	"$BIN/sb-callsim" --run-dir "$DIR/sim" --webhook-url "http://$GW/api/twilio/voice" \
		--twilio-auth-token "$(cat "$DIR/var/twilio-auth-token")" --from +15550100222 --to +15550100100 \
		--calls "$2" --ramp-ms "$3" --say "$files" --duration-ms 120000 --report "$DIR/$1.json" >>"$DIR/callsim.log" 2>&1
}
# stats FILES... — turn latencies (ms) of every utterance: "n p50 p99 answered"
stats() {
	jq -s '[.[].items[].utterances[]] as $u
		| [$u[] | select(.replyFirstAudioMs != null) | .replyFirstAudioMs - .sayEndMs] | sort as $l
		| "\($l | length) \($l[(length * 0.5 | floor)]) \($l[((length - 1) * 0.99 | floor)]) \($u | length)"' -r "$@"
}
call_min() { jq -s "[.[].items[] | .framesSent * 20] | add / 60000" "$@"; }

hz=$(getconf CLK_TCK)
c0=$(cpu)
r=1
while [ "$r" -le "$ROUNDS" ]; do
	calls "seq$r" 1 0
	r=$((r + 1))
done
c1=$(cpu)
calls conc "$CALLS" 2000
c2=$(cpu)

set -- $(stats "$DIR"/seq*.json)
seq_n=$1 seq_p50=$2 seq_p99=$3 seq_all=$4
set -- $(stats "$DIR/conc.json")
con_n=$1 con_p50=$2 con_p99=$3 con_all=$4
seq_min=$(call_min "$DIR"/seq*.json)
con_min=$(call_min "$DIR/conc.json")

echo "### Offline voice engine (sb-voice): turns at the caller"
echo
echo "| run | calls | turns answered | turn latency p50 | p99 | sb-voice CPU per call-minute |"
echo "|---|---|---|---|---|---|"
awk -v n="$seq_n" -v all="$seq_all" -v p50="$seq_p50" -v p99="$seq_p99" -v c="$((c1 - c0))" -v hz="$hz" -v m="$seq_min" \
	-v calls="$ROUNDS" 'BEGIN { printf "| one call at a time | %d | %d/%d | %d ms | %d ms | %.2f s |\n", calls, n, all, p50, p99, c / hz / m }'
awk -v n="$con_n" -v all="$con_all" -v p50="$con_p50" -v p99="$con_p99" -v c="$((c2 - c1))" -v hz="$hz" -v m="$con_min" \
	-v calls="$CALLS" 'BEGIN { printf "| %d concurrent | %d | %d/%d | %d ms | %d ms | %.2f s |\n", calls, calls, n, all, p50, p99, c / hz / m }'
echo
echo "Turn latency includes the 500 ms end-of-turn silence (server_vad default)."
echo "sb-voice log summary: $(grep -c 'voice.heard' "$DIR/var/log/sb-voice.log") turns heard,"\
" $(grep 'voice.heard' "$DIR/var/log/sb-voice.log" | grep -c 'understood=0') not understood."
