#!/usr/bin/env bash
# The health engine end to end, with a real FRR 8 (bgpd + zebra installing into the router
# namespace's kernel) as the ToR and two vaned servers, each with a real HTTP service on the VIP
# and an http check on it (see health_lib.sh):
#  - `vaned --check` refuses an unknown check kind, port 0, a missing command (FILE:LINE:COLUMN);
#  - stopping s1's HTTP server takes s1's next hop out of the kernel route, starting it puts it
#    back; s2's path is never withdrawn or re-sent (FRR's UPDATE counter for s2 and the path's
#    last-update time stay the same);
#  - a service flapping every 400 ms for 10 s makes no more UPDATEs than its dampening allows
#    (FRR's updatesRecv), while the same flap undampened on s2 makes far more;
#  - drain (SIGUSR1, the whole node): s1 re-announces with GRACEFUL_SHUTDOWN + prepend, FRR's
#    inbound route-map (RFC 8326) sets local-preference 0, the kernel route keeps only s2, the
#    withdraw follows after the drain time; SIGUSR2 brings s1 back;
#  - SIGTERM: the route is withdrawn explicitly (an UPDATE counted by FRR) before the Cease /
#    Administrative Shutdown.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bgp_lib.sh"
source "$(dirname "$0")/health_lib.sh"

[[ -x /usr/lib/frr/bgpd && -x /usr/lib/frr/zebra ]] && command -v vtysh >/dev/null || skip "FRR not installed"
id frr >/dev/null 2>&1 || skip "FRR's user 'frr' missing"

health_topology
bad_check_configs

frr_pathspace

# RFC 8326 on the receiving side: a route-map matching the graceful-shutdown community sets
# local-preference 0. FRR 8.4 already does that by itself for eBGP paths (bgp_update() lowers
# local-pref to 0 when the community is present; this test also passes with the route-map
# removed); the route-map states the ToR's policy explicitly, as an operator would, and covers
# iBGP and releases without the built-in rule.
cat >"$RUN/bgpd.conf" <<EOF
frr defaults traditional
hostname tor
! Every prefix FRR receives is logged (bgpd.log): the count of UPDATEs about one prefix. FRR's
! updatesRecv is per neighbour, and s2's undampened flap check (exec, 50 ms timeout, fall 1) may
! time out once when the machine is loaded, an UPDATE pair for 203.0.113.21 only.
debug bgp updates in
! Apply route-map changes at once: with the default 5 s delay, FRR handles the route-maps loaded
! at start-up 5 s later by asking every neighbour for a ROUTE-REFRESH, and the servers' answers
! (re-sent paths) would land in the middle of the counts below.
bgp route-map delay-timer 0
!
bgp community-list standard GSHUT seq 5 permit graceful-shutdown
route-map FROM-SERVERS permit 10
 match community GSHUT
 set local-preference 0
route-map FROM-SERVERS permit 20
route-map DENY deny 10
!
router bgp 65000
 bgp router-id 192.0.2.1
 no bgp default ipv4-unicast
 no bgp ebgp-requires-policy
 bgp bestpath as-path multipath-relax
 timers bgp 3 9
 neighbor 192.0.2.11 remote-as 65011
 neighbor 192.0.2.11 timers connect 1
 neighbor 192.0.2.12 remote-as 65012
 neighbor 192.0.2.12 timers connect 1
 !
 address-family ipv4 unicast
  neighbor 192.0.2.11 activate
  neighbor 192.0.2.11 route-map FROM-SERVERS in
  neighbor 192.0.2.11 route-map DENY out
  neighbor 192.0.2.12 activate
  neighbor 192.0.2.12 route-map FROM-SERVERS in
  neighbor 192.0.2.12 route-map DENY out
  maximum-paths 16
 exit-address-family
!
EOF
start_frr "$R"

c1=$(health_conf 1 65011 'neighbor { name: "tor1" address: "192.0.2.1" remote_asn: 65000 hold_time_s: 9 }')
c2=$(health_conf 2 65012 'neighbor { name: "tor1" address: "192.0.2.1" remote_asn: 65000 hold_time_s: 9 }')
"$VANED" --check "$c1" >/dev/null || fail "s1 config invalid"
"$VANED" --check "$c2" >/dev/null || fail "s2 config invalid"

http_start 1
http_start 2
start_vaned "${S[1]}" vaned-s1 "$c1"; P1=$VANED_PID
start_vaned "${S[2]}" vaned-s2 "$c2"; P2=$VANED_PID

