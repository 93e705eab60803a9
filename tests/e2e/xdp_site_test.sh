#!/usr/bin/env bash
# vane's XDP data path end to end, on real veths with native XDP:
#
#   client C 198.51.100.10 -- r-c | router R (BIRD, kernel ECMP over the servers, L4 hash) | br0
#                                                   r-s1 / r-s2 / r-s3 (bridge ports, XDP_PASS)
#   servers s1..s3 (192.0.2.11-13): vaned with BGP to R (203.0.113.10/32), forwarding enabled
#   (weights 100/100/200), VIP on lo, a TCP server on VIP:80 that answers its name.
#
# The router spreads client flows over the three servers; each server's forwarder sends a flow
# to the server its Maglev bucket names (GUE, XDP_TX), whose redirector decapsulates it; the
# serving server answers the client directly (DSR). Checks:
#  (a) 3,000 TCP connections from distinct source ports all complete, each reply naming its server;
#  (b) each server's share of them is within 15% (relative) of its weight share;
#  (c) DSR and the GUE path: see dsr_evidence below;
#  (d) s1 set to weight 0 on all three (config edit + SIGHUP): 300 new connections, none on s1, all
#      complete; every one of 120 connections opened before keeps its server, s1's by the second hop;
#  (e) non-VIP traffic passes: ping and TCP from the client to servers' own addresses;
#  (f) site health (on by default): s3's service fails -> s1 and s2 take it out of their tables, no
#      new connection goes to s3; it recovers -> back in; its vaned stops -> unreachable, out again;
#  (g) s3 restarted as BACKEND_ONLY: no route via s3 at the router, yet it serves its share by GUE;
#  (h) s2's vaned killed and started again under load: it takes over the running data path, no
#      connection fails;
#  (i) s1 made FORWARDER_ONLY: withdraws when no server is healthy, announces alone and forwards
#      everything to backend s3 when s3 recovers;
#  and `vanectl -o json show forwarding` and the metrics endpoint return the data-path counters.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bgp_lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3   # not a pyenv shim: it runs inside the namespaces
BUILD=$(cd "$(dirname "$VANED")/.." && pwd)
XDP_PASS_OBJ=${XDP_PASS_OBJ:-$BUILD/bpf/xdp_pass.bpf.o}
VIP=203.0.113.10
CLIENT=198.51.100.10
N_BULK=${N_BULK:-3000}
N_AFTER=${N_AFTER:-300}
N_HOLD=${N_HOLD:-120}
WEIGHTS=(x 100 100 200)   # s1 s2 s3

[[ -x $PY ]] || skip "needs $PY"
command -v bird >/dev/null || skip "needs bird"
[[ -f $XDP_PASS_OBJ ]] || fail "XDP_PASS object not found at $XDP_PASS_OBJ (build the bpf targets)"
[[ -x $VANECTL ]] || fail "vanectl not found at $VANECTL"

# ---- topology ------------------------------------------------------------------------------------
bgp_topology 3
ns_add C c
link "$C" eth0 "$CLIENT/24" "$R" r-c 198.51.100.1/24
ip -n "$C" route add default via 198.51.100.1
# veth quirks, so that the client behaves like a host behind a real router:
# - TX checksum offload off: a veth frame may carry a partial TCP checksum to be completed "by
#   the NIC"; the forwarder's XDP_TX'd GUE copy carries it as is, and the target then drops the
#   decapsulated segment (TcpInCsumErrors). Real NICs put complete checksums on the wire.
# - no txrehash: the router's ECMP hash here is the client socket's hash (veth keeps skb->hash),
#   which Linux changes on every SYN retransmit; fixed, a flow keeps its first server as it
#   would with a 5-tuple hash, and a lost SYN is not rescued by landing on another server.
ip netns exec "$C" sysctl -qw net.core.txrehash=0
ip netns exec "$C" "$PY" "$VANE_SOURCE_DIR/scripts/lib/tx-csum-off" eth0 || fail "cannot turn TX checksum offload off on the client"
# L4 multipath hash: flows from one client address spread over the ECMP next hops. The client-side
# router port needs no XDP program: nothing is XDP_TX'd or redirected towards it.
ip netns exec "$R" sysctl -qw net.ipv4.fib_multipath_hash_policy=1
for i in 1 2 3; do
  ip -n "${S[i]}" route add default via 192.0.2.1
  ip -n "${S[i]}" addr add "$VIP/32" dev lo
  # XDP_TX'd frames from the server's eth0 reach the router only if this end runs XDP too.
  ip -n "$R" link set dev "r-s$i" xdpdrv obj "$XDP_PASS_OBJ" sec xdp || fail "XDP_PASS on r-s$i"
