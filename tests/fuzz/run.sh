#!/usr/bin/env bash
# Runs each libFuzzer target in build/fuzz/ for SECS seconds (default 60):
#   tests/fuzz/run.sh [SECS] [NAME...]
# reading its corpus in tests/fuzz/NAME/ and adding what it finds to
# build/fuzz/corpus-NAME/; a crash, a sanitizer report or a broken
# invariant leaves its input in build/fuzz/NAME-crash-* (or leak-*,
# timeout-*). Prints "ok - fuzz NAME ..." or "not ok - fuzz NAME ..." per
# target, as the integration tests do.
set -u
cd "$(dirname "$0")/../.."
secs=${1:-60}
shift || true
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for t in build/fuzz/fuzz_*; do
		[ -x "$t" ] && names+=("${t##*/}")
	done
fi
if [ ${#names[@]} -eq 0 ]; then
	echo "skip - fuzz (no target built: make fuzz-build)"
	exit 0
fi
export LSAN_OPTIONS=suppressions=$PWD/tests/fuzz/lsan.supp
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
rc=0
for n in "${names[@]}"; do
	corpus=$PWD/build/fuzz/corpus-$n
	log=build/fuzz/$n.log
	mkdir -p "$corpus"
	if "build/fuzz/$n" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$PWD/build/fuzz/$n-" -print_final_stats=1 \
		"$corpus" "$PWD/tests/fuzz/$n" >"$log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		echo "ok - fuzz $n: ${runs:-?} inputs in $secs s, nothing found"
	else
		echo "not ok - fuzz $n (see $log)"
		grep -E "ERROR|SUMMARY|runtime error|abort|accepted|audit" "$log" | head -5 | sed 's/^/#   /'
		rc=1
	fi
done
exit $rc