# nbr ADDR EXPR: a Python expression on `show bgp neighbors ADDR json` (n = that neighbour).
nbr() {
  vty "show bgp neighbors $1 json" | "$PY" -c '
import json, sys
n = json.load(sys.stdin).get(sys.argv[1], {})
print(eval(sys.argv[2]))' "$1" "$2"
}
established() { [[ $(nbr "$1" 'n.get("bgpState")') == Established ]]; }
updates() { nbr "$1" 'n["messageStats"]["updatesRecv"]'; }  # UPDATE messages received from ADDR
# path ADDR PEER EXPR: EXPR on the path PEER sent for ADDR/32 (p = that path); "absent" if none.
path() {
  vty "show bgp ipv4 unicast $1/32 json" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
ps = [p for p in d.get("paths", []) if p.get("peer", {}).get("peerId") == sys.argv[1]]
p = ps[0] if ps else None
print(eval(sys.argv[2]) if p else "absent")' "$2" "$3"
}
has_path() { [[ $(path "$1" "$2" 'p["valid"]') == True ]]; }
# prefix_updates PEER ADDR: UPDATEs about ADDR/32 (announce or withdraw) FRR logged from PEER.
prefix_updates() {
  grep -cE "BGP: .* ${1//./\\.}\([^)]*\) rcvd (UPDATE about )?${2//./\\.}/32 IPv4 unicast" "$RUN/bgpd.log" || true
}
no_path() { [[ $(path "$1" "$2" 1) == absent ]]; }
# same_since ADDR PEER EPOCH: the path's last update is still EPOCH. FRR prints it as
# time(NULL) - (monotime(NULL) - uptime), both truncated to whole seconds, so the same unchanged
# path reads as EPOCH or EPOCH+-1 depending on where the two clocks are in their seconds when it is
# asked (a fixed share of calls per boot: 3 in 4 on one machine). A re-sent path is caught exactly
# by the count of UPDATEs about the prefix in FRR's log (prefix_updates), which every use of this
# also compares.
same_since() {
  local now; now=$(path "$1" "$2" 'p["lastUpdate"]["epoch"]')
  [[ $now =~ ^[0-9]+$ ]] && (( now - $3 <= 1 && $3 - now <= 1 ))
}

wait_for 20 "s1 Established" established 192.0.2.11
wait_for 20 "s2 Established" established 192.0.2.12
wait_for 15 "kernel ECMP route over s1 and s2" kernel_has 192.0.2.11 192.0.2.12
wait_for 10 "s1's flap prefix in FRR" has_path $FLAP1 192.0.2.11
wait_for 10 "s2's flap prefix in FRR" has_path $FLAP2 192.0.2.12
log "kernel route $WEB: $(kernel_nexthops "$R" $WEB)(both HTTP services healthy)"

# 1. Stop s1's HTTP service: s1's next hop leaves the kernel route; start it: it comes back.
#    s2's path must not move at all.
s2_upd=$(prefix_updates 192.0.2.12 $WEB)
s2_since=$(path $WEB 192.0.2.12 'p["lastUpdate"]["epoch"]')
drops1=$(nbr 192.0.2.11 'n["connectionsDropped"]')
t0=$(now_ms)
http_stop 1
wait_for 10 "s1's next hop gone after its HTTP server stopped" kernel_has 192.0.2.12
t1=$(now_ms)
no_path $WEB 192.0.2.11 || fail "s1's path still in FRR"
log "HTTP service on s1 stopped: kernel route now $(kernel_nexthops "$R" $WEB)after $((t1 - t0)) ms"
http_start 1
t0=$(now_ms)
wait_for 10 "s1's next hop back after its HTTP server started" kernel_has 192.0.2.11 192.0.2.12
log "HTTP service on s1 started: kernel route $(kernel_nexthops "$R" $WEB)after $(($(now_ms) - t0)) ms"
[[ $(nbr 192.0.2.11 'n["connectionsDropped"]') == "$drops1" ]] && established 192.0.2.11 ||
  fail "a health change must not reset the session"
[[ $(prefix_updates 192.0.2.12 $WEB) == "$s2_upd" ]] || fail "FRR received UPDATEs about $WEB from s2: $s2_upd -> $(prefix_updates 192.0.2.12 $WEB)"
same_since $WEB 192.0.2.12 "$s2_since" || fail "s2's path was re-sent (last update changed)"
log "s2's path untouched: FRR logged no UPDATE about $WEB from s2 (still $s2_upd), its path's last update still $(date -d "@$s2_since" +%T)"

# 2. Flap s1's and s2's flap services every 400 ms for 10 s; FRR counts the UPDATEs.
b1=$(updates 192.0.2.11) b2=$(updates 192.0.2.12)
ts=$EPOCHREALTIME
flap 10
sleep 1   # let the last verdicts reach FRR
W=$("$PY" -c "print(round($EPOCHREALTIME - $ts, 3))")
a1=$(updates 192.0.2.11) a2=$(updates 192.0.2.12)
n1=$((a1 - b1)) n2=$((a2 - b2))
bound=$(flap_bound "$W") || fail "$bound"
log "flap: $FLAP_TOGGLES toggles in ${W}s; FRR received from s1 (dampened) $n1 UPDATE(s) [$b1 -> $a1], from s2 (undampened) $n2 [$b2 -> $a2]; bound for s1: $bound"
((n1 >= 1)) || fail "s1's flap prefix never moved: the test flapped nothing"
((n1 <= bound)) || fail "s1 sent $n1 UPDATEs for a dampened flap, more than the $bound its settings allow"
((n2 > bound)) || fail "undampened s2 sent only $n2 UPDATEs (bound $bound): the bound does not bite"

