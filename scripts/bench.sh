#!/usr/bin/env bash
# Runs the benchmark harness against a private dockerd and containerd.
#   scripts/bench.sh            # full run: regenerates docs/benchmarks.md (about 20 minutes)
#   scripts/bench.sh -smoke     # every scenario, briefly; asserts only that each runs
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
scripts/host-setup.sh
trap 'scripts/test-daemons.sh stop' EXIT
eval "$(scripts/test-daemons.sh start)"
go run ./bench "$@"
