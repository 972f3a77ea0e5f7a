#!/bin/sh
# gateway_bench.sh BUILD — sb-gateway throughput and latency with wrk.
#
# Starts its own sb-store and sb-gateway in a temporary folder (signature
# checking on, as in production), creates a business and its number, then
# measures, at 16 and 64 connections (wrk -t2, after a warm-up):
#   - voice webhooks (tests/bench/gateway_voice.lua): every request is
#     signed, has a new CallSid and creates a call log, durably (the store
#     acknowledges after its group commit is fsynced);
#   - admin GET /api/calls?limit=20 with an API key (a page of the log
#     just written, and its count).
# Prints a Markdown table: requests/s, p50/p99 latency, failures (non-2xx,
# socket errors, or a webhook answered with anything but <Stream> TwiML)
# and the CPU time the gateway and the store spent per request (/proc),
# then checks that the store holds a call log for every answered webhook.
#
# Knobs: GW_BENCH_SECS (10), GW_BENCH_CONNS ("16 64"), GW_BENCH_THREADS
# (gateway --threads, 2), GW_BENCH_WORKERS (--workers, 16).
set -eu
BUILD=${1:-build}
BIN="$BUILD/bin"
HERE=$(cd "$(dirname "$0")" && pwd)
SECS=${GW_BENCH_SECS:-10}
CONNS=${GW_BENCH_CONNS:-"16 64"}
KEY=bench-admin-key-0123456789
export GW_BENCH_TOKEN=bench-twilio-token GW_BENCH_PUBLIC=https://gw.bench.test GW_BENCH_TO=+18005550100

for tool in wrk curl; do
	command -v $tool >/dev/null || { echo "gateway_bench: $tool is missing (tools/deps.sh)" >&2; exit 1; }
done
DIR=$(mktemp -d "${TMPDIR:-/tmp}/gwbench.XXXXXX")
STORE_PID="" GW_PID=""
cleanup() {
	[ -n "$GW_PID" ] && kill -TERM "$GW_PID" 2>/dev/null && wait "$GW_PID" 2>/dev/null
	[ -n "$STORE_PID" ] && kill -TERM "$STORE_PID" 2>/dev/null && wait "$STORE_PID" 2>/dev/null
	rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

"$BIN/sb-store" --run-dir "$DIR/run" --db "$DIR/store.db" >"$DIR/store.log" 2>&1 &
STORE_PID=$!
"$BIN/sb-gateway" --run-dir "$DIR/run" --listen 127.0.0.1:0 --public-url "$GW_BENCH_PUBLIC" \
	--twilio-auth-token "$GW_BENCH_TOKEN" --admin-key "$KEY" --secret bench-secret-0123456789 \
	--threads "${GW_BENCH_THREADS:-2}" --workers "${GW_BENCH_WORKERS:-16}" >"$DIR/gateway.log" 2>&1 &
GW_PID=$!

# The port the kernel chose is in the gateway's "http.listening" line; then wait for /healthz.
PORT="" i=0
until [ -n "$PORT" ] && curl -sf -m 2 "http://127.0.0.1:$PORT/healthz" >/dev/null; do
	PORT=$(sed -n 's/.*http\.listening.* port=\([0-9]*\).*/\1/p' "$DIR/gateway.log" 2>/dev/null || true)
	i=$((i + 1))
	[ $i -gt 200 ] && { echo "gateway_bench: sb-gateway did not start:" >&2; cat "$DIR/gateway.log" >&2; exit 1; }
	sleep 0.05
done
URL="http://127.0.0.1:$PORT"

api() { curl -sf -m 10 -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' "$@"; }
BIZ=$(api -d '{"name":"Bench Plumbing"}' "$URL/api/businesses" | sed 's/.*"id":"\([^"]*\)".*/\1/')
api -d "{\"number\":\"$GW_BENCH_TO\",\"businessId\":\"$BIZ\"}" "$URL/api/phone-numbers" >/dev/null

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

# row NAME CONNS LOG WRK-ARGS... — one wrk run, appended to LOG; prints a table row.
row() {
	name=$1 conns=$2 log=$3
	shift 3
	g0=$(cpu_ticks "$GW_PID") s0=$(cpu_ticks "$STORE_PID")
	out=$(wrk -t2 -c"$conns" -d"${SECS}s" --latency "$@" 2>&1)
	g1=$(cpu_ticks "$GW_PID") s1=$(cpu_ticks "$STORE_PID")
	echo "$out" >>"$log"
	echo "$out" | awk -v name="$name" -v conns="$conns" -v gt=$((g1 - g0)) -v st=$((s1 - s0)) -v tick="$TICK" '
		function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
		/ 50%/ { p50 = ms($2) }
		/ 99%/ { p99 = ms($2) }
		/requests in/ { n = $1 }
		/Requests\/sec/ { rps = $2 }
		/Non-2xx/ { bad += $NF }
		/Socket errors/ { split($0, e, /[ ,]+/); for (k in e) if (e[k] ~ /^[0-9]+$/) bad += e[k] }
		/^bad=/ { split($0, a, "="); bad += a[2] }
		END {
			us_g = n ? gt * 1e6 / tick / n : 0; us_s = n ? st * 1e6 / tick / n : 0
			printf("| %s | %d | %.0f | %.2f | %.2f | %d | %.0f | %.0f |\n", name, conns, rps, p50, p99, bad, us_g, us_s)
		}'
}

echo "### sb-gateway: voice webhooks and admin reads (wrk)"
echo
echo "$SECS s per run after a 2 s warm-up; wrk -t2; sb-gateway --threads ${GW_BENCH_THREADS:-2} --workers ${GW_BENCH_WORKERS:-16};"
echo "signatures checked; every webhook a new CallSid and a durable call log. CPU columns: CPU time per request."
echo
echo "| endpoint | connections | requests/s | p50 ms | p99 ms | failures | gateway CPU µs | store CPU µs |"
echo "|---|--:|--:|--:|--:|--:|--:|--:|"
GW_BENCH_RUN=w wrk -t2 -c16 -d2s -s "$HERE/gateway_voice.lua" "$URL/" >>"$DIR/voice.log" 2>&1
for c in $CONNS; do
	GW_BENCH_RUN="r$c" row "POST /api/twilio/voice" "$c" "$DIR/voice.log" -s "$HERE/gateway_voice.lua" "$URL/"
done
for c in $CONNS; do
	row "GET /api/calls?limit=20" "$c" "$DIR/calls.log" -H "Authorization: Bearer $KEY" "$URL/api/calls?limit=20"
done

answered=$(awk '/requests in/ {n += $1} END {print n + 0}' "$DIR/voice.log")
logs=$(api "$URL/api/calls?limit=1" | sed 's/.*"total":\([0-9]*\).*/\1/')
echo
echo "Call logs in the store: $logs; webhooks answered: $answered (wrk does not count requests still in flight when a run ends)."
[ "$logs" -ge "$answered" ] || { echo "gateway_bench: fewer call logs than answered webhooks" >&2; exit 1; }