done

# Counters for the DSR evidence, from HTB classes (this kernel has tc u32 and HTB, no gact/nft).
# Class 1:10 counts what the u32 filter matches; everything else goes to 1:20.
tc_count() {  # tc_count NS DEV u32-match...
  local ns=$1 dev=$2; shift 2
  tc -n "$ns" qdisc add dev "$dev" root handle 1: htb default 20
  tc -n "$ns" class add dev "$dev" parent 1: classid 1:10 htb rate 10gbit quantum 60000
  tc -n "$ns" class add dev "$dev" parent 1: classid 1:20 htb rate 10gbit quantum 60000
  tc -n "$ns" filter add dev "$dev" parent 1: protocol ip prio 1 u32 "$@" flowid 1:10
}
tc_packets() {  # tc_packets NS DEV -> packets in class 1:10
  tc -n "$1" -s class show dev "$2" |
    awk '$1 == "class" { c = $3 } c == "1:10" && $1 == "Sent" { print $4; found = 1; exit } END { exit !found }'
}
SYNACK=(match ip src "$VIP/32" match ip dst "$CLIENT/32" match ip protocol 6 0xff
        match u16 80 0xffff at 20 match u8 0x12 0x17 at 33)   # TCP from VIP:80, flags SYN+ACK only
for i in 1 2 3; do tc_count "${S[i]}" eth0 "${SYNACK[@]}"; done
# On the router's client port: GUE (UDP to port 6080) must never get there.
tc_count "$R" r-c match ip protocol 17 0xff match u16 6080 0xffff at 22

# ---- BIRD as the ToR -----------------------------------------------------------------------------
bird_ecmp_tor 3
start_bird "$R" "$RUN/bird.conf"

# ---- servers -------------------------------------------------------------------------------------
write_conf() {  # write_conf I W1 W2 W3 -> $RUN/s$I.conf
  local i=$1
  cat >"$RUN/s$i.conf" <<EOF
node { name: "s$i" router_id: "192.0.2.1$i" asn: 6501$i address: "192.0.2.1$i" interface: "eth0" }
neighbor { name: "tor" address: "192.0.2.1" remote_asn: 65000 hold_time_s: 9 connect_retry_s: 1 }
service {
  name: "web"
  vip { address: "$VIP" port: 80 protocol: TCP }
  announce { prefix: "$VIP/32" }
  check { name: "web" tcp { port: 80 } interval_ms: 200 timeout_ms: 150 rise: 2 fall: 2 }
}
site {
  server { name: "s1" address: "192.0.2.11" weight: $2 }
  server { name: "s2" address: "192.0.2.12" weight: $3 }
  server { name: "s3" address: "192.0.2.13" weight: $4 }
}
forwarding { enabled: true gue_port: 6080 hash_seed: 2654435761 }
control { socket: "$RUN/s$i.sock" }
metrics { listen: "127.0.0.1:9180" }
EOF
}
vctl() { "$VANECTL" --socket "$RUN/s$1.sock" "${@:2}"; }
site_weight() {  # site_weight I SERVER -> SERVER's effective weight in web's table, as server I sees it
  vctl "$1" -o json show site | "$PY" -c '
import json, sys
for s in json.load(sys.stdin)["site"]["servers"]:
    if s["name"] == sys.argv[1]:
        print(next((int(x["weight"]) for x in s["services"] if x["service"] == "web"), -1))' "$2"
}
site_converged() {  # every server sees every server at its configured weight in web's table
  local i j
  for i in 1 2 3; do for j in 1 2 3; do [[ $(site_weight "$i" "s$j") == "${WEIGHTS[j]}" ]] || return 1; done; done
}

for i in 1 2 3; do
  bg "${S[i]}" "tcp-s$i" "$PY" "$HERE/xdp_server.py" "s$i" "$VIP:80" "192.0.2.1$i:2222"
  TPID[i]=$LAST_PID
  write_conf "$i" "${WEIGHTS[1]}" "${WEIGHTS[2]}" "${WEIGHTS[3]}"
  "$VANED" --check "$RUN/s$i.conf" >/dev/null || fail "s$i config invalid"
