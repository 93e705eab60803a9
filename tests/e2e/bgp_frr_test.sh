#!/usr/bin/env bash
# vane's BGP speaker against a real FRR 8 bgpd (+ zebra, installing into the router namespace's
# kernel) as the ToR:
#  - sessions over IPv4 (TCP MD5) and IPv6 (no MD5) reach Established, local AS 4-byte;
#  - an IPv4 and an IPv6 prefix arrive in FRR's RIB with the configured communities, large
#    communities, MED and prepend; a failing check withdraws both, recovery re-announces;
#  - two vaned announcing one prefix give a kernel ECMP route with both next hops (via zebra);
#  - routes FRR sends (5 network statements, to s1 and s3) are received, counted and kept by s1
#    (vanectl show neighbors / show received, with FRR's AS in the AS path); s3 has a max-prefix
#    limit of 4 with action STOP and FRR records Cease / Maximum Number of Prefixes Reached;
#  - graceful restart: s1's vaned SIGKILLed and started again; FRR keeps the IPv4 and IPv6 routes
#    (flagged stale) and the kernel routes never leave the router's table; vaned's new OPEN has
#    the Restart State bit, and after the re-announce and End-of-RIB nothing is stale;
#  - SIGTERM withdraws everything and FRR records Cease / Administrative Shutdown.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bgp_lib.sh"

[[ -x /usr/lib/frr/bgpd && -x /usr/lib/frr/zebra ]] && command -v vtysh >/dev/null || skip "FRR not installed"
# The system interpreter: a pyenv shim in PATH costs ~0.2 s per call, and this test polls.
PY=$(command -v /usr/bin/python3 || command -v python3) || skip "python3 needed to read FRR's JSON"
id frr >/dev/null 2>&1 || skip "FRR's user 'frr' missing"

bgp_topology 3
key=$(key_file tor1 "e2e-secret")

frr_pathspace

SENT=(198.51.100.0/28 198.51.100.16/28 198.51.100.32/28 198.51.100.48/28 198.51.100.64/28)
cat >"$RUN/bgpd.conf" <<EOF
frr defaults traditional
hostname tor
!
ip prefix-list TO-S1 seq 5 permit 198.51.100.0/24 le 32
route-map TO-S1 permit 10
 match ip address prefix-list TO-S1
route-map DENY deny 10
!
router bgp 65000
 bgp router-id 192.0.2.1
 no bgp default ipv4-unicast
 no bgp ebgp-requires-policy
 no bgp network import-check
 bgp bestpath as-path multipath-relax
 bgp graceful-restart
 timers bgp 3 9
 neighbor 192.0.2.11 remote-as 4200000011
 neighbor 192.0.2.11 password e2e-secret
 neighbor 192.0.2.11 timers connect 1
 neighbor 192.0.2.12 remote-as 65012
 neighbor 192.0.2.12 password e2e-secret
 neighbor 192.0.2.12 timers connect 1
 neighbor 192.0.2.13 remote-as 65013
 neighbor 192.0.2.13 password e2e-secret
 neighbor 192.0.2.13 timers connect 1
 neighbor 2001:db8::11 remote-as 4200000011
 neighbor 2001:db8::11 timers connect 1
 !
 address-family ipv4 unicast
$(for p in "${SENT[@]}"; do echo "  network $p"; done)
  neighbor 192.0.2.11 activate
  neighbor 192.0.2.11 route-map TO-S1 out
  neighbor 192.0.2.12 activate
  neighbor 192.0.2.12 route-map DENY out
  neighbor 192.0.2.13 activate
  neighbor 192.0.2.13 route-map TO-S1 out
  maximum-paths 16
 exit-address-family
 !
 address-family ipv6 unicast
  neighbor 2001:db8::11 activate
  neighbor 2001:db8::11 route-map DENY out
  maximum-paths 16
 exit-address-family
!
EOF
start_frr "$R"

