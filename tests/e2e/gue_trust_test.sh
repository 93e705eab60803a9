#!/usr/bin/env bash
# What the GUE path trusts, end to end, on real veths with native XDP:
#
#   client C 198.51.100.10, 2001:db8:c::10 -- r-c | router R (BIRD, ECMP) | br0 -- s1 s2 s3
#   third host T 198.51.100.130             -- r-t |                        (192.0.2.11-13,
#                                                                             2001:db8::11-13)
#   servers: vaned with BGP to R, forwarding on; VIP 203.0.113.10 (TCP 80 and UDP 5300) on lo,
#   a TCP server on VIP:80, and on every server a UDP listener that counts every datagram
#   delivered to VIP:5300 and to its own fabric addresses (port 5301).
#
# From the client (outside the site), crafted GUE (scapy) to s1's fabric address: an inner packet
# to the VIP with a spoofed inner source, inner packets to fabric addresses, hop lists pointing at
# the client and at the third host; over IPv4 and IPv6. First with the client's own outer source
# (refused: gue_bad_source), then with the outer source spoofed as s2, which R lets through (it has
# no uRPF here, as a fabric without source filtering would): refused by the inner destination
# (gue_bad_inner) and the hop list (gue_bad_hop). Checks:
#  (a) the site's own traffic works before and after: TCP connections to the VIP (some forwarded by
#      GUE between the servers) and UDP datagrams to the VIP all arrive;
#  (b) nothing crafted is delivered: every UDP listener on every server counts exactly what the
#      client legitimately sent, nothing more;
#  (c) nothing is relayed: captures on the client and the third host see no GUE from the site
#      (a control datagram from s1 shows that the capture would see one);
#  (d) each refusal is counted under its reason, exactly, in `vanectl -o json show forwarding` and
#      on the metrics endpoint.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bgp_lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3   # Debian's, with scapy; not a pyenv shim
BUILD=$(cd "$(dirname "$VANED")/.." && pwd)
XDP_PASS_OBJ=${XDP_PASS_OBJ:-$BUILD/bpf/xdp_pass.bpf.o}
VIP=203.0.113.10
CLIENT=198.51.100.10
CLIENT6=2001:db8:c::10
THIRD=198.51.100.130
SPOOF=198.51.100.200   # an inner source nobody has
N=5                    # copies of each crafted packet

[[ -x $PY ]] || skip "needs $PY"
"$PY" -c 'import scapy.all' 2>/dev/null || skip "needs python3-scapy for $PY"
command -v bird >/dev/null || skip "needs bird"
command -v tcpdump >/dev/null || skip "needs tcpdump"
[[ -f $XDP_PASS_OBJ ]] || fail "XDP_PASS object not found at $XDP_PASS_OBJ (build the bpf targets)"
[[ -x $VANECTL ]] || fail "vanectl not found at $VANECTL"

# ---- topology ------------------------------------------------------------------------------------
bgp_topology 3
ns_add C c
ns_add T t
link "$C" eth0 "$CLIENT/25" "$R" r-c 198.51.100.1/25
link "$T" eth0 "$THIRD/25" "$R" r-t 198.51.100.129/25
ip -n "$C" addr add "$CLIENT6/64" dev eth0 nodad
ip -n "$R" addr add 2001:db8:c::1/64 dev r-c nodad
ip -n "$C" route add default via 198.51.100.1
ip -n "$C" -6 route add default via 2001:db8:c::1
ip -n "$T" route add default via 198.51.100.129
# R forwards spoofed sources: no uRPF on its client port (docs/forwarding.md says why a real fabric
# must have it). The redirector must hold on its own.
ip netns exec "$R" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.r-c.rp_filter=0
ip netns exec "$R" sysctl -qw net.ipv4.fib_multipath_hash_policy=1
ip netns exec "$C" sysctl -qw net.core.txrehash=0
ip netns exec "$C" "$PY" "$VANE_SOURCE_DIR/scripts/lib/tx-csum-off" eth0 || fail "cannot turn TX checksum offload off on the client"
for i in 1 2 3; do
  ip -n "${S[i]}" route add default via 192.0.2.1
  ip -n "${S[i]}" -6 route add default via 2001:db8::1
  ip -n "${S[i]}" addr add "$VIP/32" dev lo
  # XDP_TX'd frames from a server's eth0 reach the router only if this end runs XDP too.
  ip -n "$R" link set dev "r-s$i" xdpdrv obj "$XDP_PASS_OBJ" sec xdp || fail "XDP_PASS on r-s$i"