done
for i in 1 2 3; do wait_for 10 "TCP server on s$i" grep -q ready "$RUN/tcp-s$i.log"; done
declare -A VPID
# Each vaned bind-mounts a bpffs of the test's own on /sys/fs/bpf (`ip netns exec` mounts a fresh
# sysfs over /sys, where /sys/fs/bpf is no bpffs): its pinned maps outlive the process, so a new
# vaned can take over the running data path, as on a real host.
vaned_up() {  # vaned_up I LOGNAME
  bg "${S[$1]}" "$2" sh -c 'mount --bind "$0" /sys/fs/bpf && exec "$@"' "$RUN/bpffs-s$1" \
    "$VANED" --config "$RUN/s$1.conf" --log-level info
  VPID[$1]=$LAST_PID
}
for i in 1 2 3; do
  bpffs_add "$RUN/bpffs-s$i"
  vaned_up "$i" "vaned-s$i"
done

# The kernel ECMP route over the three servers (bounded: 30 s); a vaned that exits fails at once.
for ((t = 0; ; t++)); do
  for i in 1 2 3; do
    kill -0 "${VPID[$i]}" 2>/dev/null || fail "vaned on s$i exited: $(tail -n 3 "$RUN/vaned-s$i.log")"
  done
  [[ $(ip -n "$R" route show $VIP | grep -c 'nexthop via') == 3 ]] && break
  ((t < 300)) || fail "timed out after 30s waiting for the kernel ECMP route over the three servers"
  sleep 0.1
done
log "router: $VIP via $(kernel_nexthops "$R" $VIP)"
# Site health: each server's table takes a server in once that server's agent has said its service is
# up; until then the servers' tables can differ for a moment (a new flow is then steered by whichever
# table the router's pick has). The shares below are the converged site's.
wait_for 10 "site health to converge (every server sees every server up at its weight)" site_converged
for i in 1 2 3; do
  ip -n "${S[i]}" link show eth0 | grep -q 'prog/xdp' ||
    fail "s$i: no native XDP program on eth0: $(ip -n "${S[i]}" link show eth0)"
  grep -Eq 'forwarding: XDP (forwarder )?native on eth0: 3 server\(s\), 1 VIP\(s\)' "$RUN/vaned-s$i.log" ||
    fail "s$i: forwarding did not start as expected"
done

# The data-path counters of server I from `vanectl -o json show forwarding`: the VIP's row and the
# global row (non-VIP traffic and everything the redirector does), as {reason: packets}.
fwd_counters() {  # fwd_counters I -> JSON {"vip": {...}, "all": {...}}
  vctl "$1" -o json show forwarding | "$PY" -c '
import json, sys
d = json.load(sys.stdin)["forwarding"]["vips"]
out = {}
for v in d:
    key = "all" if v["vip"] == "all" else "vip" if (v["vip"], v["port"], v["proto"]) == ("'$VIP'", 80, "tcp") else None
    if key:
        out[key] = {k: int(n) for k, n in v["packets"].items()}
assert set(out) == {"vip", "all"}, d
print(json.dumps(out))'
}
for i in 1 2 3; do fwd_counters "$i" >"$RUN/fwd0-s$i.json" || fail "s$i: vanectl -o json show forwarding gave no counters"; done
log "vanectl -o json show forwarding returns per-VIP and global counters"

# ---- (a) + (b): 3,000 connections, shares by weight ----------------------------------------------
# No warm-up: the servers have no neighbour entries for each other yet (the forwarder's first
# packets to a server go through the kernel, which resolves it).
for i in 1 2 3; do synack0[i]=$(tc_packets "${S[i]}" eth0); done

t0=$SECONDS
ip netns exec "$C" timeout 90 "$PY" "$HERE/xdp_client.py" bulk "$CLIENT" "$VIP:80" 20000 "$N_BULK" \
  --concurrency 64 --timeout 10 >"$RUN/bulk.json" || fail "not every connection completed: $(cat "$RUN/bulk.json")"
