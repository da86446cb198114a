#!/usr/bin/env bash
# The fuzz targets' smoke pass in make test: each libFuzzer target
# (tests/fuzz/) for a few seconds from its corpus, one "ok - fuzz NAME"
# line each. make fuzz runs them for FUZZ_SECS (default 60).
cd "$(dirname "$0")/../.." || exit 1
exec tests/fuzz/run.sh "${FUZZ_SMOKE_SECS:-4}"