done

bird_ecmp_tor 3
start_bird "$R" "$RUN/bird.conf"

# ---- servers -------------------------------------------------------------------------------------
for i in 1 2 3; do
  cat >"$RUN/s$i.conf" <<EOF
node { name: "s$i" router_id: "192.0.2.1$i" asn: 6501$i address: "192.0.2.1$i" address6: "2001:db8::1$i" interface: "eth0" }
neighbor { name: "tor" address: "192.0.2.1" remote_asn: 65000 hold_time_s: 9 connect_retry_s: 1 }
service {
  name: "web"
  vip { address: "$VIP" port: 80 protocol: TCP }
  vip { address: "$VIP" port: 5300 protocol: UDP }
  announce { prefix: "$VIP/32" }
  check { name: "web" tcp { port: 80 } interval_ms: 200 timeout_ms: 150 rise: 2 fall: 2 }
}
site {
  server { name: "s1" address: "192.0.2.11" address6: "2001:db8::11" }
  server { name: "s2" address: "192.0.2.12" address6: "2001:db8::12" }
  server { name: "s3" address: "192.0.2.13" address6: "2001:db8::13" }
}
forwarding { enabled: true gue_port: 6080 hash_seed: 2654435761 }
control { socket: "$RUN/s$i.sock" }
metrics { listen: "127.0.0.1:9180" }
EOF
  "$VANED" --check "$RUN/s$i.conf" >/dev/null || fail "s$i config invalid: $("$VANED" --check "$RUN/s$i.conf" 2>&1)"
  bg "${S[i]}" "tcp-s$i" "$PY" "$HERE/xdp_server.py" "s$i" "$VIP:80"
  bg "${S[i]}" "udp-s$i" "$PY" "$HERE/udp_counter.py" "$VIP:5300" "192.0.2.1$i:5301" "[2001:db8::1$i]:5301"
done
for i in 1 2 3; do
  wait_for 10 "TCP server on s$i" grep -q ready "$RUN/tcp-s$i.log"
  wait_for 10 "UDP listener on s$i" grep -q ready "$RUN/udp-s$i.log"
done
declare -A VPID
for i in 1 2 3; do
  start_vaned "${S[i]}" "vaned-s$i" "$RUN/s$i.conf"
  VPID[$i]=$VANED_PID
done
for ((t = 0; ; t++)); do
  for i in 1 2 3; do
    kill -0 "${VPID[$i]}" 2>/dev/null || fail "vaned on s$i exited: $(tail -n 3 "$RUN/vaned-s$i.log")"
  done
  [[ $(ip -n "$R" route show $VIP | grep -c 'nexthop via') == 3 ]] && break
  ((t < 300)) || fail "timed out after 30s waiting for the kernel ECMP route over the three servers"
  sleep 0.1
done
vctl() { "$VANECTL" --socket "$RUN/s$1.sock" "${@:2}"; }
site_converged() {  # every server sees every server up in web's table
  local i
  for i in 1 2 3; do
    vctl "$i" -o json show site | "$PY" -c '
import json, sys
s = json.load(sys.stdin)["site"]["servers"]
sys.exit(0 if len(s) == 3 and all(int(x["weight"]) > 0 for v in s for x in v["services"] if x["service"] == "web") else 1)' || return 1
  done
}
wait_for 15 "site health to converge" site_converged
for i in 1 2 3; do
  ip -n "${S[i]}" link show eth0 | grep -q 'prog/xdp' || fail "s$i: no native XDP program on eth0"
done

# The global row of server I's data-path counters (everything the redirector does), {reason: n}.
gue_counters() {  # gue_counters I -> JSON
  vctl "$1" -o json show forwarding | "$PY" -c '
import json, sys
rows = [v for v in json.load(sys.stdin)["forwarding"]["vips"] if v["vip"] == "all"]
assert len(rows) == 1, rows
print(json.dumps({k: int(n) for k, n in rows[0]["packets"].items()}))'
}
reason() { "$PY" -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], -1))' "$1" "$2"; }
delivered() {  # delivered I PATTERN -> datagrams server I's listener got matching PATTERN
  grep -c "^got $2 " "$RUN/udp-s$1.log" || true
}
vip_udp_total() { echo $(( $(delivered 1 "$VIP:5300") + $(delivered 2 "$VIP:5300") + $(delivered 3 "$VIP:5300") )); }
vip_udp_at_least() { (( $(vip_udp_total) >= $1 )); }

