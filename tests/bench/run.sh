#!/bin/sh
# run.sh BUILD — run every benchmark binary under BUILD/bench, then every
# tests/bench/*_bench.sh script (given BUILD), one at a time,
# after a header naming the machine and the date, so the output can be pasted
# into docs/BENCHMARKS.md as it is. Each benchmark prints its own Markdown.
# Exit status: 1 if any benchmark failed.
set -u
BUILD=${1:-build}
export SB_BUILD="$BUILD"
model=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
mem=$(free -h 2>/dev/null | awk '/^Mem:/ {print $2}')
echo "## Benchmarks"
echo
echo "- date: $(date -u +%F) ($(date -u +%H:%M) UTC)"
echo "- machine: $(nproc) CPUs, ${model:-unknown CPU}, ${mem:-?} RAM, kernel $(uname -r)"
echo "- load average before the run: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?') (other work on the machine skews the figures)"
echo "- version: $(cat VERSION 2>/dev/null || echo '?'), build: $BUILD"
echo
status=0 found=0
# one NAME CMD... — run one benchmark, note its failure and its duration.
one() {
	name=$1
	shift
	found=1
	start=$(date +%s)
	timeout --kill-after=10 "${SB_BENCH_TIMEOUT:-900}" "$@"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "**$name failed** (exit status $rc)"
		status=1
	fi
	echo "_${name}: $(( $(date +%s) - start )) s_"
	echo
}
for b in "$BUILD"/bench/*; do
	[ -f "$b" ] && [ -x "$b" ] && one "$(basename "$b")" "$b"
done
# Benchmarks written as scripts (tests/bench/*_bench.sh BUILD), e.g. the gateway's wrk runs.
for s in "$(dirname "$0")"/*_bench.sh; do
	[ -f "$s" ] && [ -x "$s" ] && one "$(basename "$s" .sh)" "$s" "$BUILD"
done
[ "$found" -eq 1 ] || { echo "no benchmarks in $BUILD/bench" >&2; exit 1; }
exit $status
