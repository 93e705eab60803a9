#!/usr/bin/env bash
# Detection benchmark: how long from a server going silent (every packet it sends dropped by an
# nftables rule in its own namespace: no carrier loss, TCP stays open) to its next hop leaving the
# router's kernel FIB, with BFD (100 ms x 3) and, in the same run, without (BGP hold time 9 s,
# keepalive 3 s) as the baseline.
#
# Topology (tests/e2e/bgp_lib.sh): BIRD 2 as the ToR, kernel ECMP route for 203.0.113.10/32;
# s2 is an anchor (always announcing), s1 runs BFD with BIRD (`bfd on`), s3 runs none.
# One trial: wait until the server is in the FIB and its session settled; sleep a random 0-1 s;
# t0; add the drop rule; poll `ip route` every 5 ms until the next hop is gone (t1); remove the
# rule. Reported: t1 - t0, p50/p99/min/max over the trials (the poll adds up to ~5 ms + one
# `ip` run).
#
# Usage: bench/bfd-detection.sh [TRIALS]   (default 20; writes bench/bfd-detection-results.txt,
# or $OUT). Needs root, BIRD, nft, a built vaned. Cleans up what it started, by pid.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
TRIALS=${1:-20}
OUT=${OUT:-bench/bfd-detection-results.txt}
E2E_NAME=bfd-bench
source tests/e2e/lib.sh
source tests/e2e/bgp_lib.sh
source tests/e2e/bfd_lib.sh

bgp_topology 3
cat >"$RUN/bird.conf" <<EOF
log "$RUN/bird.log" { warning, error };
router id 192.0.2.1;
protocol device { scan time 10; }
protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; merge paths on limit 16; }
protocol bfd { interface "br0" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }
template bgp srv { local as 65000; ipv4 { import all; export none; }; hold time 9; keepalive time 3; connect retry time 1; error wait time 1, 2; }
protocol bgp s1 from srv { neighbor 192.0.2.11 as 65011; bfd on; }
protocol bgp s2 from srv { neighbor 192.0.2.12 as 65012; }
protocol bgp s3 from srv { neighbor 192.0.2.13 as 65013; }
EOF
start_bird "$R" "$RUN/bird.conf"
start_vaned "${S[1]}" vaned-s1 "$(bfd_vaned_conf 1 65011 'bfd { min_rx_ms: 100 min_tx_ms: 100 multiplier: 3 }')"
start_vaned "${S[2]}" vaned-s2 "$(bfd_vaned_conf 2 65012 '')"
start_vaned "${S[3]}" vaned-s3 "$(bfd_vaned_conf 3 65013 '')"

trial() {  # trial I: one measurement for server I, printed in ms
  wait_for 60 "server $1 in the FIB" fib_has "$1"
  sleep 2  # a settled session (BFD at its fast rate)
  sleep "0.$((RANDOM % 1000))"
  LOSS_OF=$1 loss_ms drop_from "$1" on
  drop_from "$1" off
}

stats() {  # stats MS...: p50 p99 min max
  printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {
    p50 = v[int((NR - 1) * 0.50) + 1]; p99 = v[int((NR - 1) * 0.99) + 1];
    printf "p50 %d ms  p99 %d ms  min %d ms  max %d ms  (n=%d)", p50, p99, v[1], v[NR], NR }'
}

bfd=() hold=()
for ((t = 1; t <= TRIALS; t++)); do
  bfd+=("$(trial 1)")
  hold+=("$(trial 3)")
  log "trial $t: BFD ${bfd[-1]} ms, hold time ${hold[-1]} ms"
done
{
  echo "# bench/bfd-detection.sh $TRIALS: server silent (nftables drop of all its output) -> its next hop out of BIRD's kernel FIB"
  echo "# when: $(date -u +%FT%TZ); git $(git rev-parse --short HEAD)$(git diff --quiet || echo ' + working tree')"
  echo "# machine: $(nproc) vCPU, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# BIRD $(bird --version 2>&1 | awk '{print $3}'); BFD 100 ms x 3 (floor 300 ms); BGP hold 9 s, keepalive 3 s"
  echo "bfd       $(stats "${bfd[@]}")"
  echo "hold-time $(stats "${hold[@]}")"
  echo "bfd trials (ms):       ${bfd[*]}"
  echo "hold-time trials (ms): ${hold[*]}"
} | tee "$OUT"
