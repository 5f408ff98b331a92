#!/usr/bin/env bash
# Starts or stops a private containerd and a private dockerd (using that
# containerd) for the tests, with all state under $ESB_TEST_DAEMON_DIR.
#
#   scripts/test-daemons.sh start   # prints the variables the tests read
#   scripts/test-daemons.sh stop
set -euo pipefail

dir=${ESB_TEST_DAEMON_DIR:-/tmp/esb-test-daemons}
ctrd_sock=$dir/containerd.sock
docker_sock=$dir/docker.sock

wait_for() { # socket, name, log
	for _ in $(seq 1 150); do
		[ -S "$1" ] && return 0
		sleep 0.1
	done
	echo "test-daemons: $2 did not start; last lines of $3:" >&2
	tail -20 "$3" >&2
	return 1
}

start() {
	mkdir -p "$dir"
	if [ ! -S "$ctrd_sock" ] || ! ctr --address "$ctrd_sock" version >/dev/null 2>&1; then
		cat >"$dir/containerd.toml" <<TOML
version = 2
root = "$dir/containerd/root"
state = "$dir/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$ctrd_sock"
[ttrpc]
  address = "$ctrd_sock.ttrpc"
TOML
		nohup containerd --config "$dir/containerd.toml" >"$dir/containerd.log" 2>&1 &
		echo $! >"$dir/containerd.pid"
		wait_for "$ctrd_sock" containerd "$dir/containerd.log"
	fi
	if [ ! -S "$docker_sock" ] || ! docker -H "unix://$docker_sock" version >/dev/null 2>&1; then
		nohup dockerd --containerd "$ctrd_sock" --data-root "$dir/docker" \
			--exec-root "$dir/docker-exec" -H "unix://$docker_sock" \
			--pidfile "$dir/docker.pid" >"$dir/dockerd.log" 2>&1 &
		wait_for "$docker_sock" dockerd "$dir/dockerd.log"
		for _ in $(seq 1 100); do
			docker -H "unix://$docker_sock" version >/dev/null 2>&1 && break
			sleep 0.1
		done
	fi
	echo "export ESB_TEST_DOCKER_HOST=unix://$docker_sock"
	echo "export ESB_TEST_CONTAINERD_ADDRESS=$ctrd_sock"
}

stop_pid() { # pidfile
	[ -f "$1" ] || return 0
	local pid
	pid=$(cat "$1")
	if kill "$pid" 2>/dev/null; then
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$1"
}

stop() {
	if [ -S "$docker_sock" ]; then
		ids=$(docker -H "unix://$docker_sock" ps -aq 2>/dev/null || true)
		[ -n "$ids" ] && docker -H "unix://$docker_sock" rm -f $ids >/dev/null 2>&1 || true
	fi
	stop_pid "$dir/docker.pid"
	if [ -S "$ctrd_sock" ]; then
		for ns in $(ctr --address "$ctrd_sock" namespaces ls -q 2>/dev/null); do
			for t in $(ctr --address "$ctrd_sock" -n "$ns" tasks ls -q 2>/dev/null); do
				ctr --address "$ctrd_sock" -n "$ns" tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true
			done
		done
		sleep 0.5
		for ns in $(ctr --address "$ctrd_sock" namespaces ls -q 2>/dev/null); do
			for t in $(ctr --address "$ctrd_sock" -n "$ns" tasks ls -q 2>/dev/null); do
				ctr --address "$ctrd_sock" -n "$ns" tasks rm -f "$t" >/dev/null 2>&1 || true
			done
		done
	fi
	stop_pid "$dir/containerd.pid"
	pkill -f "containerd-shim.*-address $ctrd_sock" 2>/dev/null || true
	# Leave no mounts behind.
	grep " $dir/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	rm -f "$ctrd_sock" "$docker_sock"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