# ---- (a) the site's own traffic, before ----------------------------------------------------------
site_traffic() {  # site_traffic TAG PORT_BASE: TCP connections and UDP datagrams to the VIP all arrive
  local before after
  ip netns exec "$C" timeout 60 "$PY" "$HERE/xdp_client.py" bulk "$CLIENT" "$VIP:80" "$2" 300 \
    --concurrency 32 --timeout 10 >"$RUN/$1.json" || fail "(a) $1: not every TCP connection completed: $(cat "$RUN/$1.json")"
  before=$(vip_udp_total)
  ip netns exec "$C" "$PY" -c '
import socket, sys
for p in range(int(sys.argv[2]), int(sys.argv[2]) + 30):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((sys.argv[1], p))
    s.sendto(b"legit", (sys.argv[3], 5300))
    s.close()' "$CLIENT" "$2" "$VIP"
  wait_for 10 "30 UDP datagrams to $VIP:5300 delivered ($1)" vip_udp_at_least $((before + 30))
  after=$(vip_udp_total)
  ((after == before + 30)) || fail "(a) $1: $((after - before)) UDP datagrams delivered for 30 sent"
}
site_traffic legit1 20000
decap=0
for i in 1 2 3; do
  c=$(gue_counters "$i")
  for r in gue_bad_source gue_bad_inner gue_bad_hop gue_malformed; do
    [[ $(reason "$c" $r) == 0 ]] || fail "(a) s$i counted the site's own traffic as $r: $c"
  done
  decap=$((decap + $(reason "$c" decap_syn) + $(reason "$c" decap_last_hop)))
done
((decap > 0)) || fail "(a) no packet went by GUE between the servers"
log "(a) the site's own traffic: 300 TCP connections and 30 UDP datagrams to the VIP, $decap packets decapsulated after GUE between servers, none refused"

# ---- captures on the would-be relay targets ------------------------------------------------------
for h in C T; do
  bg "${!h}" "cap-$h" tcpdump -i eth0 -Q in -nn -l -U udp
done
for h in C T; do wait_for 10 "capture on $h" grep -q "listening on eth0" "$RUN/cap-$h.log"; done
captured() { grep -c ' UDP, \| udp ' "$RUN/cap-$1.log" || true; }
# Control: a datagram from s1 to each target is seen, so the captures would see a relayed one.
ip netns exec "${S[1]}" "$PY" -c '
import socket, sys
for a in sys.argv[1:]:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"control", (a, 6080))' "$CLIENT" "$THIRD"
captured_some() { (( $(captured "$1") >= 1 )); }
for h in C T; do wait_for 10 "the control datagram in the capture on $h" captured_some $h; done
cap0_C=$(captured C)
cap0_T=$(captured T)

for i in 1 2 3; do
  base[i]=$(gue_counters "$i")
  got0[i]=$(wc -l <"$RUN/udp-s$i.log")
done

# ---- crafted GUE from the client -----------------------------------------------------------------
craft() { ip netns exec "$C" "$PY" "$HERE/gue_craft.py" "$@" "$N" || fail "gue_craft.py $*"; }
S1=192.0.2.11 S2=192.0.2.12 S3=192.0.2.13 S1V6=2001:db8::11 S2V6=2001:db8::12
# 1. the client's own outer source: refused as gue_bad_source, whatever the rest says
craft "$CLIENT" $S1 $SPOOF "$VIP:5300" 1 $S1               # spoofed inner source, to the VIP, last hop
craft "$CLIENT" $S1 $SPOOF "$S1:5301" 1 $S1                # inner to s1's own fabric address
craft "$CLIENT" $S1 $SPOOF "$S3:5301" 1 $S1                # inner to another server's fabric address
craft "$CLIENT" $S1 $SPOOF "$VIP:5300" 1 "$S1,$CLIENT"     # hop list on to the client
craft "$CLIENT" $S1 $SPOOF "$VIP:5300" 1 "$S1,$THIRD"      # hop list on to the third host
craft "$CLIENT6" $S1V6 $SPOOF "$VIP:5300" 1 $S1V6          # the same over an IPv6 outer header
BAD_SOURCE=$((6 * N))
# 2. the outer source spoofed as s2 (R lets it through): refused by the inner destination or the hops
craft $S2 $S1 $SPOOF "$S1:5301" 1 $S1                      # inner to s1's own fabric address
craft $S2 $S1 $SPOOF "$S3:5301" 1 $S1                      # inner to another server's fabric address
craft $S2V6 $S1V6 2001:db8:c::99 "[$S1V6]:5301" 1 $S1V6    # the same over IPv6, inner IPv6
BAD_INNER=$((3 * N))
craft $S2 $S1 $SPOOF "$VIP:5300" 1 "$S1,$CLIENT"           # hop list on to the client
craft $S2 $S1 $SPOOF "$VIP:5300" 1 "$S1,$THIRD"            # hop list on to the third host
craft $S2 $S1 $SPOOF "$VIP:5300" 0 "$THIRD"                # a list that starts at the third host
BAD_HOP=$((3 * N))

