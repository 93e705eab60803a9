#!/usr/bin/env bash
# Site health at scale: what the all-to-all site channel costs one server in a site of N servers.
#
# For each N: one real vaned (s0, 192.0.2.1, namespace V, forwarding enabled on its veth uplink,
# XDP attached, site key) and N-1 simulated servers s1..s(N-1) in namespace P, reached over one
# veth pair. The simulated servers are bench/site_peers (one process, vane's own site codec): each
# has its own address on P's loopback, answers vaned's signed queries on port 6081 with a signed
# report (service web up 100) and queries vaned's agent every interval from its own address,
# checking the MAC, as a vaned does. Every byte on the veth pair is site traffic (plus ARP).
# Site health: interval_ms 500 (the default; HEALTH_INTERVAL), timeout 400, rise 2, fall 3.
# Addresses: the three IPv4 documentation /24s (site servers need an IPv4 `address`, and queries go
# to it), so at most 760 servers: 192.0.2.2-253, 198.51.100.1-254, 203.0.113.1-253 for the peers;
# 203.0.113.254 is vaned's VIP (a TCP check that fails: s0 reports web down, which does not change
# the work: every reply is still written and signed).
#
# Measured per N, after every peer is reachable and WARMUP s:
#   CPU   vaned's utime+stime over WINDOW s (/proc/PID/stat), % of one core
#   fds   vaned's open sockets (/proc/PID/fd, sampled every second): mean and max
#   bytes V's uplink counters over the window, in and out per second
#   RSS   VmRSS at the end of the window
#   change: TRIALS times, the first peer's service goes down (then up again); the time from the
#         change at the peer (its SIGUSR1) to vaned's log line "site: service web: server s1 weight
#         100 -> 0" (and back), confirmed by `vanectl show site` (bounded waits)
# PERF=1 also records a 10 s perf profile of vaned at the largest N (top symbols in the output).
#
# N=1 is the baseline: the same vaned and config with a site of one (site health off).
# Usage: bench/site-scale.sh [N...]   (default 1 10 20 50 200 500 760; writes bench/site-scale-results.txt,
#        or $OUT) env: WINDOW (20 s), WARMUP (5 s), TRIALS (3), HEALTH_INTERVAL (500), PERF (0)
# Needs root and a built tree (build/src/vaned, build/bench/site_peers). Each N runs in a child
# of this script with its own namespaces; everything it starts is stopped by pid and its
# namespaces deleted.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/site-scale-results.txt}
WINDOW=${WINDOW:-20}
WARMUP=${WARMUP:-5}
TRIALS=${TRIALS:-3}
HEALTH_INTERVAL=${HEALTH_INTERVAL:-500}
PERF=${PERF:-0}
PEERS_BIN=${PEERS_BIN:-$(pwd)/build/bench/site_peers}
[[ -x $PEERS_BIN ]] || { echo "site_peers not built at $PEERS_BIN" >&2; exit 1; }

