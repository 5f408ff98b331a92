#!/usr/bin/env bash
# The whole test suite: unit tests (no daemon), then integration and end-to-end
# tests against a private dockerd and containerd that this script starts and stops.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

scripts/host-setup.sh

echo "== unit tests"
go vet ./...
go test -count=1 -timeout 15m ./...

echo "== integration and end-to-end tests (private dockerd + containerd)"
trap 'scripts/test-daemons.sh stop' EXIT
eval "$(scripts/test-daemons.sh start)"
export ESB_E2E=1
scripts/install-victorialogs.sh   # into $(go env GOPATH)/bin, where esb finds it
go test -count=1 -timeout 40m -p 1 -run 'Integration|E2E' ./...

echo "== benchmark smoke run (every scenario once, briefly; asserts only that each runs)"
go run ./bench -smoke
