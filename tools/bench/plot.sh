#!/usr/bin/env bash
# plot.sh RESULTS.json OUT.png: Mpps by frame size for each throughput case
# (the medians, with min-max bars), with gnuplot.
set -euo pipefail
in=$1 out=$2
dat=$(mktemp)
trap 'rm -f "$dat"' EXIT
cases=$(jq -r '[.results[] | select(.metric == "rx_rate" and (.case | test("fanout|scrub") | not)) | .case] | unique | .[]' "$in")
for c in $cases; do
	echo "# $c"
	jq -r --arg c "$c" '.results[] | select(.case == $c and .metric == "rx_rate") | [.frame_size, .median, .min, .max] | @tsv' "$in" | sort -n
	printf '\n\n'
done >"$dat"
{
	echo "set terminal pngcairo size 900,560 noenhanced"
	echo "set output '$out'"
	echo "set title 'Receive rate by frame size (median, min-max bars) - $(jq -r .date "$in")'"
	echo "set xlabel 'frame size (bytes)'; set ylabel 'Mpps'; set grid; set key outside right"
	echo "set logscale x 2; set xtics (64, 512, 1500)"
	# vm-to-vm runs an order of magnitude above the NIC cases: a log scale
	# keeps those apart.
	echo "set logscale y 10; set yrange [0.1:*]; set format y '%g'"
	printf 'plot '
	i=0
	for c in $cases; do
		printf "%s'%s' index %d using 1:2:3:4 with yerrorlines title '%s'" "$([ $i -gt 0 ] && echo ', ')" "$dat" "$i" "$c"
		i=$((i + 1))
	done
	echo
} | gnuplot || {
	echo "plot.sh: gnuplot failed" >&2
	exit 1
}
