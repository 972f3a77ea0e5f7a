#!/bin/sh
# run.sh BUILD — run every test binary under BUILD/tests, one at a time,
# print each one's result and end with the line "N passed, N failed"
# (test cases counted from cmocka's summaries). Logs: BUILD/test-logs/.
set -u
BUILD=${1:-build}
export SB_BUILD="$BUILD"
LOGS="$BUILD/test-logs"
mkdir -p "$LOGS"
passed=0 failed=0 bad_bins=""
for t in "$BUILD"/tests/*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	start=$(date +%s)
	timeout --kill-after=10 "${SBT_TIMEOUT:-600}" "$t" >"$LOGS/$name.log" 2>&1
	rc=$?
	secs=$(( $(date +%s) - start ))
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' "$LOGS/$name.log" | awk '{s+=$1} END {print s+0}')
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' "$LOGS/$name.log" | awk '{s+=$1} END {print s+0}')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	passed=$((passed + p)); failed=$((failed + f))
	if [ "$rc" -eq 0 ]; then
		printf 'PASS %-36s %3d cases %4ds\n' "$name" "$p" "$secs"
	else
		printf 'FAIL %-36s rc=%d %4ds (log: %s)\n' "$name" "$rc" "$secs" "$LOGS/$name.log"
		tail -n 30 "$LOGS/$name.log" | sed 's/^/    | /'
		bad_bins="$bad_bins $name"
	fi
done
echo "$passed passed, $failed failed"
[ -z "$bad_bins" ]
