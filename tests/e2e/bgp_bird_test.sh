#!/usr/bin/env bash
# vane's BGP speaker against a real BIRD 2 as the ToR:
#  - sessions over IPv4 (TCP MD5) and IPv6 (no MD5) reach Established, local AS 4-byte;
#  - an IPv4 and an IPv6 prefix arrive with the configured communities, large communities, MED
#    and prepend; a failing check withdraws both;
#  - two vaned announcing one prefix give a kernel ECMP route with both next hops;
#  - graceful restart: vaned SIGKILLed and started again, the route never leaves the kernel;
#  - routes BIRD sends are received, counted, kept when asked, and limited by max-prefix;
#  - SIGTERM withdraws everything and closes with Cease / Administrative Shutdown.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bgp_lib.sh"

bgp_topology 3
key=$(key_file tor1 "e2e-secret")

cat >"$RUN/bird.conf" <<EOF
log "$RUN/bird.log" all;
router id 192.0.2.1;
protocol device { scan time 10; }
protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; merge paths on limit 16; }
protocol kernel { ipv6 { import none; export where source = RTS_BGP; }; merge paths on limit 16; }
# Something for the servers to receive: 20 IPv4 prefixes, never in any FIB of theirs.
protocol static sent4 { ipv4; $(for k in $(seq 0 19); do printf 'route 198.51.100.%d/32 blackhole; ' $((k * 4)); done) }
template bgp v4 {
  local as 65000;
  ipv4 { import all; export where proto = "sent4"; };
  hold time 9; keepalive time 3; connect retry time 1;
  password "e2e-secret";
}
template bgp v6 {
  local as 65000;
  ipv6 { import all; export none; };
  hold time 9; keepalive time 3; connect retry time 1;
}
protocol bgp s1 from v4 { neighbor 192.0.2.11 as 4200000011; graceful restart on; }
protocol bgp s1v6 from v6 { neighbor 2001:db8::11 as 4200000011; }
protocol bgp s2 from v4 { neighbor 192.0.2.12 as 65012; ipv4 { import all; export none; }; }
protocol bgp s3 from v4 { neighbor 192.0.2.13 as 65013; }
EOF
start_bird "$R" "$RUN/bird.conf"
BC=$BIRD_CTL