# ---- (d) counted under their reasons -------------------------------------------------------------
refusals_counted() {
  local c; c=$(gue_counters 1)
  (( $(reason "$c" gue_bad_source) - $(reason "${base[1]}" gue_bad_source) == BAD_SOURCE &&
     $(reason "$c" gue_bad_inner) - $(reason "${base[1]}" gue_bad_inner) == BAD_INNER &&
     $(reason "$c" gue_bad_hop) - $(reason "${base[1]}" gue_bad_hop) == BAD_HOP ))
}
wait_for 10 "s1 to count $BAD_SOURCE gue_bad_source, $BAD_INNER gue_bad_inner, $BAD_HOP gue_bad_hop: $(gue_counters 1)" refusals_counted
after1=$(gue_counters 1)
for r in decap_syn decap_local decap_last_hop decap_other redirected gue_malformed; do
  [[ $(reason "$after1" $r) == $(reason "${base[1]}" $r) ]] || fail "(d) s1's $r moved while only crafted GUE came in: ${base[1]} -> $after1"
done
GUE_REASONS="decap_syn decap_local decap_last_hop decap_other redirected gue_malformed gue_bad_source gue_bad_inner gue_bad_hop"
for i in 2 3; do
  c=$(gue_counters "$i")
  for r in $GUE_REASONS; do
    [[ $(reason "$c" $r) == $(reason "${base[i]}" $r) ]] || fail "(d) s$i's $r moved: ${base[i]} -> $c"
  done
done
metric() {  # metric REASON -> s1's vane_forwarding_packets_total of the global row for REASON
  ip netns exec "${S[1]}" "$PY" -c '
import sys, urllib.request
t = urllib.request.urlopen("http://127.0.0.1:9180/metrics", timeout=5).read().decode().splitlines()
v = [l.rsplit(" ", 1)[1] for l in t if l.startswith("vane_forwarding_packets_total{") and "vip=\"all\"" in l
     and "reason=\"%s\"" % sys.argv[1] in l]
print(int(float(v[0])) if len(v) == 1 else -1)' "$1"
}
for r in gue_bad_source gue_bad_inner gue_bad_hop; do
  m=$(metric $r)
  [[ $m == $(reason "$after1" $r) ]] || fail "(d) metrics say $r=$m, vanectl says $(reason "$after1" $r)"
done
log "(d) s1 refused and counted: gue_bad_source $BAD_SOURCE, gue_bad_inner $BAD_INNER, gue_bad_hop $BAD_HOP (vanectl and metrics agree)"

# ---- (b) nothing delivered, (c) nothing relayed --------------------------------------------------
sleep 1   # anything decapsulated or relayed would have arrived by now
for i in 1 2 3; do
  got=$(wc -l <"$RUN/udp-s$i.log")
  ((got == got0[i])) || fail "(b) s$i's listener got $((got - got0[i])) crafted datagram(s): $(tail -n 3 "$RUN/udp-s$i.log")"
done
log "(b) nothing delivered: the UDP listeners on VIP:5300 and the fabric addresses of s1..s3 got nothing"
[[ $(captured C) == "$cap0_C" ]] || fail "(c) GUE relayed to the client: $(tail -n 3 "$RUN/cap-C.log")"
[[ $(captured T) == "$cap0_T" ]] || fail "(c) GUE relayed to the third host: $(tail -n 3 "$RUN/cap-T.log")"
log "(c) nothing relayed: the captures on the client and the third host saw only the control datagram"

# ---- (a) the site's own traffic, after -----------------------------------------------------------
site_traffic legit2 24000
log "(a) the site's own traffic still works after the crafted GUE"
vctl 1 show forwarding | sed 's/^/    /' >&2
log PASS
