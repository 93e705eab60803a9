#!/usr/bin/env bash
# Reloads of vane's XDP data path under client load, on real veths with native XDP:
#
#   client C 198.51.100.10 -- r-c | router R (BIRD, kernel ECMP over s1..s3, L4 hash) | br0
#                                     r-s1 .. r-s4 (bridge ports, XDP_PASS)
#   servers s1..s3 (192.0.2.11-13): vaned with BGP to R (203.0.113.10/32), forwarding enabled;
#   server a4 (192.0.2.14): BACKEND_ONLY (redirector only, no route), vaned from the start but in
#   nobody's site list until (a). Every server runs a TCP server on VIP:80 that answers its name.
#
# While the client holds connections open and opens new ones at a steady pace:
#  (a) a4, whose name sorts before every other server's, joins the site (config + SIGHUP on all):
#      no server is renumbered (before, each server's index in the data path was its position in
#      the sorted list, fixed in the programs at load, so s1..s3 would have sent the buckets they
#      now own to themselves and passed another server's to their own stack); no connection
#      breaks, the programs are not reloaded, and the spread is the tables' (a quarter each);
#  (b) s2's node.address changes to 192.0.2.22 (added to its eth0 first; every config + SIGHUP):
#      s2's programs are replaced in one step by ones that know the new address; no connection
#      breaks; GUE reaches s2 at its new address; the spread stays a quarter each;
#  (c) a reload of s1 whose forwarding apply fails for real (node.interface moved to a bridge
#      interface, which takes no native XDP, together with a4's weight at 0 in s1's tables): the
#      program on s1's eth0, its table generation and its tables stay as they were (a4 keeps its
#      share of the connections s1 steers), and no connection breaks.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bgp_lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3   # not a pyenv shim: it runs inside the namespaces
BUILD=$(cd "$(dirname "$VANED")/.." && pwd)
XDP_PASS_OBJ=${XDP_PASS_OBJ:-$BUILD/bpf/xdp_pass.bpf.o}
VIP=203.0.113.10
CLIENT=198.51.100.10
N_BULK=${N_BULK:-1200}
N_HOLD=${N_HOLD:-120}
N_STREAM=${N_STREAM:-400}

[[ -x $PY ]] || skip "needs $PY"
command -v bird >/dev/null || skip "needs bird"
[[ -f $XDP_PASS_OBJ ]] || fail "XDP_PASS object not found at $XDP_PASS_OBJ (build the bpf targets)"
[[ -x $VANECTL ]] || fail "vanectl not found at $VANECTL"

# ---- topology (as in xdp_site_test.sh) -------------------------------------------------------------
bgp_topology 4
ns_add C c
link "$C" eth0 "$CLIENT/24" "$R" r-c 198.51.100.1/24
ip -n "$C" route add default via 198.51.100.1
ip netns exec "$C" sysctl -qw net.core.txrehash=0
ip netns exec "$C" "$PY" "$VANE_SOURCE_DIR/scripts/lib/tx-csum-off" eth0 || fail "cannot turn TX checksum offload off on the client"
ip netns exec "$R" sysctl -qw net.ipv4.fib_multipath_hash_policy=1
for i in 1 2 3 4; do
  ip -n "${S[i]}" route add default via 192.0.2.1
  ip -n "${S[i]}" addr add "$VIP/32" dev lo
  ip -n "$R" link set dev "r-s$i" xdpdrv obj "$XDP_PASS_OBJ" sec xdp || fail "XDP_PASS on r-s$i"
done
bird_ecmp_tor 3
start_bird "$R" "$RUN/bird.conf"