if [[ ${1:-} != --one ]]; then
  SIZES=("$@")
  ((${#SIZES[@]})) || SIZES=(1 10 20 50 200 500 760)
  for n in "${SIZES[@]}"; do ((n >= 1 && n <= 760)) || { echo "N must be 1..760" >&2; exit 2; }; done
  LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
  START=$SECONDS
  rows=()
  largest=${SIZES[-1]}
  for n in "${SIZES[@]}"; do
    p=0; [[ $PERF == 1 && $n == "$largest" ]] && p=1
    row=$(PERF=$p timeout 600 "$0" --one "$n") || { echo "N=$n failed" >&2; exit 1; }
    rows+=("$row")
  done
  {
    echo "# vane site health at scale: one vaned, N-1 simulated servers (bench/site_peers), site.health interval ${HEALTH_INTERVAL} ms, timeout 400, key"
    echo "# command: PERF=$PERF WINDOW=$WINDOW bench/site-scale.sh $* (as root); $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs"
    echo "# load average at start: $LOAD0; at end: $(cut -d' ' -f1-3 /proc/loadavg); whole run: $((SECONDS - START)) s"
    echo "# window ${WINDOW} s after every peer is reachable + ${WARMUP} s; change = first peer's service down/up, ${TRIALS} times each"
    printf '%-5s %8s %8s %8s %7s %7s %10s %10s %8s %8s %8s %8s %s\n' N cpu% user% sys% sock sockmax in_B/s out_B/s RSS_MiB chg_p50 chg_max peerfail note
    printf '%s\n' "${rows[@]}" | grep -v '^#'
    printf '%s\n' "${rows[@]}" | grep '^#' || true
  } | tee "$OUT"
  exit 0
fi

# ---- one N ----
N=$2
E2E_NAME=sitescale
source tests/e2e/lib.sh
PY=$(command -v /usr/bin/python3 || command -v python3) || fail "python3 needed"
CLK_TCK=$(getconf CLK_TCK)
ulimit -n "$(ulimit -Hn)"  # vaned: a socket per query in flight and per client

peer_addr() {  # peer_addr I (1..759)
  local i=$1
  if ((i <= 252)); then echo "192.0.2.$((i + 1))"
  elif ((i <= 506)); then echo "198.51.100.$((i - 252))"
  else echo "203.0.113.$((i - 506))"; fi
}

ns_add V v
ns_add P p
ip link add "sv$E2E_ID" netns "$V" type veth peer name "sp$E2E_ID" netns "$P"
ip -n "$V" link set "sv$E2E_ID" name eth0
ip -n "$P" link set "sp$E2E_ID" name eth0
ip -n "$V" addr add 192.0.2.1/32 dev eth0
ip -n "$P" addr add 192.0.2.254/32 dev eth0
ip -n "$V" link set eth0 up
ip -n "$P" link set eth0 up
ip -n "$V" route add 192.0.2.254/32 dev eth0
for net in 192.0.2.0/24 198.51.100.0/24 203.0.113.0/24; do ip -n "$V" route add "$net" via 192.0.2.254; done
ip -n "$P" route add 192.0.2.1/32 dev eth0
ip -n "$V" addr add 203.0.113.254/32 dev lo
for ((i = 1; i < N; i++)); do
  echo "addr add $(peer_addr "$i")/32 dev lo"
  echo "s$i $(peer_addr "$i")" >>"$RUN/peers"
done >"$RUN/addrs.batch"
ip -n "$P" -batch "$RUN/addrs.batch"

od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$RUN/site.key"
chmod 600 "$RUN/site.key"
CONF=$RUN/vaned.conf
{
  echo 'node { name: "s0" router_id: "192.0.2.1" asn: 65001 address: "192.0.2.1" interface: "eth0" }'
  echo 'service { name: "web" vip { address: "203.0.113.254" port: 80 protocol: TCP }'
  echo '  announce { prefix: "203.0.113.254/32" }'
  echo '  check { name: "tcp" tcp { port: 80 } interval_ms: 1000 timeout_ms: 500 } }'
  echo 'site {'
  echo '  server { name: "s0" address: "192.0.2.1" }'
  for ((i = 1; i < N; i++)); do echo "  server { name: \"s$i\" address: \"$(peer_addr "$i")\" }"; done
  echo "  health { port: 6081 interval_ms: $HEALTH_INTERVAL }"
  echo '  key_file: "site.key"'
  echo '}'
  echo 'forwarding { enabled: true gue_port: 6080 hash_seed: 2654435761 }'
  echo "control { socket: \"$RUN/vaned.sock\" }"
  echo 'log { level: "info" }'
} >"$CONF"
"$VANED" --check "$CONF" >/dev/null || fail "config invalid"

bg "$V" vaned sh -c 'mount -t bpf bpf /sys/fs/bpf && exec "$0" "$@"' "$VANED" --config "$CONF" --log-level info
VPID=$LAST_PID
wait_for 20 "vaned's control socket" test -S "$RUN/vaned.sock"
bg "$P" peers "$PEERS_BIN" --peers "$RUN/peers" --target 192.0.2.1 --name s0 --key "$RUN/site.key" \
  --interval-ms "$HEALTH_INTERVAL"
PPID_=$LAST_PID

site_json() { "$VANECTL" --socket "$RUN/vaned.sock" -o json show site; }
reachable() {
  site_json | "$PY" -c '
import json, sys
print(sum(1 for s in json.load(sys.stdin)["site"]["servers"] if s.get("reach") == "reachable"))'
}
all_reachable() { [[ $(reachable) == $((N - 1)) ]]; }
s1_weight() {
  site_json | "$PY" -c '
import json, sys
s = [x for x in json.load(sys.stdin)["site"]["servers"] if x["name"] == "s1"][0]
print(next((int(x.get("weight", 0)) for x in s.get("services", []) if x["service"] == "web"), -1))'
}
weight_is() { [[ $(s1_weight) == "$1" ]]; }
wait_for 60 "all $((N - 1)) peers reachable" all_reachable
((N == 1)) || wait_for 10 "s1 at weight 100" weight_is 100
sleep "$WARMUP"

ifstat() { ip netns exec "$V" cat /sys/class/net/eth0/statistics/rx_bytes /sys/class/net/eth0/statistics/tx_bytes | paste -sd' '; }
cpu() { awk '{ print $14, $15 }' "/proc/$VPID/stat"; }
socks() { local n=0 f; for f in /proc/$VPID/fd/*; do [[ $(readlink "$f" 2>/dev/null) == socket:* ]] && n=$((n + 1)); done; echo $n; }
peer_stats() { grep -E ' (stats|down|up|ready) ' "$RUN/peers.log" | tail -1; }

read -r rx0 tx0 <<<"$(ifstat)"
read -r u0 s0 <<<"$(cpu)"
P0=$(peer_stats)
t0=$EPOCHREALTIME
sock_sum=0 sock_max=0 samples=0
for ((k = 0; k < WINDOW; k++)); do
  sleep 1
  x=$(socks); sock_sum=$((sock_sum + x)); samples=$((samples + 1)); ((x > sock_max)) && sock_max=$x
done
t1=$EPOCHREALTIME
read -r u1 s1 <<<"$(cpu)"
read -r rx1 tx1 <<<"$(ifstat)"
sleep 5.2  # the peers' next stats line covers the window
P1=$(peer_stats)
RSS=$(awk '/^VmRSS:/ { print $2 }' "/proc/$VPID/status")

PERFTXT=""
if [[ $PERF == 1 ]] && command -v perf >/dev/null; then
  perf record -q -F 499 -g -p "$VPID" -o "$RUN/perf.data" -- sleep 10 >/dev/null 2>&1 || true
  PERFTXT=$({ perf report -q -i "$RUN/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null | head -8
    perf report -q -i "$RUN/perf.data" --no-children --sort dso,sym --percent-limit 0.7 --stdio -g none 2>/dev/null |
      head -30; } | grep -v '^$' | sed 's/^/# perf N='"$N"': /') || true
fi

# The change: TRIALS times down then up; t of each SIGUSR1 is recorded, the log gives the table's.
: >"$RUN/changes"
for ((k = 1; k <= TRIALS && N > 1; k++)); do
  for to in 0 100; do
    sleep "$(printf '0.%03d' $((RANDOM % 1000)))"
    echo "$EPOCHREALTIME $to" >>"$RUN/changes"
    kill -USR1 "$PPID_"
    wait_for 10 "s1 at weight $to (trial $k)" weight_is "$to"
  done
done

"$PY" - "$RUN" "$N" "$CLK_TCK" "$t0" "$t1" "$u0" "$s0" "$u1" "$s1" "$rx0" "$tx0" "$rx1" "$tx1" \
  "$sock_sum" "$samples" "$sock_max" "$RSS" "$P0" "$P1" <<'PY'
import sys, re
sys.path.insert(0, "bench")
from failover_lib import first_after, log_times, pct
(run, n, tck, t0, t1, u0, s0, u1, s1, rx0, tx0, rx1, tx1, ssum, samples, smax, rss, p0, p1) = sys.argv[1:]
n, tck = int(n), int(tck)
dt = float(t1) - float(t0)
user = (int(u1) - int(u0)) / tck / dt * 100
sys_ = (int(s1) - int(s0)) / tck / dt * 100
rin = (int(rx1) - int(rx0)) / dt
rout = (int(tx1) - int(tx0)) / dt
def stats(line):
    f = line.split()
    return {f[i]: int(f[i + 1]) for i in range(2, len(f) - 1, 2) if f[i + 1].isdigit()}
a, b = stats(p0), stats(p1)
q = b.get("queries", 0) - a.get("queries", 0)
fails = sum(b.get(k, 0) - a.get(k, 0) for k in ("failed", "refused"))
lat = []
downs = log_times(f"{run}/vaned.log", r"site: service web: server s1 weight 100 -> 0")
ups = log_times(f"{run}/vaned.log", r"site: service web: server s1 weight 0 -> 100")
for line in open(f"{run}/changes"):
    t, to = line.split()
    ts = first_after(downs if to == "0" else ups, float(t) - 0.002, 10.0)
    if ts is None:
        sys.exit(f"N={n}: no table change logged after the change at {t}")
    lat.append(1000 * (ts - float(t)))
lat = lat or [float("nan")]
vlog = open(f"{run}/vaned.log").read()
refused = len(re.findall(r"refus", vlog))
print(f"{n:<5} {user + sys_:8.2f} {user:8.2f} {sys_:8.2f} {int(ssum) / int(samples):7.1f} {int(smax):7d} "
      f"{rin:10.0f} {rout:10.0f} {int(rss) / 1024:8.1f} {pct(lat, 50):8.0f} {max(lat):8.0f} {fails:4d}/{q:<5d} "
      f"lat_ms={','.join(f'{x:.0f}' for x in lat)}")
PY
[[ -n $PERFTXT ]] && echo "$PERFTXT"
exit 0