log "(a) $N_BULK connections from distinct source ports completed in $((SECONDS - t0))s: $(cat "$RUN/bulk.json")"
"$PY" - "$RUN/bulk.json" "${WEIGHTS[@]:1}" <<'PY' || fail "(b) shares off their weights"
import json, sys
r = json.load(open(sys.argv[1]))
w = {"s%d" % (i + 1): int(x) for i, x in enumerate(sys.argv[2:])}
n = r["ok"]
assert n == r["total"] and set(r["counts"]) <= set(w), r
bad = []
for s, ws in w.items():
    want = ws / sum(w.values())
    got = r["counts"].get(s, 0) / n
    print("  %s weight %d: %d connections, share %.3f (weight share %.3f, %+.1f%%)"
          % (s, ws, r["counts"].get(s, 0), got, want, 100 * (got / want - 1)), file=sys.stderr)
    if abs(got / want - 1) > 0.15:
        bad.append(s)
sys.exit(1 if bad else 0)
PY
log "(b) every server's share is within 15% of its weight share"

# ---- (c) DSR -------------------------------------------------------------------------------------
# dsr_evidence: replies go from the serving server straight to the client, requests came by GUE.
#  1. Each server's eth0 egress counts the SYN+ACK segments it sends from VIP:80 to the client.
#     Only the local stack's packets pass the qdisc (XDP_TX'd GUE frames bypass it), so these are
#     plain TCP replies leaving the server itself, not encapsulated and not relayed by another
#     server. Per server they match the connections the client says that server served.
#  2. The GUE leg is used: every server's forwarder encapsulated VIP packets (`forwarded`) and its
#     redirector decapsulated SYNs (`decap_syn`) and packets of its connections (`decap_local`),
#     with nothing malformed or failed; about 2/3 of the SYNs (those not hashed to the server the
#     router picked) must have been decapsulated somewhere.
#  3. Nothing GUE ever leaves the router towards the client (class counter on r-c egress).
declare -A served
eval "$("$PY" -c 'import json,sys; [print("served[%s]=%d" % (k[1:], v)) for k, v in json.load(open(sys.argv[1]))["counts"].items()]' "$RUN/bulk.json")"
decap_total=0
for i in 1 2 3; do
  sa=$(( $(tc_packets "${S[i]}" eth0) - synack0[i] ))
  got=${served[$i]:-0}
  ((sa >= got && sa <= got + got / 50 + 5)) || fail "(c) s$i sent $sa SYN+ACKs to the client but served $got connections"
  fwd_counters "$i" >"$RUN/fwd1-s$i.json"
  read -r fwd dsyn dloc bad err < <("$PY" -c '
import json, sys
c = json.load(open(sys.argv[1]))
print(c["vip"]["forwarded"], c["all"]["decap_syn"], c["all"]["decap_local"],
      c["all"]["gue_malformed"] + c["all"]["malformed"], c["vip"]["errors"] + c["all"]["errors"] + c["vip"]["too_big"])' "$RUN/fwd1-s$i.json")
  log "  s$i: $sa SYN+ACKs out of eth0 for $got connections served; forwarded $fwd, decap_syn $dsyn, decap_local $dloc"
  ((fwd > 0 && dsyn > 0 && dloc > 0)) || fail "(c) s$i: the GUE path was not used: $(cat "$RUN/fwd1-s$i.json")"
  ((bad == 0 && err == 0)) || fail "(c) s$i: malformed or failed packets: $(cat "$RUN/fwd1-s$i.json")"
  decap_total=$((decap_total + dsyn))
done
((decap_total >= N_BULK * 4 / 10 && decap_total <= N_BULK * 11 / 10 + 30)) ||
  fail "(c) $decap_total SYNs decapsulated for $N_BULK connections: expected about 2/3 of them"
gue_to_client=$(tc_packets "$R" r-c)
((gue_to_client == 0)) || fail "(c) $gue_to_client GUE packets went towards the client"
log "(c) DSR: replies leave the serving server as plain TCP from the VIP; $decap_total of $N_BULK SYNs came by GUE; no GUE towards the client"

# ---- (d) weight 0 --------------------------------------------------------------------------------
# New connections must avoid s1 and all complete. Connections opened before the change must all
# keep their server: a bucket that s1 lost names s1 as its second hop, so a packet of an s1
# connection finds no socket at the bucket's new first hop and is sent on to s1, whether it
# reaches that server by GUE (its redirector) or straight from the router (its forwarder, about
# 1/3 of them). If the tables forgot the previous first hop, s1's connections would all break.
declare -A HOLD_PID
hold_open() {  # hold_open TAG FIRST_PORT SERVER: N_HOLD connections held open, some on SERVER
  rm -f "$RUN/$1.ready" "$RUN/$1.go"
  bg "$C" "$1" "$PY" "$HERE/xdp_client.py" hold "$CLIENT" "$VIP:80" "$2" "$N_HOLD" "$RUN/$1.ready" "$RUN/$1.go" \
    --timeout 10 --wait 60
  HOLD_PID[$1]=$LAST_PID
  wait_for 20 "held connections open ($1)" test -s "$RUN/$1.ready"
  grep -q "\"$3\"" "$RUN/$1.ready" || fail "none of the held connections ($1) is on $3"
}
hold_release() {  # hold_release TAG: every held connection talks again; the result ends $RUN/TAG.log
  touch "$RUN/$1.go"
  wait_for 30 "held connections checked ($1)" grep -q total "$RUN/$1.log"
  wait "${HOLD_PID[$1]}" || true
}
hold_open hold 30000 s1
log "(d) $N_HOLD connections held open: $(cat "$RUN/hold.ready")"
for i in 1 2 3; do
  gen0[i]=$(vctl "$i" -o json show site | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["site"]["table_generation"])')
  write_conf "$i" 0 "${WEIGHTS[2]}" "${WEIGHTS[3]}"
  kill -HUP "${VPID[$i]}"
done
s1_weight0() {  # the reload is applied: s1 at weight 0 and a new table generation
  vctl "$1" -o json show site | "$PY" -c '
import json, sys
d = json.load(sys.stdin)["site"]
w = {s["name"]: s["weight"] for s in d["servers"]}
sys.exit(0 if w["s1"] == 0 and int(d["table_generation"]) > int(sys.argv[1]) else 1)' "$2"
}
for i in 1 2 3; do wait_for 10 "s$i applied weight 0 for s1" s1_weight0 "$i" "${gen0[i]}"; done
log "(d) s1 set to weight 0 on all three servers (SIGHUP reload)"

ip netns exec "$C" timeout 60 "$PY" "$HERE/xdp_client.py" bulk "$CLIENT" "$VIP:80" 24000 "$N_AFTER" \
  --concurrency 32 --timeout 10 >"$RUN/after.json" || fail "(d) not every connection completed after the change: $(cat "$RUN/after.json")"
"$PY" -c 'import json,sys; r = json.load(open(sys.argv[1])); sys.exit(0 if r["ok"] == r["total"] and "s1" not in r["counts"] else 1)' \
  "$RUN/after.json" || fail "(d) s1 got new connections at weight 0: $(cat "$RUN/after.json")"
log "(d) $N_AFTER new connections, none on s1: $(cat "$RUN/after.json")"

hold_release hold
"$PY" - "$RUN/hold.log" <<'PY' || { for i in 1 2 3; do log "s$i counters: $(fwd_counters "$i")"; done; fail "(d) connections opened before the change: $(cat "$RUN/hold.log")"; }
import json, sys
r = json.load(open(sys.argv[1]))
held, kept = r["counts"], r["kept"]
print("  held before the change: %s; still answering from the same server: %s" % (held, kept), file=sys.stderr)
assert r["go"] and not r["changed"] and not r["failures"], r
assert sum(held.values()) == r["total"], "not every connection was open before the change"
assert held.get("s1", 0) >= 8, "too few held connections on s1 to test the second hop"
assert all(kept.get(s, 0) == n for s, n in held.items()), "a connection lost its server"
PY
dl=$(fwd_counters 1 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["all"]["decap_last_hop"])')
((dl > 0)) || fail "(d) s1 decapsulated nothing as a second hop"
log "(d) connections opened before the change: every one kept its server; s1's via the second hop (s1 decap_last_hop $dl)"

# ---- (e) non-VIP traffic -------------------------------------------------------------------------
ip netns exec "$C" ping -c 3 -i 0.2 -W 2 192.0.2.11 >"$RUN/ping.log" 2>&1 || fail "(e) ping 192.0.2.11: $(cat "$RUN/ping.log")"
out=$(ip netns exec "$C" "$PY" "$HERE/xdp_client.py" bulk "$CLIENT" 192.0.2.12:2222 40000 20 --concurrency 4 --timeout 5) ||
  fail "(e) TCP to 192.0.2.12:2222: $out"
grep -q '"counts": {"s2": 20}' <<<"$out" || fail "(e) TCP to 192.0.2.12:2222 answered by the wrong server: $out"
log "(e) non-VIP traffic unaffected: ping to 192.0.2.11 and 20 TCP connections to 192.0.2.12:2222"

# ---- (f) site health -----------------------------------------------------------------------------
# The tables follow the servers' health (docs/site-health.md): each vaned's site agent tells the
# others whether its service is up.
#  1. s3's web server stops: its check fails, s3 withdraws its route and reports web down; s1 and s2
#     give s3 weight 0 in web's table. 300 new connections all complete, none on s3.
#  2. s3's web server comes back: s3 is back in every table and takes its share again.
#  3. s3's vaned stops: its agent no longer answers; s1 and s2 count s3 unreachable (weight 0).
s3_weight_is() {  # s3_weight_is W I... : every listed server sees s3 at weight W
  local w=$1 i; shift
  for i in "$@"; do [[ $(site_weight "$i" s3) == "$w" ]] || return 1; done
}
bulk_new() {  # bulk_new TAG PORT_BASE -> $RUN/TAG.json; every connection must complete
  ip netns exec "$C" timeout 60 "$PY" "$HERE/xdp_client.py" bulk "$CLIENT" "$VIP:80" "$2" "$N_AFTER" \
    --concurrency 32 --timeout 10 >"$RUN/$1.json" || fail "($1) not every connection completed: $(cat "$RUN/$1.json")"
}
count_of() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["counts"].get(sys.argv[2], 0))' "$RUN/$1.json" "$2"; }

