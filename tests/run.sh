#!/usr/bin/env bash
# Runs the test suites and prints one closing line: "N passed, N failed".
#   tests/run.sh [all|unit|integration|qemu]
# Unit tests are cmocka binaries in build/tests/; integration tests are
# tests/integration/test_*.sh, which print "ok - NAME", "not ok - NAME" or
# "skip - NAME (why)" per case.
set -u
cd "$(dirname "$0")/.."
what=${1:-all}
passed=0 failed=0 skipped=0
failures=()

run_unit() {
	local t out p f s
	for t in build/tests/test_*; do
		[ -x "$t" ] || continue
		echo "== unit: ${t##*/}"
		out=$("$t" 2>&1)
		local rc=$?
		printf '%s\n' "$out" | grep -E '^\[  (PASSED|FAILED|SKIPPED) *\]' | sed 's/^/   /'
		p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
		f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
		s=$(printf '%s\n' "$out" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | tail -1)
		p=${p:-0} f=${f:-0} s=${s:-0}
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			# Crashed or failed before cmocka could count.
			printf '%s\n' "$out" | tail -20 | sed 's/^/   /'
			f=1
		fi
		[ "$f" -gt 0 ] && failures+=("unit ${t##*/}")
		passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	done
}

run_integration() {
	local t line t0
	for t in "$@"; do
		echo "== integration: ${t##*/}"
		t0=$SECONDS
		while IFS= read -r line; do
			echo "   $line"
			case "$line" in
			"ok - "*) passed=$((passed + 1)) ;;
			"not ok - "*) failed=$((failed + 1)); failures+=("${t##*/}: ${line#not ok - }") ;;
			"skip - "*) skipped=$((skipped + 1)) ;;
			esac
		done < <(timeout 600 bash "$t" 2>&1)
		echo "   # ${t##*/}: $((SECONDS - t0)) s"
	done
}

case "$what" in
all) run_unit; run_integration tests/integration/test_*.sh ;;
unit) run_unit ;;
integration) run_integration $(ls tests/integration/test_*.sh | grep -v test_qemu) ;;
qemu) run_integration tests/integration/test_qemu*.sh ;;
*) echo "usage: tests/run.sh [all|unit|integration|qemu]" >&2; exit 2 ;;
esac

if [ ${#failures[@]} -gt 0 ]; then
	echo "failed:"
	printf '  %s\n' "${failures[@]}"
fi
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
