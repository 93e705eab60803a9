#!/usr/bin/env bash
# The README's first command, as CI sees it: the lab comes up (BIRD + two vaned + a client),
# serves the VIP over ECMP and the XDP forwarders, withdraws a server whose service stops (and the
# other server takes it out of its forwarding table), takes it back, and tears down.
set -Eeuo pipefail
cd "$(dirname "$0")/../.."
[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root for network namespaces"; exit 77; }
for ns in vlab-r vlab-c vlab-s1 vlab-s2; do
  if ip netns list | grep -qw "$ns"; then echo "SKIP: a lab is already running ($ns exists)"; exit 77; fi
done
exec timeout 180 scripts/lab --no-build --once
