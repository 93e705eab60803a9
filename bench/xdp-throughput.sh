#!/usr/bin/env bash
# Packets per second through a real native XDP attach: bench/xdp_trafficgen sends frames out of a
# veth (BPF_PROG_RUN with live frames) into namespace D, where vaned's forwarder is attached
# natively to the other end (xd). Throughput is what xd's XDP program took in (its rx_packets)
# over the generator's sending time.
#
#   G: xg 192.0.2.1/24 (drop sink)  <-- veth -->  D: xd 192.0.2.11/24, vaned s1 (forwarding on)
#   site: s1 192.0.2.11 (weight 0: every bucket's first hop is another server), s2 192.0.2.12,
#   s3 192.0.2.13 (both permanent neighbours on xd, MAC of xg: GUE to them leaves by XDP_TX)
#
# Cases (frames from G to D, 16,384 flows by the source port):
#   reflector    baseline: an XDP_TX reflector on xd (swaps MACs), TCP ACK to the VIP
#   pass floor   baseline: an XDP_PASS program on xd, the non-VIP frame (pass_floor) and the
#                plain TCP SYN that GUE decap hands the kernel (pass_floor_syn)
#   non-VIP      vaned: UDP to 192.0.2.11:9 (not a VIP): XDP_PASS to the kernel
#   encap + TX   vaned: TCP ACK to VIP 203.0.113.10:80: GUE to s2/s3, XDP_TX
#   GUE decap    vaned: GUE from s2 (hops s1, s3) with an inner SYN: decapsulated, XDP_PASS
#   GUE on       vaned: GUE from s2 (hops s1, s3) with an inner ACK no socket owns: sent on to s3,
#                XDP_TX
# Frames passed to the kernel are dropped there (bad inner checksum from the varied port, or
# no socket), so the pass cases include the kernel's receive path up to that drop.
#
# Two figures per case: Mpps delivered (what xd's program took in per second) and ns per packet
# on the forwarder's core (CPU time of xd's NAPI thread per frame, so including veth's receive
# and transmit and the drop sink's softirq, which runs in that thread), whose inverse is the
# Mpps one core would move saturated. On this VM the delivered rate is limited by the wake-up of
# the NAPI thread on the other CPU (it idles ~half the time while the 256-frame veth ring
# overflows), so the ratios are taken on ns/pkt, both ends measured the same way.
#
# CPUs: the generator runs on GEN_CPU (taskset); xd's NAPI is threaded and its kthread pinned to
# DUT_CPU, so the forwarder (and everything it does) runs on that one core. xg's NAPI (the drop
# sink for XDP_TX'd frames) is scheduled from that thread and runs as its softirq, on the same
# core, at the same cost for every TX case, baseline included. (SINK_CPU=gen threads it and pins
# it to GEN_CPU above the generator instead: with 2 CPUs the generator then no longer outpaces
# the forwarder.) The generator and the NAPI threads run SCHED_FIFO (priority PRIO, default
# 20): on a shared machine a kthread at nice 0 gets a fraction of its core, and the figure would
# measure the other load. (The kernel's RT throttling still leaves 5% of each CPU to the rest.)
#
# CASES="reflector encap_tx" runs only those cases (the counter check then needs all four of
# vaned's: it is skipped).
# ONE_FLOW=1 sends a single flow (no varied port: every frame hits the same bucket and cache lines).
# PERF_CASES="encap_tx reflector" records perf profiles of the forwarder's CPU for those cases
# (E2E_KEEP=1 keeps them in the run folder).
# Usage: bench/xdp-throughput.sh [SECONDS [RUNS]]  (default 5 s, 3 runs, cases alternating in
# each run; prints the median Mpps per case and the ratios). Needs root and a built tree
# (BUILD=build). Writes bench/xdp-throughput-results.txt (or $OUT).
set -Eeuo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
RUNS=${2:-3}
GEN_CPU=${GEN_CPU:-1}
DUT_CPU=${DUT_CPU:-0}
PRIO=${PRIO:-20}
BUILD=${BUILD:-build}
OUT=${OUT:-bench/xdp-throughput-results.txt}
GEN=$(pwd)/$BUILD/bench/xdp_trafficgen
export VANED=${VANED:-$(pwd)/$BUILD/src/vaned}
export VANECTL=${VANECTL:-$(pwd)/$BUILD/src/vanectl}
E2E_NAME=xdptput
source tests/e2e/lib.sh
PY=/usr/bin/python3
[[ -x $GEN ]] || fail "no $GEN (cmake --build $BUILD --target xdp_trafficgen)"
"$PY" -c 'import scapy' 2>/dev/null || fail "$PY needs scapy (python3-scapy)"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

