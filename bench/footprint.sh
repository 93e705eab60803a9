#!/usr/bin/env bash
# vaned's idle footprint with a large config: RSS and CPU while nothing changes.
#
# Config (generated): node s1 on a veth uplink, 10 passive neighbours that never connect
# (192.0.2.1-10), 1,000 services each with one VIP (on lo, nothing listening) and one TCP check
# every 1 s (jitter 10%) on the VIP's port: every probe is refused at once (RST), so every check
# settles on "down" and stays there. FAMILY=4 (default): 500 IPv4 addresses with two ports each,
# a /32 per address; FAMILY=6: 1,000 IPv6 addresses (2001:db8:f::1-3e8), a /128 each. (With
# 1,000 IPv6 addresses on lo the kernel's source address selection walks all of them on every
# connect: that cost is the kernel's, and shows in FAMILY=6.)
# Once every check has its first verdict (the time to that, from the control socket's appearance,
# and the CPU used until then are reported too) and WARMUP more seconds, CPU (utime+stime from /proc/PID/stat) and RSS (VmRSS,
# and VmHWM at the end) are sampled over SECONDS.
#
# With BASELINE_VANED set (a vaned built from another tree, e.g. main), it is measured first in the
# same run, on the same config, and the report gives the ratio.
#
# Usage: bench/footprint.sh [SECONDS]   (default 30; writes bench/footprint-results.txt, or $OUT)
#   env: VANED (default build/src/vaned), BASELINE_VANED, SERVICES (1000), NEIGHBORS (10),
#        WARMUP (5 s), FAMILY (4)
# Needs root (network namespace). Everything it starts is stopped by pid, its namespace deleted.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-${SECS:-30}}
OUT=${OUT:-bench/footprint-results.txt}
SERVICES=${SERVICES:-1000}
NEIGHBORS=${NEIGHBORS:-10}
WARMUP=${WARMUP:-5}
FAMILY=${FAMILY:-4}
E2E_NAME=footprint
source tests/e2e/lib.sh
((SERVICES >= 1 && SERVICES <= 1000)) || fail "SERVICES must be 1..1000"
[[ $FAMILY == 4 || $FAMILY == 6 ]] || fail "FAMILY must be 4 or 6"
((NEIGHBORS >= 0 && NEIGHBORS <= 200)) || fail "NEIGHBORS must be 0..200"
CLK_TCK=$(getconf CLK_TCK)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

ns_add N fp
ip -n "$N" link add eth0 type veth peer name eth0p  # no dummy module here
ip -n "$N" link set eth0p up
ip -n "$N" addr add 192.0.2.11/24 dev eth0
ip -n "$N" link set eth0 up
# vip I: "ADDRESS PORT PREFIX". IPv4: 500 addresses (198.51.100.1-250, 203.0.113.1-250), two
# ports each (80, 81); IPv6: one address each.
vip() {
  local i=$1 k=$(( ($1 - 1) % 500 ))
  if [[ $FAMILY == 6 ]]; then printf '2001:db8:f::%x 80 2001:db8:f::%x/128' "$i" "$i"; return; fi
  local a; ((k < 250)) && a=198.51.100.$((k + 1)) || a=203.0.113.$((k - 249))
  printf '%s %d %s/32' "$a" $((80 + (i - 1) / 500)) "$a"
}
{
  for ((i = 1; i <= SERVICES; i++)); do
    read -r a _ _ <<<"$(vip "$i")"
    [[ $FAMILY == 6 ]] && echo "addr add $a/128 dev lo" || { ((i <= 500)) && echo "addr add $a/32 dev lo"; }
  done
} >"$RUN/addrs.batch"
ip -n "$N" -batch "$RUN/addrs.batch"