for i in 1 2; do [[ $(vctl "$i" -o json show site | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["site"]["site_health"])') == True ]] ||
  fail "(f) site health is not on by default on s$i"; done
wait_for 10 "s1 and s2 see s3 up at weight ${WEIGHTS[3]}" s3_weight_is "${WEIGHTS[3]}" 1 2

kill "${TPID[3]}"
wait_for 15 "s1 and s2 took s3 out of web's table" s3_weight_is 0 1 2
wait_for 15 "the router's route without s3" sh -c "! ip -n $R route show $VIP | grep -q 192.0.2.13"
vctl 1 show site | sed 's/^/    /' >&2
bulk_new f1 26000
[[ $(count_of f1 s3) == 0 ]] || fail "(f) s3 got new connections while its service was down: $(cat "$RUN/f1.json")"
log "(f) s3's service down: s1 and s2 gave s3 weight 0 by site health; $N_AFTER new connections, none on s3: $(cat "$RUN/f1.json")"

bg "${S[3]}" "tcp-s3b" "$PY" "$HERE/xdp_server.py" s3 "$VIP:80" "192.0.2.13:2222"
TPID[3]=$LAST_PID
wait_for 10 "TCP server on s3 again" grep -q ready "$RUN/tcp-s3b.log"
wait_for 15 "s1, s2 and s3 put s3 back at weight ${WEIGHTS[3]}" s3_weight_is "${WEIGHTS[3]}" 1 2 3
wait_for 15 "the router's route with s3 again" sh -c "ip -n $R route show $VIP | grep -q 192.0.2.13"
bulk_new f2 28000
n3=$(count_of f2 s3)
# s3 has 200 of the 300 weight left after (d) set s1 to 0: about 2/3 of new connections.
((n3 * 2 >= N_AFTER)) || fail "(f) s3 back up but took only $n3 of $N_AFTER new connections: $(cat "$RUN/f2.json")"
log "(f) s3's service back: s3 in every table again, $n3 of $N_AFTER new connections on s3"

kill -TERM "${VPID[3]}"
s3_unreachable() { for i in 1 2; do vctl "$i" -o json show site | "$PY" -c '
import json, sys
s = [x for x in json.load(sys.stdin)["site"]["servers"] if x["name"] == "s3"][0]
sys.exit(0 if s["reach"] == "unreachable" and all(int(x["weight"]) == 0 for x in s["services"]) else 1)' || return 1; done; }
wait_for 15 "s1 and s2 find s3's agent unreachable" s3_unreachable
bulk_new f3 32000
[[ $(count_of f3 s3) == 0 ]] || fail "(f) s3 got new connections after its vaned stopped: $(cat "$RUN/f3.json")"
log "(f) s3's vaned stopped: s1 and s2 count it unreachable; $N_AFTER new connections, none on s3"

# ---- (g) roles -----------------------------------------------------------------------------------
# s3 comes back as BACKEND_ONLY: it announces nothing (the router never sends it traffic directly)
# and runs the redirector alone; s1 and s2 reach its agent and keep it in web's table, so it serves
# its share of new connections, all of them by GUE.
write_conf 3 0 "${WEIGHTS[2]}" "${WEIGHTS[3]}"
sed -i 's/interface: "eth0" }/interface: "eth0" role: BACKEND_ONLY }/' "$RUN/s3.conf"
"$VANED" --check "$RUN/s3.conf" >/dev/null || fail "(g) backend-only config invalid"
vaned_up 3 vaned-s3b
wait_for 15 "s3 started as a backend (redirector only)" grep -Eq 'forwarding: XDP redirector native on eth0' "$RUN/vaned-s3b.log"
wait_for 15 "s1 and s2 see backend s3 up at weight ${WEIGHTS[3]}" s3_weight_is "${WEIGHTS[3]}" 1 2
wait_for 15 "s3's BGP session up" sh -c "birdc -s $RUN/bird.ctl show protocols s3 | grep -q Established"
ip -n "$R" route show "$VIP" | grep -q 192.0.2.13 && fail "(g) the router has a route via backend-only s3: $(ip -n "$R" route show "$VIP")"
decap_syn_s3() { fwd_counters 3 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["all"]["decap_syn"])'; }
dsyn0=$(decap_syn_s3)
bulk_new g1 34000
n3=$(count_of g1 s3)
((n3 * 2 >= N_AFTER)) || fail "(g) backend s3 took only $n3 of $N_AFTER new connections: $(cat "$RUN/g1.json")"
dsyn=$(( $(decap_syn_s3) - dsyn0 ))
((dsyn >= n3)) || fail "(g) backend s3 served $n3 connections but decapsulated only $dsyn SYNs"
[[ $(vctl 3 -o json show site | "$PY" -c 'import json,sys; print([s["role"] for s in json.load(sys.stdin)["site"]["servers"] if s["is_self"]][0])') == BACKEND_ONLY ]] ||
  fail "(g) vanectl show site on s3 does not say BACKEND_ONLY"
log "(g) s3 as BACKEND_ONLY: no route via s3 at the router, $n3 of $N_AFTER new connections served by s3, all by GUE ($dsyn SYNs decapsulated)"

# ---- (h) vaned restart under load ----------------------------------------------------------------
# s2's vaned dies (SIGKILL: no withdraw, no detach) and a new one starts, while the client opens a
# steady stream of connections and holds others open. The data path runs on by itself meanwhile
# (program attached, maps pinned); the new vaned takes over the pinned maps, seeds its second hops
# from the installed tables and replaces the program in one step. Every connection completes and
# every held connection keeps its server.
hold_open hold2 36000 s2
bg "$C" stream "$PY" "$HERE/xdp_client.py" bulk "$CLIENT" "$VIP:80" 38000 600 --concurrency 16 --timeout 10 --pace 10
STREAM=$LAST_PID
sleep 1
kill -KILL "${VPID[2]}"
wait "${VPID[2]}" 2>/dev/null || true
ip -n "${S[2]}" link show eth0 | grep -q 'prog/xdp' || fail "(h) s2's XDP program went away with its vaned"
vaned_up 2 vaned-s2b
wait_for 15 "the new vaned on s2 took over the pinned maps" grep -q "took over the pinned maps" "$RUN/vaned-s2b.log"
wait_for 10 "s2 to seed its tables from the installed ones" grep -q "the installed table seeds the second hops" "$RUN/vaned-s2b.log"
wait_for 30 "the stream of connections" grep -q total "$RUN/stream.log"
wait "$STREAM" || true
"$PY" -c 'import json,sys; r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); sys.exit(0 if r["ok"] == r["total"] else 1)' \
  "$RUN/stream.log" || fail "(h) connections failed while s2's vaned restarted: $(tail -n 1 "$RUN/stream.log")"
hold_release hold2
"$PY" - "$RUN/hold2.log" <<'PY' || fail "(h) held connections: $(tail -n 1 "$RUN/hold2.log")"
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
assert r["go"] and not r["changed"] and not r["failures"], r
assert all(r["kept"].get(s, 0) == n for s, n in r["counts"].items()), r
PY
log "(h) s2's vaned killed and restarted under load: 600 paced connections all completed, $N_HOLD held ones kept their server ($(grep -o '"counts": {[^}]*}' "$RUN/hold2.ready"))"

# ---- (i) a forwarder tier ------------------------------------------------------------------------
# s1 becomes FORWARDER_ONLY (its site entry, on every server; SIGHUP): never a hop, not queried. A
# forwarder-only server announces only while at least one server is healthy for the service
# (min_healthy_servers, at least 1 for it). s2's and s3's web servers stop: s2 withdraws, and so does
# s1, with nothing to forward to: the router has no route left. s3's comes back: s1 announces again,
# alone (s2 is down, s3 backend-only), and every new connection goes through s1's forwarder to s3.
for i in 1 2 3; do
  write_conf "$i" 0 "${WEIGHTS[2]}" "${WEIGHTS[3]}"
  sed -i 's/weight: 0 }/weight: 0 role: FORWARDER_ONLY }/' "$RUN/s$i.conf"
done
sed -i 's/interface: "eth0" }/interface: "eth0" role: BACKEND_ONLY }/' "$RUN/s3.conf"
for i in 1 2 3; do
  "$VANED" --check "$RUN/s$i.conf" >/dev/null || fail "(i) s$i config invalid: $("$VANED" --check "$RUN/s$i.conf" 2>&1)"
  kill -HUP "${VPID[$i]}"
done
s1_forwarder() {
  vctl "$1" -o json show site | "$PY" -c '
import json, sys
s = [x for x in json.load(sys.stdin)["site"]["servers"] if x["name"] == "s1"][0]
sys.exit(0 if s["role"] == "FORWARDER_ONLY" else 1)'
}
for i in 1 2 3; do wait_for 10 "s$i reloaded with s1 forwarder-only" s1_forwarder "$i"; done
kill "${TPID[2]}" "${TPID[3]}"
no_route() { ! ip -n "$R" route show "$VIP" | grep -q .; }
wait_for 15 "no route left at the router (s2 withdrew; s1 has no healthy server to forward to)" no_route
vctl 1 show site | grep -q "WITHDRAWN (too few healthy servers)" || fail "(i) s1's show site does not say why it withdrew: $(vctl 1 show site)"
log "(i) s1 forwarder-only, s2 and s3 down: s1 withdrew too (no healthy server); the router has no route"
bg "${S[3]}" "tcp-s3c" "$PY" "$HERE/xdp_server.py" s3 "$VIP:80" "192.0.2.13:2222"
TPID[3]=$LAST_PID
only_s1() { local r; r=$(ip -n "$R" route show "$VIP"); [[ $r == *"via 192.0.2.11 "* && $r != *nexthop* ]]; }
wait_for 15 "s1 announcing again, alone" only_s1
bulk_new i1 42000
grep -q '"counts": {"s3": '"$N_AFTER"'}' "$RUN/i1.json" || fail "(i) connections not all served by s3: $(cat "$RUN/i1.json")"
log "(i) s3 back: s1 announces again, alone; $N_AFTER new connections through s1's forwarder, all served by backend s3"

# ---- metrics -------------------------------------------------------------------------------------
ip netns exec "${S[2]}" "$PY" -c '
import sys, urllib.request
t = urllib.request.urlopen("http://127.0.0.1:9180/metrics", timeout=5).read().decode()
ok = [l for l in t.splitlines() if l.startswith("vane_forwarding_packets_total{") and "reason=\"decap_syn\"" in l
      and not l.endswith(" 0")]
sys.exit(0 if ok else 1)' || fail "metrics: no vane_forwarding_packets_total{reason=\"decap_syn\"} on s2"
site_metrics() {  # s2's view of the site as its metrics page shows it (s2 polls s3 every 500 ms)
  ip netns exec "${S[2]}" "$PY" -c '
import sys, urllib.request
t = urllib.request.urlopen("http://127.0.0.1:9180/metrics", timeout=5).read().decode().splitlines()
want = ["vane_site_server_reachable{server=\"s3\"} 1",
        "vane_site_weight{server=\"s1\",service=\"web\"} 0", "vane_site_weight{server=\"s3\",service=\"web\"} 200"]
missing = [w for w in want if w not in t]
sys.exit("missing: %s" % missing if missing else 0)'
}
wait_for 10 "site health series on s2's metrics page" site_metrics
log "metrics: vane_forwarding_packets_total by reason, vane_site_* series"
log PASS
