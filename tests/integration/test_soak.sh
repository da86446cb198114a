#!/usr/bin/env bash
# make soak's smoke pass (issue 18): 20 s of tests/soak.sh, sampling every
# 4 s, its results in a scratch file. The soak's own checks are this
# test's cases (the audit exact every second, nothing grows); this adds
# that the results file holds what docs/performance.md says it does.
TOP=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
	echo "skip - soak smoke (needs root for namespaces and XDP)"
	exit 0
fi
out=$(mktemp /tmp/flipswitch-soak-XXXXXX.json)
trap 'rm -f "$out"' EXIT
# In 20 s each third is one 4 s sample, which the machine's other load
# can make several times slower: the smoke allows time a packet 4 x its
# first sample's (the hour's thirds, 20 samples each, take 1.5 x). The
# daemon's memory takes a step while the first captures and VM churn
# warm its allocator, then stays flat: in 20 s that step lands between
# the thirds, so the smoke allows 40 % (an hour's run, 10 %).
SOAK_SECS=20 SOAK_SAMPLE=4 SOAK_NS_MARGIN=300 SOAK_RSS_MARGIN=40 SOAK_OUT=$out bash "$TOP/tests/soak.sh"
rc=$?
if jq -e '.seconds == 20 and .vms == 8 and (.samples | length) >= 4
	  and all(.samples[]; .rss_kb > 0 and .fds > 0)
	  and ([.samples[] | select(.packets > 0 and .ns_per_packet > 0)] | length) >= 4
	  and .audits >= 20 and .audits_failed == 0' "$out" >/dev/null 2>&1; then
	echo "ok - results file: 20 s, 8 VMs, a sample every 4 s with RSS, fds, time a packet"
else
	echo "not ok - results file: 20 s, 8 VMs, a sample every 4 s with RSS, fds, time a packet"
	head -c 2000 "$out" | sed 's/^/#   /'
fi
echo "# soak exited $rc"
