#!/usr/bin/env bash
# Installs, with apt-get, what esb and its tests need on Debian 12, when missing.
# Idempotent: a second run installs nothing and takes well under a second.
set -euo pipefail

pkgs=(docker.io containerd runc containernetworking-plugins iptables iproute2
      awscli python3 python3-boto3 nodejs ca-certificates curl
      chromium protobuf-compiler docker-compose)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "esb: these Debian packages are missing: ${missing[*]}" >&2
	echo "esb: run as root (or: sudo apt-get install -y ${missing[*]})" >&2
	exit 1
fi
echo "esb: installing ${missing[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
# Don't let package scripts start system daemons; tests start private ones.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
fi
trap '[ $created_policy -eq 1 ] && rm -f "$policy"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