CONF=$RUN/vaned.conf
{
  echo 'node { name: "s1" router_id: "192.0.2.11" asn: 65011 address: "192.0.2.11" interface: "eth0" }'
  for ((i = 1; i <= NEIGHBORS; i++)); do
    printf 'neighbor { name: "tor%d" address: "192.0.2.%d" remote_asn: 65000 passive: true }\n' "$i" $((i < 11 ? i : i + 100))
  done
  for ((i = 1; i <= SERVICES; i++)); do
    read -r a port prefix <<<"$(vip "$i")"
    printf 'service { name: "svc%d" vip { address: "%s" port: %d protocol: TCP }' "$i" "$a" "$port"
    printf ' announce { prefix: "%s" }' "$prefix"
    printf ' check { name: "tcp" tcp { port: %d } interval_ms: 1000 timeout_ms: 500 } }\n' "$port"
  done
  echo 'site { server { name: "s1" address: "192.0.2.11" } }'
  echo "control { socket: \"$RUN/vaned.sock\" }"
  echo 'log { level: "info" }'
} >"$CONF"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
sys_ticks() { awk '{ print $15 }' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# measure LABEL BINARY: prints "LABEL cpu_pct rss_mib hwm_mib"
measure() {
  local label=$1 bin=$2 pid t0 t1 c0 c1 rss_max=0 r i
  "$bin" --check "$CONF" >/dev/null || fail "$label: config refused by $bin --check"
  rm -f "$RUN/vaned.sock" "$RUN/vaned.sock.running"
  bg "$N" "vaned-$label" "$bin" --config "$CONF"
  pid=$LAST_PID
  wait_for 30 "$label control socket" test -S "$RUN/vaned.sock"
  t0=${EPOCHREALTIME/./}
  all_down() { (($(grep -c 'unknown -> down' "$RUN/vaned-$label.log") >= SERVICES)); }
  wait_for 300 "$label: every check's first verdict" all_down
  local settle_ms=$(( (${EPOCHREALTIME/./} - t0) / 1000 )) settle_cpu; settle_cpu=$(cpu_ticks "$pid")
  sleep "$WARMUP"
  kill -0 "$pid" || fail "$label: vaned exited"
  c0=$(cpu_ticks "$pid")
  local s0; s0=$(sys_ticks "$pid")
  t0=${EPOCHREALTIME/./}
  for ((i = 0; i < SECS; i++)); do
    sleep 1
    r=$(rss_kib "$pid")
    ((r > rss_max)) && rss_max=$r
  done
  c1=$(cpu_ticks "$pid")
  local s1; s1=$(sys_ticks "$pid")
  t1=${EPOCHREALTIME/./}
  local hwm; hwm=$(hwm_kib "$pid")
  local downs; downs=$(grep -c 'unknown -> down' "$RUN/vaned-$label.log" || true)
  stop_pid "$pid"
  awk -v l="$label" -v c=$((c1 - c0)) -v hz="$CLK_TCK" -v us=$((t1 - t0)) -v r="$rss_max" -v h="$hwm" -v d="$downs" \
    -v sm="$settle_ms" -v sc="$settle_cpu" -v sy=$((s1 - s0)) \
    'BEGIN { printf "%-10s idle cpu %6.2f%% of a core (kernel %5.2f%%)   rss max %6.1f MiB   peak %6.1f MiB   checks down %d   start-up to every verdict %.1f s (cpu %.2f s)\n", l, 100 * c / hz / (us / 1e6), 100 * sy / hz / (us / 1e6), r / 1024, h / 1024, d, sm / 1000, sc / hz }'
}

{
  echo "# bench/footprint.sh $SECS  ($(date -u +%FT%TZ), $(uname -r), $(nproc) CPUs, load before: $LOAD0)"
  echo "# config: IPv$FAMILY, $SERVICES services/VIPs, $SERVICES TCP checks at 1 s (refused at once), $NEIGHBORS passive absent neighbours; warm-up ${WARMUP}s, sampled ${SECS}s"
  [[ -n ${BASELINE_VANED:-} ]] && measure baseline "$BASELINE_VANED"
  measure vaned "$VANED"
  echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT"