# ---- servers -------------------------------------------------------------------------------------
NAME=(x s1 s2 s3 a4)
ADDR=(x 192.0.2.11 192.0.2.12 192.0.2.13 192.0.2.14)
MEMBERS="s1 s2 s3"   # the site as s1..s3 know it; a4 always knows all four
write_conf() {  # write_conf I [MEMBERS] -> $RUN/s$I.conf
  local i=$1 members=${2:-$MEMBERS} j role="" nb
  nb="neighbor { name: \"tor\" address: \"192.0.2.1\" remote_asn: 65000 hold_time_s: 9 connect_retry_s: 1 }"
  if ((i == 4)); then role=" role: BACKEND_ONLY"; nb=""; members="s1 s2 s3 a4"; fi
  {
    echo "node { name: \"${NAME[i]}\" router_id: \"192.0.2.1$i\" asn: 6501$i address: \"${ADDR[i]}\" interface: \"eth0\"$role }"
    echo "$nb"
    cat <<EOF
service {
  name: "web"
  vip { address: "$VIP" port: 80 protocol: TCP }
  announce { prefix: "$VIP/32" }
  check { name: "web" tcp { port: 80 } interval_ms: 200 timeout_ms: 150 rise: 2 fall: 2 }
}
EOF
    echo "site {"
    for j in 1 2 3 4; do
      [[ " $members " == *" ${NAME[j]} "* ]] || continue
      local r=""; ((j == 4)) && r=" role: BACKEND_ONLY"
      echo "  server { name: \"${NAME[j]}\" address: \"${ADDR[j]}\" weight: 100$r }"
    done
    echo "}"
    echo "forwarding { enabled: true gue_port: 6080 hash_seed: 2654435761 }"
    echo "control { socket: \"$RUN/s$i.sock\" }"
  } >"$RUN/s$i.conf"
}
vctl() { "$VANECTL" --socket "$RUN/s$1.sock" "${@:2}"; }
site_weight() {  # site_weight I SERVER -> SERVER's effective weight in web's table, as server I sees it
  vctl "$1" -o json show site | "$PY" -c '
import json, sys
for s in json.load(sys.stdin)["site"]["servers"]:
    if s["name"] == sys.argv[1]:
        print(next((int(x["weight"]) for x in s["services"] if x["service"] == "web"), -1))' "$2"
}
generation() { vctl "$1" -o json show site | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["site"]["table_generation"])'; }
prog_id() { ip -n "${S[$1]}" -d link show eth0 | grep -o 'prog/xdp id [0-9]*' | awk '{print $3}'; }
converged() {  # converged SERVER... : s1..s3 see each listed server at weight 100
  local i s
  for i in 1 2 3; do for s in "$@"; do [[ $(site_weight "$i" "$s") == 100 ]] || return 1; done; done
}

for i in 1 2 3 4; do
  bg "${S[i]}" "tcp-s$i" "$PY" "$HERE/xdp_server.py" "${NAME[i]}" "$VIP:80"
  write_conf "$i"
  "$VANED" --check "$RUN/s$i.conf" >/dev/null || fail "${NAME[i]} config invalid: $("$VANED" --check "$RUN/s$i.conf" 2>&1)"
done
for i in 1 2 3 4; do wait_for 10 "TCP server on ${NAME[i]}" grep -q ready "$RUN/tcp-s$i.log"; done
declare -A VPID
for i in 1 2 3 4; do
  bpffs_add "$RUN/bpffs-s$i"
  bg "${S[$i]}" "vaned-s$i" sh -c 'mount --bind "$0" /sys/fs/bpf && exec "$@"' "$RUN/bpffs-s$i" \
    "$VANED" --config "$RUN/s$i.conf" --log-level info
  VPID[$i]=$LAST_PID
done
for ((t = 0; ; t++)); do
  for i in 1 2 3 4; do
    kill -0 "${VPID[$i]}" 2>/dev/null || fail "vaned on ${NAME[i]} exited: $(tail -n 3 "$RUN/vaned-s$i.log")"
  done
  [[ $(ip -n "$R" route show $VIP | grep -c 'nexthop via') == 3 ]] && break
  ((t < 300)) || fail "timed out after 30s waiting for the kernel ECMP route over s1..s3"
  sleep 0.1
done
wait_for 15 "site health to converge over s1..s3" converged s1 s2 s3
wait_for 15 "a4's redirector" grep -Eq 'forwarding: XDP redirector native on eth0' "$RUN/vaned-s4.log"

