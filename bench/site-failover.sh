#!/usr/bin/env bash
# Site-health failover: when the service on one server fails, how long until (a) the router's FIB
# drops that server (its own BGP withdraw, the baseline measured in the same run) and (b) the
# other server's forwarding table stops giving it new flows (site health: the failing server's
# agent reports the service down; the other server's next query sees it).
#
# Topology (tests/e2e/bgp_lib.sh): BIRD 2 as the ToR in namespace R, ECMP route for 203.0.113.10/32
# over S1 and S2, both vaned with an exec check (healthy while a flag file exists; interval 100 ms,
# fall 3, rise 2) and site health (TCP 6081, interval 100 ms, timeout 90 ms, rise 2, fall 3).
# One trial: both servers up and in each other's table; sleep a random 0-1 s; t0; remove S1's flag;
# wait until S2's table gives S1 weight 0; restore. Measured afterwards from logs:
#   tv  S1's "health: check web/flag up -> down" (ms): the check's detection
#   t1  the first `ip monitor route` event in R after t0 without 192.0.2.11 (us)
#   ts  S2's "site: service web: server s1 weight 100 -> 0" (ms)
# Reported: tv - t0, t1 - t0, ts - t0, and ts - tv (site health's own share: the wait for S2's next
# query plus the query), ts - t1 (how much after the router the other servers catch up).
#
# Usage: bench/site-failover.sh [TRIALS]   (default 20; writes bench/site-failover-results.txt, or $OUT)
# Needs root, BIRD, a built vaned. Everything it starts is stopped by pid, its namespaces deleted.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
TRIALS=${1:-${TRIALS:-20}}
OUT=${OUT:-bench/site-failover-results.txt}
CMDLINE="bench/site-failover.sh${1:+ $1}"
E2E_NAME=sitefail
source tests/e2e/lib.sh
source tests/e2e/bgp_lib.sh
PY=$(command -v /usr/bin/python3 || command -v python3) || fail "python3 needed"
command -v bird >/dev/null || fail "BIRD not installed"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
START=$SECONDS

WEB=203.0.113.10
bgp_topology 2
for i in 1 2; do ip -n "${S[i]}" addr add "$WEB/32" dev lo; done
bird_ecmp_tor 2 "{ info, warning, error, fatal }"
start_bird "$R" "$RUN/bird.conf"
bg "$R" monitor ip -ts -o monitor route
kernel_has() { [[ $(kernel_nexthops "$R" "$WEB") == "$* " ]]; }

for i in 1 2; do
  touch "$RUN/flag-s$i"
  cat >"$RUN/s$i.conf" <<EOF
node { name: "s$i" router_id: "192.0.2.1$i" asn: 6501$i address: "192.0.2.1$i" interface: "eth0" }
neighbor { name: "tor1" address: "192.0.2.1" remote_asn: 65000 hold_time_s: 9 connect_retry_s: 1 }
service {
  name: "web"
  vip { address: "$WEB" port: 80 protocol: TCP }
  announce { prefix: "$WEB/32" }
  check { name: "flag" exec { command: "test -f $RUN/flag-s$i" } interval_ms: 100 timeout_ms: 90 rise: 2 fall: 3 jitter_pct: 0 }
}
site {
  server { name: "s1" address: "192.0.2.11" }
  server { name: "s2" address: "192.0.2.12" }
  health { port: 6081 interval_ms: 100 timeout_ms: 90 rise: 2 fall: 3 }
}
control { socket: "$RUN/s$i.sock" }
EOF
  "$VANED" --check "$RUN/s$i.conf" >/dev/null || fail "s$i config invalid"
  bg "${S[i]}" "vaned-s$i" "$VANED" --config "$RUN/s$i.conf" --log-level info
done
s1_weight_on_s2() {
  "$VANECTL" --socket "$RUN/s2.sock" -o json show site | "$PY" -c '
import json, sys
s = [x for x in json.load(sys.stdin)["site"]["servers"] if x["name"] == "s1"][0]
print(next((int(x["weight"]) for x in s["services"] if x["service"] == "web"), -1))'
}
weight_is() { [[ $(s1_weight_on_s2) == "$1" ]]; }

for ((k = 1; k <= TRIALS; k++)); do
  wait_for 30 "both next hops before trial $k" kernel_has 192.0.2.11 192.0.2.12
  wait_for 30 "s1 in s2's table before trial $k" weight_is 100
  sleep "$(printf '0.%03d' $((RANDOM % 1000)))"
  echo "$EPOCHREALTIME" >>"$RUN/trials"
  rm -f "$RUN/flag-s1"
  wait_for 20 "s2 to take s1 out (trial $k)" weight_is 0
  wait_for 20 "s1's next hop gone (trial $k)" kernel_has 192.0.2.12
  touch "$RUN/flag-s1"
done
ELAPSED=$((SECONDS - START))

"$PY" - "$RUN" "$TRIALS" <<'PY' >"$RUN/report.txt"
import sys
sys.path.insert(0, "bench")
from failover_lib import first_after, log_times, pct, route_gone_events
run, trials = sys.argv[1], int(sys.argv[2])
t0s = [float(x) for x in open(f"{run}/trials").read().split()]
route = route_gone_events(f"{run}/monitor.log")
verdicts = log_times(f"{run}/vaned-s1.log", r"health: check web/flag up -> down")
site = log_times(f"{run}/vaned-s2.log", r"site: service web: server s1 weight 100 -> 0")
rows = {"check detection tv-t0": [], "router FIB t1-t0": [], "other server's table ts-t0": [],
        "site health's share ts-tv": [], "table after FIB ts-t1": []}
for t0 in t0s:
    # ms log stamps may round to just before t0 (us)
    tv, t1, ts = (first_after(xs, t0 - 0.002, 20.0) for xs in (verdicts, route, site))
    if None in (tv, t1, ts):
        sys.exit(f"trial at {t0}: missing event (verdict {tv}, route {t1}, site {ts})")
    rows["check detection tv-t0"].append(tv - t0)
    rows["router FIB t1-t0"].append(t1 - t0)
    rows["other server's table ts-t0"].append(ts - t0)
    rows["site health's share ts-tv"].append(ts - tv)
    rows["table after FIB ts-t1"].append(ts - t1)
print(f"{'ms':30} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8} {'mean':>8}")
for name, xs in rows.items():
    ms = [1000 * x for x in xs]
    print(f"{name:30} {pct(ms,50):8.1f} {pct(ms,90):8.1f} {pct(ms,99):8.1f} {max(ms):8.1f} {sum(ms)/len(ms):8.1f}")
r = [a / b for a, b in zip(rows["other server's table ts-t0"], rows["router FIB t1-t0"])]
print(f"\nother server's table / router FIB, per trial: p50 {pct(r,50):.2f}x, p90 {pct(r,90):.2f}x, max {max(r):.2f}x")
PY
{
  echo "# vane site-health failover: $TRIALS trials; check 100 ms / fall 3, site queries 100 ms"
  echo "# command: $CMDLINE (as root); $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs"
  echo "# load average at start: $LOAD0; whole run: ${ELAPSED} s"
  cat "$RUN/report.txt"
} | tee "$OUT"
log PASS
