#!/usr/bin/env bash
# The README's main job, on a fresh Debian 12 machine with Go, as root:
# install what is missing, build esb, build the offline Python base image,
# start examples/hello-python with `esb up --wait`, log in, call its route
# over HTTPS and print the answer. Idempotent; the second run takes seconds.
#
#   make demo                         # or scripts/demo.sh
#   ESB_DEMO_DIR=/srv/hello make demo # where the example runs (default ~/.esb/demo/hello-python)
#   DOCKER_HOST=unix:///path/docker.sock make demo   # use that Docker Engine
#   esb down -t ~/.esb/demo/hello-python             # stop it afterwards
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
export PATH=/usr/local/go/bin:$PATH

say() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || die "Go is not installed: install it (https://go.dev/doc/install, to /usr/local/go) and run make demo again"

say "packages"
scripts/host-setup.sh

say "Docker Engine"
if [ -z "${DOCKER_HOST:-}" ] && ! docker version >/dev/null 2>&1; then
	[ "$(id -u)" -eq 0 ] || die "Docker Engine is not running; start it (sudo systemctl start docker) or run make demo as root"
	if [ -d /run/systemd/system ]; then
		systemctl enable --now docker >/dev/null 2>&1 || systemctl start docker
	else
		# No systemd (a container, a minimal VM): run dockerd in the background.
		nohup dockerd >/var/log/esb-demo-dockerd.log 2>&1 &
	fi
	for _ in $(seq 1 150); do docker version >/dev/null 2>&1 && break; sleep 0.2; done
	docker version >/dev/null 2>&1 || die "dockerd did not start; see /var/log/esb-demo-dockerd.log or journalctl -u docker"
fi

say "build esb"
make -s build
esb=$repo/bin/esb

say "VictoriaLogs (the log store; go install of a pinned version, once)"
scripts/install-victorialogs.sh "$repo/bin"

dir=${ESB_DEMO_DIR:-$HOME/.esb/demo/hello-python}
say "example hello-python in $dir"
mkdir -p "$dir"
# Refresh the sources; keep generator.yml and .esb/ (images, state, data).
cp -R examples/hello-python/. "$dir/"
cd "$dir"

say "offline base image for python3.12 (from this host's Debian packages)"
"$esb" base build python3.12 >/dev/null

say "esb up --wait"
"$esb" up --wait

say "GET /hello over HTTPS with a fresh IdToken"
token=$("$esb" token)
port=${GATEWAY_PORT:-443}
answer=$(curl -fsS --cacert .esb/state/certs/ca.crt -H "Authorization: Bearer $token" "https://localhost:$port/hello")
echo "$answer"
cat >&2 <<EOF

The demo runs in the background. From $dir:
  $esb status
  curl --cacert .esb/state/certs/ca.crt -H "Authorization: Bearer \$($esb token)" https://localhost:$port/hello/you
  $esb down
EOF