touch "$RUN/s1-up" "$RUN/s2-up"
c1=$(vaned_conf 1 4200000011 "
neighbor {
  name: \"tor1\" address: \"192.0.2.1\" remote_asn: 65000 hold_time_s: 9 md5_key_file: \"$key\"
  keep_received_routes: true
  graceful_restart { restart_time_s: 30 }
}
neighbor { name: \"tor1v6\" address: \"2001:db8::1\" remote_asn: 65000 hold_time_s: 9 }
$(web_service "$RUN/s1-up" v6)")
c2=$(vaned_conf 2 65012 "
neighbor {
  name: \"tor1\" address: \"192.0.2.1\" remote_asn: 65000 hold_time_s: 9 md5_key_file: \"$key\"
}
$(web_service "$RUN/s2-up")")
c3=$(vaned_conf 3 65013 "
neighbor {
  name: \"tor1\" address: \"192.0.2.1\" remote_asn: 65000 hold_time_s: 9 md5_key_file: \"$key\"
  max_prefixes { limit: 10 action: STOP }
}")
"$VANED" --check "$c3" >/dev/null || fail "s3 config invalid"
"$VANED" --check "$c1" >/dev/null || fail "s1 config invalid"
"$VANED" --check "$c2" >/dev/null || fail "s2 config invalid"

start_vaned "${S[1]}" vaned-s1 "$c1"; P1=$VANED_PID
start_vaned "${S[2]}" vaned-s2 "$c2"; P2=$VANED_PID
start_vaned "${S[3]}" vaned-s3 "$c3"; P3=$VANED_PID

established() { birdc -s "$BC" show protocols "$1" | grep -q Established; }
wait_for 20 "s1 IPv4 session (MD5, 4-byte AS) Established" established s1
wait_for 20 "s1 IPv6 session Established" established s1v6
log "sessions Established over IPv4 with MD5 and over IPv6, local AS 4200000011"

# Attributes as BIRD sees them.
route4() { birdc -s "$BC" show route all 203.0.113.10/32 protocol s1; }
route6() { birdc -s "$BC" show route all 2001:db8:10::/48 protocol s1v6; }
wait_for 15 "203.0.113.10/32 from s1" bash -c "birdc -s '$BC' show route 203.0.113.10/32 protocol s1 | grep -q 203.0.113.10"
wait_for 15 "2001:db8:10::/48 from s1" bash -c "birdc -s '$BC' show route 2001:db8:10::/48 protocol s1v6 | grep -q 2001:db8:10::"
for r in route4 route6; do
  out=$($r)
  grep -q 'BGP.as_path: 4200000011 4200000011 4200000011$' <<<"$out" || fail "$r: AS path with 2 prepends expected: $out"
  grep -q 'BGP.med: 50' <<<"$out" || fail "$r: MED 50 expected: $out"
  grep -q 'BGP.community: (65000,100)' <<<"$out" || fail "$r: community expected: $out"
  grep -q 'BGP.large_community: (4200000011, 1, 2)' <<<"$out" || fail "$r: large community expected: $out"
  grep -q 'BGP.origin: IGP' <<<"$out" || fail "$r: origin IGP expected: $out"
done
grep -q '(65535,65281)' <<<"$(route4)" || fail "no-export community expected"
grep -q 'BGP.next_hop: 2001:db8::11' <<<"$(route6)" || fail "IPv6 next hop 2001:db8::11 expected: $(route6)"
log "IPv4 and IPv6 prefixes carry communities, large communities, MED and prepend"

# ECMP: both servers' paths merged into one kernel route.
wait_for 15 "kernel ECMP route over both servers" bash -c "[[ \"\$(ip -n '$R' route show 203.0.113.10 | grep -c 'nexthop via')\" == 2 ]]"
log "kernel route: $(kernel_nexthops "$R" 203.0.113.10)"

# Routes from the router: s1 keeps all 20; s3 has a limit of 10 and must close with Cease 6/1.
wait_for 15 "s3 closed for max-prefix" bash -c "birdc -s '$BC' show protocols all s3 | grep -qi 'Maximum number of prefixes'"
log "s3: $(birdc -s "$BC" show protocols all s3 | grep -i 'last error')"

# Withdraw on failing health: IPv4 and IPv6 leave BIRD, the path leaves the kernel route.
rm -f "$RUN/s1-up"
wait_for 10 "s1's IPv4 route withdrawn" bash -c "! birdc -s '$BC' show route 203.0.113.10/32 protocol s1 | grep -q 203.0.113.10"
wait_for 10 "s1's IPv6 route withdrawn" bash -c "! birdc -s '$BC' show route 2001:db8:10::/48 protocol s1v6 | grep -q 2001:db8:10::"
established s1 || fail "the withdraw must not reset the session"
touch "$RUN/s1-up"
wait_for 10 "s1's route back" bash -c "birdc -s '$BC' show route 203.0.113.10/32 protocol s1 | grep -q 203.0.113.10"
log "failing check withdraws, recovery re-announces, session untouched"

# vanectl sees the routes received from BIRD, counted and kept (s1 keeps them; s2 only counts).
out=$("$VANECTL" --socket "$RUN/s1.sock" -o json show neighbors) || fail "vanectl show neighbors failed: $out"
/usr/bin/python3 - "$out" <<'PY' || fail "vanectl show neighbors: tor1 should hold the router's 20 prefixes: $out"
import json, sys
d = json.loads(sys.argv[1])
n = {x["name"]: x for x in d["neighbors"]["neighbors"]}
assert int(n["tor1"]["prefixes_received"]) == 20, n["tor1"]
assert n["tor1"]["state"] == "Established", n["tor1"]
PY
out=$("$VANECTL" --socket "$RUN/s1.sock" -o json show received tor1) || fail "vanectl show received failed: $out"
/usr/bin/python3 - "$out" <<'PY' || fail "vanectl show received: 20 routes with attributes expected: $out"
import json, sys
d = json.loads(sys.argv[1])["received"]
assert int(d["total"]) == 20 and not d["count_only"], d
assert len(d["routes"]) == 20, len(d["routes"])
r = d["routes"][0]
assert r["prefix"] == "198.51.100.0/32" and "as-path 65000" in r["attributes"], r
PY
log "vanectl: tor1 holds and keeps the 20 prefixes BIRD sent ($("$VANECTL" --socket "$RUN/s1.sock" show received tor1 -n 1 | sed -n 3p))"

# Graceful restart: SIGKILL s1's vaned (on a non-ECMP prefix check: only s1 announces IPv6),
# start it again; the IPv4 path via s1 must stay in the kernel throughout.
stop_pid "$P2"   # s2 gone: the kernel route now hangs on s1 alone
wait_for 15 "route via s1 only" bash -c "[[ \"\$(ip -n '$R' route show 203.0.113.10)\" == *192.0.2.11* && \"\$(ip -n '$R' route show 203.0.113.10)\" != *nexthop* ]]"
(
  # Watch the kernel route every 20 ms until told to stop; a missing route is recorded.
  while [[ ! -f $RUN/watch-stop ]]; do
    ip -n "$R" route show 203.0.113.10 | grep -q 192.0.2.11 || echo "gone at $EPOCHREALTIME" >>"$RUN/watch-gaps"
    sleep 0.02
  done
) &
WATCH=$!
E2E_PIDS+=("$WATCH")
kill -KILL "$P1"
wait "$P1" 2>/dev/null || true
sleep 1
birdc -s "$BC" show protocols all s1 | grep -q 'Neighbor graceful restart active' ||
  fail "BIRD is not helping a graceful restart: $(birdc -s "$BC" show protocols all s1)"
log "BIRD keeps s1's routes: neighbor graceful restart active"
start_vaned "${S[1]}" vaned-s1b "$c1"; P1=$VANED_PID
wait_for 20 "s1 Established again" established s1
grep -q "restarting after an unclean exit" "$RUN/vaned-s1b.log" || fail "vaned did not notice its unclean exit"
sleep 2
touch "$RUN/watch-stop"
wait "$WATCH" || true
[[ -f $RUN/watch-gaps ]] && fail "the route left the kernel during graceful restart: $(head -3 "$RUN/watch-gaps")"
birdc -s "$BC" show route all 203.0.113.10/32 protocol s1 | grep -qi stale && fail "route still stale after End-of-RIB"
log "graceful restart: the route stayed in the kernel and is fresh again"

# SIGTERM: everything withdrawn and a Cease / Administrative Shutdown before exit.
vaned_stop "$P1"
((STOP_RC == 0)) || fail "vaned exited with $STOP_RC"
out=$(birdc -s "$BC" show protocols all s1)
grep -qi 'Administrative shutdown' <<<"$out" || fail "BIRD did not see Cease/Administrative Shutdown: $out"
ip -n "$R" route show 203.0.113.10 | grep -q . && fail "route still in the kernel after SIGTERM"
birdc -s "$BC" show route 2001:db8:10::/48 | grep -q 2001:db8:10:: && fail "IPv6 route still in BIRD after SIGTERM"
log "SIGTERM: withdrawn, Cease / Administrative Shutdown, exit 0"
log PASS