# The shares of new connections: each listed server within 20% (relative) of an equal share.
spread_ok() {  # spread_ok TAG FIRST_PORT SERVER...
  local tag=$1 port=$2; shift 2
  ip netns exec "$C" timeout 90 "$PY" "$HERE/xdp_client.py" bulk "$CLIENT" "$VIP:80" "$port" "$N_BULK" \
    --concurrency 32 --timeout 10 >"$RUN/$tag.json" || fail "($tag) not every connection completed: $(cat "$RUN/$tag.json")"
  "$PY" - "$RUN/$tag.json" "$@" <<'PY' || fail "($tag) shares off the tables: $(cat "$RUN/$tag.json")"
import json, sys
r = json.load(open(sys.argv[1]))
want = sys.argv[2:]
assert r["ok"] == r["total"] and set(r["counts"]) <= set(want), r
for s in want:
    got = r["counts"].get(s, 0) / r["ok"]
    print("  %s: %d connections, share %.3f (table share %.3f)" % (s, r["counts"].get(s, 0), got, 1 / len(want)), file=sys.stderr)
    assert abs(got * len(want) - 1) <= 0.2, s
PY
}
spread_ok before 20000 s1 s2 s3
log "before: $N_BULK new connections spread evenly over s1..s3"

# Load during each reload: held connections (idle, then asked again after the reload) and a
# paced stream of new ones.
declare -A HOLD_PID
hold_open() {  # hold_open TAG FIRST_PORT
  rm -f "$RUN/$1.ready" "$RUN/$1.go"
  bg "$C" "$1" "$PY" "$HERE/xdp_client.py" hold "$CLIENT" "$VIP:80" "$2" "$N_HOLD" "$RUN/$1.ready" "$RUN/$1.go" \
    --timeout 10 --wait 90
  HOLD_PID[$1]=$LAST_PID
  wait_for 20 "held connections open ($1)" test -s "$RUN/$1.ready"
}
hold_check() {  # hold_check TAG: every held connection still answers, from the same server
  touch "$RUN/$1.go"
  wait_for 30 "held connections checked ($1)" grep -q total "$RUN/$1.log"
  wait "${HOLD_PID[$1]}" || true
  "$PY" - "$RUN/$1.log" <<'PY' || fail "($1) held connections: $(tail -n 1 "$RUN/$1.log")"
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
assert r["go"] and not r["changed"] and not r["failures"], r
assert sum(r["counts"].values()) == r["total"], "not every connection opened"
assert all(r["kept"].get(s, 0) == n for s, n in r["counts"].items()), r
PY
}
stream_start() {  # stream_start TAG FIRST_PORT
  bg "$C" "$1" "$PY" "$HERE/xdp_client.py" bulk "$CLIENT" "$VIP:80" "$2" "$N_STREAM" --concurrency 8 --timeout 10 --pace 40
  STREAM=$LAST_PID
}
stream_check() {  # stream_check TAG: every connection of the stream completed
  wait_for 60 "the stream of connections ($1)" grep -q total "$RUN/$1.log"
  wait "$STREAM" || true
  "$PY" -c 'import json,sys; r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); sys.exit(0 if r["ok"] == r["total"] else 1)' \
    "$RUN/$1.log" || fail "($1) connections failed during the reload: $(tail -n 1 "$RUN/$1.log")"
}

# ---- (a) a server that sorts first joins -----------------------------------------------------------
for i in 1 2 3; do prog[i]=$(prog_id "$i"); gen[i]=$(generation "$i"); done
hold_open hold-a 30000
stream_start stream-a 40000
sleep 2
MEMBERS="s1 s2 s3 a4"
for i in 1 2 3; do write_conf "$i"; kill -HUP "${VPID[$i]}"; done
wait_for 20 "s1..s3 see a4 at weight 100" converged s1 s2 s3 a4
stream_check stream-a
hold_check hold-a
for i in 1 2 3; do
  [[ $(prog_id "$i") == "${prog[i]}" ]] || fail "(a) ${NAME[i]}'s programs were reloaded for a server added"
  (($(generation "$i") > gen[i])) || fail "(a) ${NAME[i]}'s tables did not change"