# 3. Drain the whole of s1 (SIGUSR1): announced with GRACEFUL_SHUTDOWN and one prepend, FRR sets
#    local-preference 0 and the kernel keeps only s2; withdrawn after the drain time; SIGUSR2.
s2_upd=$(prefix_updates 192.0.2.12 $WEB) s2_since=$(path $WEB 192.0.2.12 'p["lastUpdate"]["epoch"]')
kill -USR1 "$P1"
t0=$EPOCHREALTIME
gshut() { [[ $(path $WEB 192.0.2.11 '"graceful-shutdown" in p.get("community", {}).get("string", "")') == True ]]; }
wait_for 3 "s1's path re-announced with GRACEFUL_SHUTDOWN" gshut
[[ $(path $WEB 192.0.2.11 'p.get("locPrf")') == 0 ]] || fail "FRR did not set local-preference 0: $(path $WEB 192.0.2.11 'p')"
[[ $(path $WEB 192.0.2.11 'p["aspath"]["string"]') == "65011 65011" ]] || fail "drain_prepend 1 expected: $(path $WEB 192.0.2.11 'p["aspath"]')"
wait_for 3 "kernel route via s2 only while s1 drains" kernel_has 192.0.2.12
has_path $WEB 192.0.2.11 || fail "s1 withdrew before its drain time"
[[ $(path $WEB 192.0.2.12 'p.get("bestpath", {}).get("overall")') == True ]] || fail "FRR's best path is not s2's"
log "draining: s1 still announces $WEB (graceful-shutdown, locPrf 0, AS path 65011 65011); FRR's best is s2; kernel route $(kernel_nexthops "$R" $WEB)"
wait_for $((WEB_DRAIN_S + 3)) "s1's path withdrawn after the drain time" no_path $WEB 192.0.2.11
ms=$("$PY" -c "print(int(($EPOCHREALTIME - $t0) * 1000))")
((ms >= WEB_DRAIN_S * 1000 - 300)) || fail "withdrawn after $ms ms, before the ${WEB_DRAIN_S}s drain time"
log "drain: withdrawn ${ms} ms after SIGUSR1 (drain_time_s $WEB_DRAIN_S)"
kernel_has 192.0.2.12 || fail "kernel route changed: $(kernel_nexthops "$R" $WEB)"
kill -USR2 "$P1"
wait_for 5 "kernel ECMP route back after SIGUSR2" kernel_has 192.0.2.11 192.0.2.12
gshut && fail "GRACEFUL_SHUTDOWN still on s1's path after undrain"
[[ $(path $WEB 192.0.2.11 'p["aspath"]["string"]') == 65011 ]] || fail "prepend still on s1's path after undrain"
[[ $(prefix_updates 192.0.2.12 $WEB) == "$s2_upd" ]] && same_since $WEB 192.0.2.12 "$s2_since" ||
  fail "s2's path moved during s1's drain"
log "undrain (SIGUSR2): s1's path back without GRACEFUL_SHUTDOWN; kernel route $(kernel_nexthops "$R" $WEB); s2's path untouched throughout"

# 4. SIGTERM: an explicit withdraw (one more UPDATE counted by FRR), then Cease / Administrative
#    Shutdown; the route is gone from the kernel by the time vaned has exited.
u0=$(updates 192.0.2.11)
t0=$EPOCHREALTIME
vaned_stop "$P1"
((STOP_RC == 0)) || fail "vaned exited with $STOP_RC"
wait_for 1 "s1's next hop gone right after SIGTERM" kernel_has 192.0.2.12
ms=$("$PY" -c "print(int(($EPOCHREALTIME - $t0) * 1000))")
cease() { [[ $(nbr 192.0.2.11 '(n.get("lastNotificationReason"), n.get("lastErrorCodeSubcode"), n.get("lastResetDueTo"))') == "('Cease/Administrative Shutdown', '0602', 'BGP Notification received')" ]]; }
wait_for 5 "FRR records a received Cease / Administrative Shutdown" cease
u1=$(updates 192.0.2.11)
((u1 == u0 + 1)) || fail "FRR counted $((u1 - u0)) UPDATE(s) from s1 at SIGTERM, expected the 1 explicit withdraw"
log "SIGTERM: 1 withdraw UPDATE then Cease / Administrative Shutdown (0602) seen by FRR; s1's next hop gone ${ms} ms after the signal, exit 0"
log PASS