ns_add G g
ns_add D d
XG=xg$E2E_ID XD=xd$E2E_ID
link "$G" "$XG" 192.0.2.1/24 "$D" "$XD" 192.0.2.11/24
MAC_G=$(ip -n "$G" -j link show "$XG" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
MAC_D=$(ip -n "$D" -j link show "$XD" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
for a in 192.0.2.1 192.0.2.12 192.0.2.13; do ip -n "$D" neigh replace "$a" lladdr "$MAC_G" dev "$XD" nud permanent; done
ip -n "$D" route add 198.51.100.0/24 via 192.0.2.1
ip -n "$D" addr add 203.0.113.10/32 dev lo
# The sink on the generator's end: XDP_TX'd frames from xd are delivered only to an end with XDP.
ip netns exec "$G" "$GEN" attach "$XG" drop || fail "cannot attach the drop sink to $XG"

# ---- frames --------------------------------------------------------------------------------------
# Offsets of the source port the generator varies: plain TCP/UDP 34; inside GUE with two hops
# 14 + 20 + 8 + 4 + 4 + 8 + 20 = 78.
"$PY" - "$RUN" "$MAC_G" "$MAC_D" <<'PY' || fail "cannot craft the frames"
import socket, struct, sys
from scapy.all import Ether, IP, UDP, TCP, Raw
run, src, dst = sys.argv[1:4]
def gue(inner, hops, next_hop):
    g = struct.pack("!BBH", (4 + 4 * len(hops)) // 4, 4, 0)
    d = struct.pack("!BBBB", 0, 0, next_hop, len(hops)) + b"".join(socket.inet_aton(h) for h in hops)
    return (IP(src="192.0.2.12", dst="192.0.2.11") / UDP(sport=50000, dport=6080, chksum=0) /
            Raw(g + d + bytes(inner)))
frames = {
    "nonvip": IP(src="198.51.100.10", dst="192.0.2.11") / UDP(sport=1024, dport=9, chksum=0) / Raw(b"x" * 18),
    "vip": IP(src="198.51.100.10", dst="203.0.113.10") / TCP(sport=1024, dport=80, flags="A", seq=1, ack=1),
    "syn": IP(src="198.51.100.10", dst="203.0.113.10") / TCP(sport=1024, dport=80, flags="S"),
    "gue_syn": gue(IP(src="198.51.100.10", dst="203.0.113.10") / TCP(sport=1024, dport=80, flags="S"),
                   ["192.0.2.11", "192.0.2.13"], 1),
    "gue_ack": gue(IP(src="198.51.100.10", dst="203.0.113.10") / TCP(sport=1024, dport=80, flags="A", seq=1, ack=1),
                   ["192.0.2.11", "192.0.2.13"], 1),
}
for name, l3 in frames.items():
    b = bytes(Ether(src=src, dst=dst) / l3)
    open("%s/%s.frame" % (run, name), "wb").write(b + b"\0" * max(0, 60 - len(b)))
PY

# ---- vaned ---------------------------------------------------------------------------------------
cat >"$RUN/s1.conf" <<EOF
node { name: "s1" router_id: "192.0.2.11" asn: 65011 address: "192.0.2.11" interface: "$XD" }
service { name: "web" vip { address: "203.0.113.10" port: 80 protocol: TCP } announce { prefix: "203.0.113.10/32" } }
site {
  server { name: "s1" address: "192.0.2.11" weight: 0 }
  server { name: "s2" address: "192.0.2.12" weight: 100 }
  server { name: "s3" address: "192.0.2.13" weight: 100 }
  health { port: 0 }
}
forwarding { enabled: true gue_port: 6080 hash_seed: 2654435761 }
bgp { listen_port: 0 }
control { socket: "$RUN/s1.sock" }
EOF
"$VANED" --check "$RUN/s1.conf" >/dev/null || fail "config invalid: $("$VANED" --check "$RUN/s1.conf" 2>&1)"
VPID=
vaned_start() {
  start_vaned "$D" vaned "$RUN/s1.conf"
  VPID=$VANED_PID
  wait_for 20 "vaned's forwarder on $XD" grep -q "forwarding: XDP forwarder native on $XD" "$RUN/vaned.log"
}
vaned_stop() {
  stop_pid "$VPID"
  wait "$VPID" 2>/dev/null || true
  VPID=
}

# ---- measuring -----------------------------------------------------------------------------------
# Threaded NAPI on both ends, each kthread pinned (veth makes its NAPI when XDP is attached, so
# this follows every attach).
pin_napi() {  # pin_napi NS DEV CPU PRIO
  local pid=""
  ip netns exec "$1" sh -c "echo 1 > /sys/class/net/$2/threaded"
  for _ in $(seq 50); do
    pid=$(ps -e -o pid=,comm= | awk -v d="napi/$2-" 'index($2, d) == 1 { print $1 }')
    [[ -n $pid ]] && break
    sleep 0.1
  done
  [[ -n $pid ]] || fail "no NAPI thread for $2"
  for p in $pid; do taskset -pc "$3" "$p" >/dev/null && chrt -f -p "$4" "$p"; done
  NAPI_PID=$pid
}
cpu_ms() { awk '$1 == "se.sum_exec_runtime" { print $3 }' "/proc/$1/sched"; }  # the thread's CPU time
rx_packets() { ip -n "$D" -s -j link show "$XD" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["rx"]["packets"])'; }
measure() {  # measure CASE FRAME PORT_OFFSET -> appends "CASE Mpps offered_Mpps" to $RUN/raw
  [[ -z ${CASES:-} || " $CASES " == *" $1 "* ]] || return 0
  pin_napi "$D" "$XD" "$DUT_CPU" "$PRIO"
  local dut=$NAPI_PID
  if [[ ${SINK_CPU:-dut} == gen ]]; then
    # Above the generator: the sink must drain xg's ring at once, or the forwarder's XDP_TX meets
    # a full ring and pays for dropping (page returns contending with the generator's CPU).
    pin_napi "$G" "$XG" "$GEN_CPU" "$((PRIO + 5))"
  fi
  local before after out secs sent run0 run1
  before=$(rx_packets)
  run0=$(cpu_ms "$dut")
  if [[ " ${PERF_CASES:-} " == *" $1 "* ]] && command -v perf >/dev/null; then
    # perf record of the forwarder's CPU during this case: $RUN/perf.CASE.data (E2E_KEEP=1 keeps it)
    (perf record -q -C "$DUT_CPU" -g -o "$RUN/perf.$1.data" -- sleep "$(("${SECS%.*}" > 2 ? "${SECS%.*}" - 1 : 1))" >/dev/null 2>&1) &
  fi
  out=$(ip netns exec "$G" chrt -f "$PRIO" taskset -c "$GEN_CPU" "$GEN" send "$XG" "$SECS" "$RUN/$2.frame" \
    "$([[ ${ONE_FLOW:-} ]] && echo 0 || echo "$3")")
  run1=$(cpu_ms "$dut")
  after=$(rx_packets)
  read -r sent secs < <(awk '{ print $2, $5 }' <<<"$out")
  "$PY" -c '
import sys
a, b, s, n, c0, c1 = map(float, sys.argv[1:7])
print("%s %.3f %.3f %.1f" % (sys.argv[7], (b - a) / s / 1e6, n / s / 1e6, (c1 - c0) * 1e6 / (b - a)))' \
    "$before" "$after" "$secs" "$sent" "$run0" "$run1" "$1" | tee -a "$RUN/raw" >&2
}
baseline() {  # baseline PROG CASE FRAME PORT_OFFSET
  ip netns exec "$D" "$GEN" attach "$XD" "$1" || fail "cannot attach $1 to $XD"
  measure "$2" "$3" "$4"
  ip netns exec "$D" "$GEN" detach "$XD"
}
counters() { "$VANECTL" --socket "$RUN/s1.sock" -o json show forwarding; }

log "generator on CPU $GEN_CPU, forwarder's NAPI on CPU $DUT_CPU; $RUNS runs of ${SECS}s per case"
for ((r = 1; r <= RUNS; r++)); do
  baseline reflect reflector vip 34
  baseline pass pass_floor nonvip 34
  baseline pass pass_floor_syn syn 34
  vaned_start
  measure nonvip_pass nonvip 34
  measure encap_tx vip 34
  measure gue_decap_pass gue_syn 78
  measure gue_on_tx gue_ack 78
  ((r == RUNS)) && counters >"$RUN/counters.json"
  vaned_stop
done

# The forwarder did what each case says (counters of the last run).
[[ -n ${CASES:-} ]] || "$PY" - "$RUN/counters.json" <<'PY' || fail "vaned's counters do not match the cases"
import json, sys
rows = json.load(open(sys.argv[1]))["forwarding"]["vips"]
vip = next(r["packets"] for r in rows if r["vip"] == "203.0.113.10")
glob = next(r["packets"] for r in rows if r["vip"] == "all")
get = lambda d, k: int(d.get(k, 0))
print("counters: vip forwarded %d, errors %d; all passed %d, decap_syn %d, redirected %d, gue_malformed %d, errors %d"
      % (get(vip, "forwarded"), get(vip, "errors"), get(glob, "passed"), get(glob, "decap_syn"),
         get(glob, "redirected"), get(glob, "gue_malformed"), get(glob, "errors")), file=sys.stderr)
assert get(vip, "forwarded") > 0 and get(glob, "passed") > 0 and get(glob, "decap_syn") > 0 and get(glob, "redirected") > 0
assert get(vip, "errors") == 0 and get(glob, "errors") == 0 and get(glob, "gue_malformed") == 0
PY

{
  echo "# bench/xdp-throughput.sh $SECS $RUNS  $(date -u +%FT%TZ)"
  echo "# $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) CPUs;" \
    "load average before: $LOAD0, after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# generator CPU $GEN_CPU, forwarder NAPI CPU $DUT_CPU; Mpps = frames xd's XDP program took in / s;" \
    "ns/pkt = CPU time of xd's NAPI thread / those frames; Mpps/core = 1000 / ns/pkt"
  "$PY" - "$RUN/raw" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    c, got, offered, ns = line.split()
    runs.setdefault(c, []).append((float(got), float(offered), float(ns)))
med = lambda v, k: statistics.median(x[k] for x in v)
print("%-15s %7s %7s %8s %9s  %s" % ("case", "Mpps", "offered", "ns/pkt", "Mpps/core", "ratio (median of the runs' ns/pkt ratios) and runs (Mpps/ns)"))
for c, v in runs.items():
    base = "pass_floor_syn" if c == "gue_decap_pass" else "pass_floor" if "pass" in c else "reflector"
    # per run: the case against the baseline measured just before it (the load drifts)
    ratio = "" if c.startswith(("pass_floor", "reflector")) or base not in runs else \
        "%.2fx %s; " % (statistics.median(b[2] / x[2] for b, x in zip(runs[base], v)), base)
    print("%-15s %7.3f %7.3f %8.1f %9.3f  %s%s" % (c, med(v, 0), med(v, 1), med(v, 2), 1000 / med(v, 2), ratio,
                                                  " ".join("%.3f/%.0f" % (x[0], x[2]) for x in v)))
PY
} | tee "$OUT"