touch "$RUN/s1-up" "$RUN/s2-up"
# s1 warns above 4 received prefixes: the warning (with the count) is vaned's own record that
# the 5 routes FRR sends arrived. Both of its sessions offer graceful restart.
c1=$(vaned_conf 1 4200000011 "
neighbor {
  name: \"tor1\" address: \"192.0.2.1\" remote_asn: 65000 hold_time_s: 9 md5_key_file: \"$key\"
  keep_received_routes: true
  max_prefixes { limit: $((${#SENT[@]} - 1)) action: WARN }
  graceful_restart { restart_time_s: 30 }
}
neighbor {
  name: \"tor1v6\" address: \"2001:db8::1\" remote_asn: 65000 hold_time_s: 9
  graceful_restart { restart_time_s: 30 }
}
$(web_service "$RUN/s1-up" v6)")
c2=$(vaned_conf 2 65012 "
neighbor { name: \"tor1\" address: \"192.0.2.1\" remote_asn: 65000 hold_time_s: 9 md5_key_file: \"$key\" }
$(web_service "$RUN/s2-up")")
# s3 announces nothing and allows 4 prefixes: FRR's 5 must close the session (RFC 4486 6/1).
c3=$(vaned_conf 3 65013 "
neighbor {
  name: \"tor1\" address: \"192.0.2.1\" remote_asn: 65000 hold_time_s: 9 md5_key_file: \"$key\"
  max_prefixes { limit: $((${#SENT[@]} - 1)) action: STOP }
}")
"$VANED" --check "$c1" >/dev/null || fail "s1 config invalid"
"$VANED" --check "$c2" >/dev/null || fail "s2 config invalid"
"$VANED" --check "$c3" >/dev/null || fail "s3 config invalid"

start_vaned "${S[1]}" vaned-s1 "$c1"; P1=$VANED_PID
start_vaned "${S[2]}" vaned-s2 "$c2"; P2=$VANED_PID
start_vaned "${S[3]}" vaned-s3 "$c3"

# nbr ADDR EXPR [ARG]: evaluate a Python expression on FRR's `show bgp neighbors ADDR json` (n =
# that neighbour's object; ARG, if any, is sys.argv[3]); prints the value.
nbr() {
  vty "show bgp neighbors $1 json" | "$PY" -c '
import json, sys
n = json.load(sys.stdin).get(sys.argv[1], {})
print(eval(sys.argv[2]))' "$@"
}
established() { [[ $(nbr "$1" 'n.get("bgpState")') == Established ]]; }
wait_for 20 "s1 IPv4 session (MD5, 4-byte AS) Established" established 192.0.2.11
wait_for 20 "s1 IPv6 session Established" established 2001:db8::11
wait_for 20 "s2 IPv4 session Established" established 192.0.2.12
for a in 192.0.2.11 2001:db8::11; do
  [[ $(nbr $a 'n["remoteAs"]') == 4200000011 ]] || fail "$a: FRR sees remote AS $(nbr $a 'n["remoteAs"]')"
  cap=$(nbr $a 'n.get("neighborCapabilities", {}).get("4byteAs")')
  [[ $cap == advertisedAndReceived ]] || fail "$a: 4-byte AS capability: $cap"
done
[[ $(nbr 192.0.2.11 'n.get("addressFamilyInfo", {}).get("ipv4Unicast") is not None') == True ]] || fail "IPv4 family"
[[ $(nbr 2001:db8::11 'n.get("addressFamilyInfo", {}).get("ipv6Unicast") is not None') == True ]] || fail "IPv6 family"
log "sessions Established over IPv4 with MD5 and over IPv6, local AS 4200000011 (4-byte AS capability both ways)"

# path PREFIX PEER EXPR: evaluate EXPR on the path PEER sent for PREFIX in FRR's BGP table
# (p = the path); prints "absent" when there is none.
path() {
  local fam=ipv4; [[ $1 == *:* ]] && fam=ipv6
  vty "show bgp $fam unicast $1 json" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
ps = [p for p in d.get("paths", []) if p.get("peer", {}).get("peerId") == sys.argv[1]]
print(eval(sys.argv[2]) if ps else "absent")' "$2" "$3"
}
has_path() { [[ $(path "$1" "$2" 'ps[0]["valid"]') == True ]]; }
no_path() { [[ $(path "$1" "$2" 1) == absent ]]; }
wait_for 15 "203.0.113.10/32 from s1 in FRR" has_path 203.0.113.10/32 192.0.2.11
wait_for 15 "2001:db8:10::/48 from s1 in FRR" has_path 2001:db8:10::/48 2001:db8::11
check_attrs() {  # check_attrs PREFIX PEER NEXTHOP COMMUNITIES...
  local pfx=$1 peer=$2 nh=$3; shift 3
  local out
  out=$(path "$pfx" "$peer" "json.dumps(ps[0])")
  "$PY" - "$out" "$nh" "$@" <<'PY' || fail "$pfx from $peer: attributes wrong: $out"
import json, sys
p, nh, comms = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3:]
errs = []
if p["aspath"]["string"] != "4200000011 4200000011 4200000011" or p["aspath"]["length"] != 3:
    errs.append("AS path (2 prepends, length 3): %r" % p["aspath"])
if p.get("metric") != 50: errs.append("MED 50: %r" % p.get("metric"))
if p.get("origin") != "IGP": errs.append("origin IGP: %r" % p.get("origin"))
if sorted(p.get("community", {}).get("list", [])) != sorted(comms): errs.append("communities %r" % comms)
if p.get("largeCommunity", {}).get("list") != ["4200000011:1:2"]: errs.append("large community")
if [h["ip"] for h in p.get("nexthops", [])][:1] != [nh]: errs.append("next hop %s" % nh)
if errs: print("\n".join(errs), file=sys.stderr); sys.exit(1)
PY
}
check_attrs 203.0.113.10/32 192.0.2.11 192.0.2.11 65000:100 noExport
check_attrs 2001:db8:10::/48 2001:db8::11 2001:db8::11 65000:100
log "IPv4 and IPv6 prefixes in FRR's RIB: AS path 4200000011 x3 (prepend 2), MED 50, origin IGP, communities, large community 4200000011:1:2, next hops 192.0.2.11 / 2001:db8::11"

# ECMP: both servers' paths are multipath in FRR and zebra installs one kernel route over both.
ecmp2() { [[ $(ip -n "$R" route show 203.0.113.10 | grep -c 'nexthop via') == 2 ]]; }
wait_for 15 "kernel ECMP route over both servers" ecmp2
[[ $(kernel_nexthops "$R" 203.0.113.10) == "192.0.2.11 192.0.2.12 " ]] ||
  fail "ECMP next hops: $(ip -n "$R" route show 203.0.113.10)"
for pr in 192.0.2.11 192.0.2.12; do
  [[ $(path 203.0.113.10/32 $pr 'ps[0].get("multipath")') == True ]] || fail "FRR: path via $pr not multipath"
done
log "kernel ECMP route: $(kernel_nexthops "$R" 203.0.113.10)(FRR multipath over AS 4200000011 and 65012)"
[[ $(ip -n "$R" -6 route show 2001:db8:10::/48) == *'via 2001:db8::11 '* ]] ||
  fail "IPv6 route not in the router's kernel: $(ip -n "$R" -6 route show 2001:db8:10::/48)"
log "kernel IPv6 route: $(ip -n "$R" -6 route show 2001:db8:10::/48)"

# Routes from FRR: 5 network statements, sent to s1 only.
n=${#SENT[@]}
sent_to_s1() { vty "show bgp ipv4 unicast neighbors 192.0.2.11 advertised-routes json" | "$PY" -c '
import json, sys; print(json.load(sys.stdin).get("totalPrefixCounter"))'; }
sent_is() { [[ $(sent_to_s1) == "$1" ]]; }
wait_for 10 "FRR advertising $n prefixes to s1" sent_is "$n"
wait_for 10 "vaned s1 counting the $n routes FRR sent" \
  grep -q "bgp tor1: $n prefixes exceed the limit of $((n - 1))" "$RUN/vaned-s1.log"
established 192.0.2.11 || fail "max-prefix WARN must keep the session"
log "vaned s1 received the $n prefixes FRR sent: \"$(grep -m1 -o "bgp tor1: $n prefixes exceed.*" "$RUN/vaned-s1.log")\""
# vanectl: the routes are counted and, with keep_received_routes, held with their attributes.
out=$("$VANECTL" --socket "$RUN/s1.sock" -o json show neighbors) || fail "vanectl show neighbors failed: $out"
"$PY" - "$out" "$n" <<'PY' || fail "vanectl show neighbors: tor1 should hold FRR's $n prefixes: $out"
import json, sys
d = json.loads(sys.argv[1])
n = {x["name"]: x for x in d["neighbors"]["neighbors"]}
assert int(n["tor1"]["prefixes_received"]) == int(sys.argv[2]), n["tor1"]
assert n["tor1"]["state"] == "Established", n["tor1"]
assert int(n["tor1v6"]["prefixes_received"]) == 0, n["tor1v6"]
PY
# frr_received_ok SOCK: show received tor1 lists exactly the prefixes FRR sent, each with attributes
# whose AS path is FRR's AS 65000 alone; prints the first route's attributes.
frr_received_ok() {
  local out
  out=$("$VANECTL" --socket "$1" -o json show received tor1) || { echo "vanectl show received failed: $out"; return 1; }
  "$PY" - "$out" "${SENT[@]}" 2>&1 <<'PY'
import json, re, sys
d = json.loads(sys.argv[1])["received"]
want = sys.argv[2:]
errs = []
if int(d["total"]) != len(want) or d.get("count_only"): errs.append("total %s, count_only %s" % (d["total"], d.get("count_only")))
rs = d.get("routes", [])
if [r["prefix"] for r in rs] != want: errs.append("prefixes %r" % [r["prefix"] for r in rs])
for r in rs:
    a = r.get("attributes", "")
    path = re.search(r"as-path((?: \d+)*)", a)
    if not path or path.group(1).split() != ["65000"] or " next-hop 192.0.2.1 " not in a + " ":
        errs.append("%s: attributes %r (AS path 65000, next hop 192.0.2.1 expected)" % (r["prefix"], a))
    if r.get("stale"): errs.append("%s: stale" % r["prefix"])
if errs: sys.exit("; ".join(errs) + ": " + sys.argv[1])
print(rs[0]["attributes"])
PY
}
attrs=$(frr_received_ok "$RUN/s1.sock") || fail "vanectl show received tor1: $attrs"
log "vanectl: tor1 counts and keeps the $n prefixes FRR sent (first: ${SENT[0]} $attrs)"

# s3 allows 4 prefixes with action STOP: FRR records Cease / Maximum Number of Prefixes Reached.
max_closed() { [[ $(nbr 192.0.2.13 'n.get("lastErrorCodeSubcode")') == 0601 ]]; }
wait_for 15 "FRR: s3 closed with Cease / Maximum Number of Prefixes Reached" max_closed
reason=$(nbr 192.0.2.13 'n.get("lastNotificationReason")')
due=$(nbr 192.0.2.13 'n.get("lastResetDueTo")')
[[ $reason == "Cease/Maximum Number of Prefixes Reached" && $due == "BGP Notification received" ]] ||
  fail "FRR: s3 closed for another reason: reason=$reason due=$due"
grep -q "bgp tor1: $n prefixes exceed the limit of $((n - 1)): closing the session" "$RUN/vaned-s3.log" ||
  fail "vaned s3 did not log the max-prefix STOP"
sleep 2  # FRR keeps calling (connect retry 1 s): s3 must stay down (no restart_s)
established 192.0.2.13 && fail "s3 came back up after its max-prefix STOP"
log "s3 (limit $((n - 1)), STOP): FRR recorded '$reason' (0601, $due), session stays down"

# Withdraw on failing health: IPv4 and IPv6 leave FRR's RIB and the kernel; sessions untouched.
drops4=$(nbr 192.0.2.11 'n["connectionsDropped"]')
drops6=$(nbr 2001:db8::11 'n["connectionsDropped"]')
rm -f "$RUN/s1-up"
wait_for 10 "s1's IPv4 route withdrawn from FRR" no_path 203.0.113.10/32 192.0.2.11
wait_for 10 "s1's IPv6 route withdrawn from FRR" no_path 2001:db8:10::/48 2001:db8::11
wait_for 10 "kernel route via s2 only" bash -c "[[ \"\$(ip -n '$R' route show 203.0.113.10)\" == *'via 192.0.2.12'* && \"\$(ip -n '$R' route show 203.0.113.10)\" != *192.0.2.11* ]]"
no_route6() { [[ -z $(ip -n "$R" -6 route show 2001:db8:10::/48) ]]; }
wait_for 10 "IPv6 kernel route gone" no_route6
established 192.0.2.11 && established 2001:db8::11 || fail "the withdraw must not reset the sessions"
[[ $(nbr 192.0.2.11 'n["connectionsDropped"]') == "$drops4" && $(nbr 2001:db8::11 'n["connectionsDropped"]') == "$drops6" ]] ||
  fail "a session flapped during the withdraw"
log "failing check: both prefixes left FRR's RIB and the kernel (now $(kernel_nexthops "$R" 203.0.113.10)), sessions untouched"
touch "$RUN/s1-up"
wait_for 10 "s1's IPv4 route back" has_path 203.0.113.10/32 192.0.2.11
wait_for 10 "s1's IPv6 route back" has_path 2001:db8:10::/48 2001:db8::11
wait_for 10 "kernel ECMP route back" ecmp2
log "recovery re-announces: ECMP again ($(kernel_nexthops "$R" 203.0.113.10))"

# Graceful restart. s2 withdraws (failing check) so both kernel routes hang on s1 alone; a watcher
# polls them every 20 ms while s1's vaned is SIGKILLed and started again.
# gr ADDR EXPR: a Python expression on the neighbour's FRR JSON, g = its gracefulRestartInfo.
gr() { nbr "$1" 'eval(sys.argv[3], {"g": n.get("gracefulRestartInfo", {}), "n": n})' "$2"; }
for a in 192.0.2.11 2001:db8::11; do
  fam=ipv4Unicast; [[ $a == *:* ]] && fam=ipv6Unicast
  got=$(gr $a "(n.get('neighborCapabilities', {}).get('gracefulRestart'), g.get('remoteGrMode'), g.get('rBit'), g.get('$fam', {}).get('fBit'), g.get('timers', {}).get('receivedRestartTimer'))")
  [[ $got == "('advertisedAndReceived', 'Restart', False, True, 30)" ]] ||
    fail "$a: FRR's view of vaned's GR capability (capability, mode, R bit, F bit, restart time): $got"
done
log "GR capability exchanged on both sessions: FRR sees mode Restart, restart time 30 s, forwarding bit set, R bit clear (fresh start)"
rm -f "$RUN/s2-up"
via_s1_only() {
  local r4 r6
  r4=$(ip -n "$R" route show 203.0.113.10) r6=$(ip -n "$R" -6 route show 2001:db8:10::/48)
  [[ $r4 == *'via 192.0.2.11 '* && $r4 != *nexthop* && $r6 == *'via 2001:db8::11 '* ]]
}
wait_for 10 "kernel routes via s1 only" via_s1_only
(
  while [[ ! -f $RUN/watch-stop ]]; do
    ip -n "$R" route show 203.0.113.10 | grep -q 'via 192.0.2.11 ' || echo "IPv4 gone at $EPOCHREALTIME" >>"$RUN/watch-gaps"
    ip -n "$R" -6 route show 2001:db8:10::/48 | grep -q 'via 2001:db8::11 ' || echo "IPv6 gone at $EPOCHREALTIME" >>"$RUN/watch-gaps"
    sleep 0.02
  done
) &
WATCH=$!
E2E_PIDS+=("$WATCH")
kill -KILL "$P1"
wait "$P1" 2>/dev/null || true
stale() { [[ $(path "$1" "$2" 'ps[0].get("stale")') == True ]]; }
wait_for 10 "FRR keeping 203.0.113.10/32 from s1 as stale" stale 203.0.113.10/32 192.0.2.11
wait_for 10 "FRR keeping 2001:db8:10::/48 from s1 as stale" stale 2001:db8:10::/48 2001:db8::11
for a in 192.0.2.11 2001:db8::11; do
  got=$(gr $a "(n.get('lastResetDueTo'), 'restartTimerRemaining' in g.get('timers', {}))")
  [[ $got == "('NSF peer closed the session', True)" ]] || fail "$a: FRR is not helping a graceful restart: $got"
done
log "vaned SIGKILLed: FRR keeps both routes flagged stale ('NSF peer closed the session', restart timer $(gr 192.0.2.11 "g['timers']['restartTimerRemaining']") s left)"
start_vaned "${S[1]}" vaned-s1b "$c1"; P1=$VANED_PID
wait_for 20 "s1 IPv4 session Established again" established 192.0.2.11
wait_for 20 "s1 IPv6 session Established again" established 2001:db8::11
grep -q "restarting after an unclean exit" "$RUN/vaned-s1b.log" || fail "vaned did not notice its unclean exit"
for a in 192.0.2.11 2001:db8::11; do
  [[ $(gr $a "g.get('rBit')") == True ]] || fail "$a: vaned's new OPEN lacks the Restart State bit: $(gr $a g)"
done
fresh() { [[ $(path "$1" "$2" 'ps[0].get("stale", False)') == False ]]; }
wait_for 10 "203.0.113.10/32 from s1 fresh again (re-announced)" fresh 203.0.113.10/32 192.0.2.11
wait_for 10 "2001:db8:10::/48 from s1 fresh again (re-announced)" fresh 2001:db8:10::/48 2001:db8::11
eor() { [[ $(gr "$1" "g.get('endOfRibRecv', {}).get('$2')") == True ]]; }
wait_for 10 "FRR receiving vaned's IPv4 End-of-RIB" eor 192.0.2.11 ipv4Unicast
wait_for 10 "FRR receiving vaned's IPv6 End-of-RIB" eor 2001:db8::11 ipv6Unicast
sleep 1
touch "$RUN/watch-stop"
wait "$WATCH" || true
[[ -f $RUN/watch-gaps ]] && fail "a route left the kernel during graceful restart: $(head -3 "$RUN/watch-gaps")"
via_s1_only || fail "kernel routes changed across the restart: $(ip -n "$R" route show 203.0.113.10); $(ip -n "$R" -6 route show 2001:db8:10::/48)"
log "vaned restarted: R bit set in its OPEN, both routes re-announced and fresh, End-of-RIB received; the kernel routes never left (polled every 20 ms)"
wait_for 10 "the restarted vaned holding FRR's $n routes" frr_received_ok "$RUN/s1.sock"
attrs=$(frr_received_ok "$RUN/s1.sock") || fail "after the restart, vanectl show received tor1: $attrs"
log "the restarted vaned holds FRR's $n prefixes again"
touch "$RUN/s2-up"
wait_for 10 "kernel ECMP route back" ecmp2

# SIGTERM: Cease / Administrative Shutdown on both sessions, everything withdrawn at once.
for a in 192.0.2.11 2001:db8::11; do
  [[ $(nbr $a 'n.get("lastNotificationReason")') == *"Administrative Shutdown"* ]] &&
    fail "$a: an Administrative Shutdown is already recorded before SIGTERM; the check would prove nothing"
done
t0=$EPOCHREALTIME
vaned_stop "$P1"
((STOP_RC == 0)) || fail "vaned exited with $STOP_RC"
wait_for 5 "s1's IPv4 route gone after SIGTERM" no_path 203.0.113.10/32 192.0.2.11
wait_for 5 "s1's IPv6 route gone after SIGTERM" no_path 2001:db8:10::/48 2001:db8::11
wait_for 5 "kernel route via s2 only after SIGTERM" bash -c "[[ \"\$(ip -n '$R' route show 203.0.113.10)\" != *192.0.2.11* ]]"
ms=$("$PY" -c "print(int(($EPOCHREALTIME - $t0) * 1000))")
for a in 192.0.2.11 2001:db8::11; do
  reason=$(nbr $a 'n.get("lastNotificationReason")')
  code=$(nbr $a 'n.get("lastErrorCodeSubcode")')
  due=$(nbr $a 'n.get("lastResetDueTo")')
  [[ $reason == "Cease/Administrative Shutdown" && $code == 0602 && $due == "BGP Notification received" ]] ||
    fail "$a: FRR did not record a received Cease/Administrative Shutdown: reason=$reason code=$code due=$due"
  established $a && fail "$a: still Established after SIGTERM"
done
no_route6 || fail "IPv6 route still in the kernel after SIGTERM: $(ip -n "$R" -6 route show 2001:db8:10::/48)"
log "SIGTERM: FRR recorded 'Cease/Administrative Shutdown' (0602, \"$(nbr 192.0.2.11 'n.get("lastShutdownDescription")')\") on both sessions, routes gone from FRR and the kernel in ${ms} ms, exit 0"
log PASS
