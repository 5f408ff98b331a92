#!/bin/sh
# Install VictoriaLogs (the victoria-logs binary esb up runs as its log
# store), pinned, with `go install` from the Go module proxy.
#
#   scripts/install-victorialogs.sh [DIR]
#
# DIR defaults to $(go env GOPATH)/bin, where esb looks for it (after
# $VICTORIALOGS_BIN and the directory of the esb binary). Installing beside
# bin/esb works too: scripts/install-victorialogs.sh bin
# Building needs Go 1.26.5 or later; with a C compiler (gcc) it uses cgo's
# zstd, without one pure Go. Re-running with the version installed does nothing.
set -eu

VERSION=v1.52.1   # keep in step with internal/logs.VictoriaLogsVersion
MODULE=github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs

command -v go >/dev/null 2>&1 || { echo "install-victorialogs: go is not on PATH (Go 1.26.5 or later is needed)" >&2; exit 1; }
dir=${1:-$(go env GOPATH)/bin}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

if [ -x "$dir/victoria-logs" ] &&
	go version -m "$dir/victoria-logs" 2>/dev/null | grep -q "^[[:space:]]*mod[[:space:]]*github.com/VictoriaMetrics/VictoriaLogs[[:space:]]*$VERSION[[:space:]]"; then
	echo "victoria-logs $VERSION is installed in $dir"
	exit 0
fi

if [ -z "${CGO_ENABLED:-}" ] && ! command -v "$(go env CC 2>/dev/null || echo gcc)" >/dev/null 2>&1; then
	export CGO_ENABLED=0
fi
echo "installing victoria-logs $VERSION into $dir (go install $MODULE@$VERSION) ..."
GOBIN=$dir go install "$MODULE@$VERSION"
echo "victoria-logs $VERSION is installed in $dir"