done
spread_ok a 21500 a4 s1 s2 s3
log "(a) a4 joined before s1..s3 under load: $N_STREAM paced and $N_HOLD held connections unbroken, programs kept, a quarter each"

# ---- (b) s2's node address changes ---------------------------------------------------------------
ip -n "${S[2]}" addr add 192.0.2.22/24 dev eth0
prog2=$(prog_id 2)
hold_open hold-b 31000
stream_start stream-b 41000
sleep 2
ADDR[2]=192.0.2.22
for i in 2 1 3 4; do write_conf "$i"; kill -HUP "${VPID[$i]}"; done
wait_for 10 "s2 to load programs for its new address" grep -q "loading new programs (this node's addresses)" "$RUN/vaned-s2.log"
wait_for 20 "s1..s3 see every server at weight 100" converged s1 s2 s3 a4
stream_check stream-b
hold_check hold-b
p=$(prog_id 2)
[[ -n $p && $p != "$prog2" ]] || fail "(b) s2's program was not replaced (id $prog2 -> ${p:-none})"
grep -q "forwarding: reload:" "$RUN/vaned-s2.log" && fail "(b) s2's reload failed: $(grep 'forwarding: reload:' "$RUN/vaned-s2.log")"
decap_s2() {
  vctl 2 -o json show forwarding | "$PY" -c '
import json, sys
print(next(int(v["packets"]["decap_syn"]) for v in json.load(sys.stdin)["forwarding"]["vips"] if v["vip"] == "all"))'
}
d0=$(decap_s2)
spread_ok b 23000 a4 s1 s2 s3
d1=$(decap_s2)
((d1 > d0)) || fail "(b) s2 decapsulated no SYN at its new address"
log "(b) s2 moved to 192.0.2.22 under load: programs replaced in one step (id $prog2 -> $p), connections unbroken, a quarter each, $((d1 - d0)) SYNs by GUE to the new address"

# ---- (c) a reload whose forwarding apply fails ---------------------------------------------------
ip -n "${S[1]}" link add dum0 type bridge
ip -n "${S[1]}" link set dum0 up
prog1=$(prog_id 1)
gen1=$(generation 1)
hold_open hold-c 32000
stream_start stream-c 42000
sleep 2
write_conf 1
sed -i -e 's/interface: "eth0"/interface: "dum0"/' -e '/name: "a4"/s/weight: 100/weight: 0/' "$RUN/s1.conf"
grep -q 'interface: "dum0"' "$RUN/s1.conf" && grep -q 'name: "a4".*weight: 0' "$RUN/s1.conf" || fail "(c) config edit"
kill -HUP "${VPID[1]}"
wait_for 10 "s1's forwarding apply to fail" grep -q "forwarding: reload:.*dum0" "$RUN/vaned-s1.log"
log "(c) s1: $(grep "forwarding: reload:" "$RUN/vaned-s1.log" | tail -n 1 | sed 's/.*forwarding: reload: //')"
stream_check stream-c
hold_check hold-c
[[ $(prog_id 1) == "$prog1" ]] || fail "(c) s1's program on eth0 changed (id $prog1 -> $(prog_id 1))"
ip -n "${S[1]}" -d link show dum0 | grep -q 'prog/xdp' && fail "(c) a program was left on dum0"
[[ $(generation 1) == "$gen1" ]] || fail "(c) s1's table generation changed ($gen1 -> $(generation 1))"
kill -0 "${VPID[1]}" 2>/dev/null || fail "(c) s1's vaned exited"
# a4 keeps its share of the connections that reach s1 too: s1's tables are the ones before.
spread_ok c 25000 a4 s1 s2 s3
log "(c) s1's failed apply left its program (id $prog1), table generation $gen1 and tables; connections unbroken, a quarter each"
