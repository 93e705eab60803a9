#!/usr/bin/env bash
# vane's BGP speaker against a real GoBGP 3 (gobgpd) as the router:
#  - sessions over IPv4 (TCP MD5) and IPv6 (no MD5) reach Established, local AS 4-byte;
#  - an IPv4 and an IPv6 prefix arrive in GoBGP's RIB with the configured communities, large
#    communities, MED and prepend; a failing check withdraws both, recovery re-announces;
#  - routes GoBGP sends (3 IPv4 and 1 IPv6 added to its global RIB, exported to vaned by policy)
#    are received, counted and kept by vaned (vanectl show neighbors / show received);
#  - graceful restart: vaned SIGKILLed and started again; GoBGP (helper) keeps both routes in its
#    global RIB, flagged stale, throughout (polled); vaned's new OPEN has the Restart State bit,
#    and after the re-announce and End-of-RIB nothing is stale;
#  - SIGTERM: GoBGP receives Cease / Administrative Shutdown and the routes are gone at once.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bgp_lib.sh"

command -v gobgpd >/dev/null && command -v gobgp >/dev/null || skip "GoBGP not installed"
# The system interpreter: a pyenv shim in PATH costs ~0.2 s per call, and this test polls.
PY=$(command -v /usr/bin/python3 || command -v python3) || skip "python3 needed to read GoBGP's JSON"

bgp_topology 1
key=$(key_file tor1 "e2e-secret")

# gobgpd in R: accepts everything; exports only its own 198.51.100.0/24 and 2001:db8:ff::/48
# routes, and only to s1 (it would re-export what it learns). Graceful restart (helper) on both
# sessions.
API=50051  # on R's own loopback
cat >"$RUN/gobgp.toml" <<EOF
[global.config]
  as = 65000
  router-id = "192.0.2.1"
  port = 179
[global.apply-policy.config]
  default-import-policy = "accept-route"
  export-policy-list = ["to-s1"]
  default-export-policy = "reject-route"

[[defined-sets.prefix-sets]]
  prefix-set-name = "sent4"
  [[defined-sets.prefix-sets.prefix-list]]
    ip-prefix = "198.51.100.0/24"
    masklength-range = "24..32"
[[defined-sets.prefix-sets]]
  prefix-set-name = "sent6"
  [[defined-sets.prefix-sets.prefix-list]]
    ip-prefix = "2001:db8:ff::/48"
    masklength-range = "48..128"
[[defined-sets.neighbor-sets]]
  neighbor-set-name = "s1"
  neighbor-info-list = ["192.0.2.11", "2001:db8::11"]

[[policy-definitions]]
  name = "to-s1"
  [[policy-definitions.statements]]
    name = "sent4"
    [policy-definitions.statements.conditions.match-prefix-set]
      prefix-set = "sent4"
    [policy-definitions.statements.conditions.match-neighbor-set]
      neighbor-set = "s1"
    [policy-definitions.statements.actions]
      route-disposition = "accept-route"
  [[policy-definitions.statements]]
    name = "sent6"
    [policy-definitions.statements.conditions.match-prefix-set]
      prefix-set = "sent6"
    [policy-definitions.statements.conditions.match-neighbor-set]
      neighbor-set = "s1"
    [policy-definitions.statements.actions]
      route-disposition = "accept-route"

[[neighbors]]
  [neighbors.config]
    neighbor-address = "192.0.2.11"
    peer-as = 4200000011
    auth-password = "e2e-secret"
  [neighbors.timers.config]
    hold-time = 9
    keepalive-interval = 3
    connect-retry = 1
  [neighbors.graceful-restart.config]
    enabled = true
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true

[[neighbors]]
  [neighbors.config]
    neighbor-address = "2001:db8::11"
    peer-as = 4200000011
  [neighbors.timers.config]
    hold-time = 9
    keepalive-interval = 3
    connect-retry = 1
  [neighbors.graceful-restart.config]
    enabled = true
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
EOF
gobgpd --dry-run -f "$RUN/gobgp.toml" >/dev/null 2>&1 || fail "gobgp.toml invalid: $(gobgpd --dry-run -f "$RUN/gobgp.toml" 2>&1 | tail -3)"
bg "$R" gobgpd gobgpd -f "$RUN/gobgp.toml" --api-hosts "127.0.0.1:$API" --pprof-disable
# -u/-p, not --target: --target replaces host and port (it is meant for a unix socket URL).
gobgp_q() { ip netns exec "$R" gobgp -u 127.0.0.1 -p "$API" "$@"; }
wait_for 10 "gobgpd's API" gobgp_q global
# Routes for vaned to receive: in GoBGP's global RIB before vaned connects.
SENT4=(198.51.100.0/28 198.51.100.16/28 198.51.100.32/28)
SENT6=(2001:db8:ff::/48)
for p in "${SENT4[@]}"; do gobgp_q global rib add -a ipv4 "$p" community 65000:7 >/dev/null; done
for p in "${SENT6[@]}"; do gobgp_q global rib add -a ipv6 "$p" community 65000:7 >/dev/null; done

touch "$RUN/s1-up"
c1=$(vaned_conf 1 4200000011 "$(dual_stack_gr_neighbors "$key")" "$(web_service "$RUN/s1-up" v6)")
"$VANED" --check "$c1" >/dev/null || fail "s1 config invalid"
start_vaned "${S[1]}" vaned-s1 "$c1"; P1=$VANED_PID

# nbr ADDR EXPR: a Python expression on `gobgp neighbor ADDR -j` (n = the object); prints it.
nbr() {
  gobgp_q neighbor "$1" -j | "$PY" -c '
import json, sys
n = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$2"
}
established() { [[ $(nbr "$1" 'n["state"].get("session_state")') == 6 ]]; }  # 6: ESTABLISHED
wait_for 20 "s1 IPv4 session (MD5, 4-byte AS) Established" established 192.0.2.11
wait_for 20 "s1 IPv6 session Established" established 2001:db8::11
for a in 192.0.2.11 2001:db8::11; do
  [[ $(nbr $a 'n["state"]["peer_asn"]') == 4200000011 ]] || fail "$a: GoBGP sees peer AS $(nbr $a 'n["state"]["peer_asn"]')"
  # Captured first: grep -q would exit early and, with pipefail, SIGPIPE gobgp into a failure.
  text=$(gobgp_q neighbor $a)
  [[ $text =~ 4-octet-as:[[:space:]]*advertised\ and\ received ]] ||
    fail "$a: 4-byte AS capability not exchanged: $text"
done
[[ $(nbr 192.0.2.11 'n["conf"].get("auth_password")') == e2e-secret ]] || fail "GoBGP's IPv4 neighbour lacks the MD5 password"
log "sessions Established over IPv4 with MD5 and over IPv6, local AS 4200000011 (4-octet-as advertised and received)"

# rib FAMILY PREFIX EXPR: a Python expression on GoBGP's global RIB entry for PREFIX (p = its
# first path, a = {type: attribute}); prints "absent" when there is none.
rib() {
  gobgp_q global rib -a "$1" -j | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
ps = d.get(sys.argv[1]) or []
if not ps: print("absent"); sys.exit()
p = ps[0]
a = {x["type"]: x for x in p["attrs"]}
print(eval(sys.argv[2]))' "$2" "$3"
}
has_route() { [[ $(rib "$1" "$2" 'p["neighbor-ip"]') == "$3" ]]; }
no_route() { [[ $(rib "$1" "$2" 1) == absent ]]; }
wait_for 15 "203.0.113.10/32 from s1 in GoBGP" has_route ipv4 203.0.113.10/32 192.0.2.11
wait_for 15 "2001:db8:10::/48 from s1 in GoBGP" has_route ipv6 2001:db8:10::/48 2001:db8::11
check_attrs() {  # check_attrs FAMILY PREFIX NEXTHOP COMMUNITY_VALUES...
  local fam=$1 pfx=$2 nh=$3; shift 3
  local out
  out=$(rib "$fam" "$pfx" 'json.dumps(p)')
  "$PY" - "$out" "$nh" "$@" <<'PY' || fail "$pfx: attributes wrong: $out"
import json, sys
p, nh, comms = json.loads(sys.argv[1]), sys.argv[2], [int(c) for c in sys.argv[3:]]
a = {x["type"]: x for x in p["attrs"]}
errs = []
if a.get(1, {}).get("value") != 0: errs.append("origin IGP")
segs = a.get(2, {}).get("as_paths", [])
if [(s["segment_type"], s["asns"]) for s in segs] != [(2, [4200000011] * 3)]:
    errs.append("AS path: one AS_SEQUENCE 4200000011 x3 (prepend 2): %r" % segs)
if a.get(4, {}).get("metric") != 50: errs.append("MED 50")
if sorted(a.get(8, {}).get("communities", [])) != sorted(comms): errs.append("communities %r" % comms)
if a.get(32, {}).get("value") != [{"ASN": 4200000011, "LocalData1": 1, "LocalData2": 2}]: errs.append("large community")
hop = a[3]["nexthop"] if 3 in a else a.get(14, {}).get("nexthop")
if hop != nh: errs.append("next hop %s" % nh)
if errs: print("\n".join(errs), file=sys.stderr); sys.exit(1)
PY
}
# 65000:100 = 4259840100; no-export = 0xFFFFFF01 = 4294967041
check_attrs ipv4 203.0.113.10/32 192.0.2.11 4259840100 4294967041
check_attrs ipv6 2001:db8:10::/48 2001:db8::11 4259840100
log "IPv4 and IPv6 prefixes in GoBGP's RIB: AS path 4200000011 x3 (prepend 2), MED 50, origin IGP, communities 65000:100 (+no-export on IPv4), large community 4200000011:1:2, next hops 192.0.2.11 / 2001:db8::11"
[[ $(nbr 192.0.2.11 'sum(f["state"].get("accepted", 0) for f in n.get("afi_safis", []))') == 1 ]] ||
  fail "GoBGP should have accepted exactly 1 prefix from s1 over IPv4"

# Routes GoBGP sends: the 3 IPv4 and 1 IPv6 prefixes reach s1, counted and kept with attributes.
counts_ok() {  # vanectl show neighbors: tor1 and tor1v6 Established with 3 and 1 prefixes received
  local out
  out=$("$VANECTL" --socket "$RUN/s1.sock" -o json show neighbors) || return 1
  "$PY" - "$out" "${#SENT4[@]}" "${#SENT6[@]}" <<'PY'
import json, sys
n = {x["name"]: x for x in json.loads(sys.argv[1])["neighbors"]["neighbors"]}
ok = all(n[k]["state"] == "Established" and int(n[k]["prefixes_received"]) == int(c)
         for k, c in (("tor1", sys.argv[2]), ("tor1v6", sys.argv[3])))
sys.exit(0 if ok else sys.argv[1])
PY
}
wait_for 10 "vaned s1 counting GoBGP's ${#SENT4[@]} IPv4 and ${#SENT6[@]} IPv6 prefixes" counts_ok
out=$(gobgp_q neighbor 192.0.2.11 adj-out -a ipv4 -j)
sent=$("$PY" -c 'import json, sys; print(" ".join(sorted(json.loads(sys.argv[1]))))' "$out")
[[ $sent == "${SENT4[*]}" ]] || fail "GoBGP's Adj-RIB-Out to s1 should be exactly ${SENT4[*]}: $out"
a4=$(received_ok tor1 192.0.2.1 "${SENT4[@]}") || fail "vanectl show received tor1: $a4"
# The IPv6 next hop is not checked: vaned keeps a received route's attributes without
# MP_REACH_NLRI, so show received prints no next hop for IPv6 routes.
a6=$(received_ok tor1v6 - "${SENT6[@]}") || fail "vanectl show received tor1v6: $a6"
log "vanectl: s1 counts and keeps the routes GoBGP sends (${SENT4[0]} $a4; ${SENT6[0]} $a6)"
[[ $a6 == *next-hop* ]] ||
  log "not checked: the IPv6 next hop of received routes (vaned's show received drops MP_REACH_NLRI, so it has none)"

# Withdraw on failing health: both leave GoBGP's RIB; the sessions stay up.
downs0=$(grep -c '"Peer Down"' "$RUN/gobgpd.log" || true)
rm -f "$RUN/s1-up"
wait_for 10 "s1's IPv4 route withdrawn from GoBGP" no_route ipv4 203.0.113.10/32
wait_for 10 "s1's IPv6 route withdrawn from GoBGP" no_route ipv6 2001:db8:10::/48
established 192.0.2.11 && established 2001:db8::11 || fail "the withdraw must not reset the sessions"
[[ $(grep -c '"Peer Down"' "$RUN/gobgpd.log" || true) == "$downs0" ]] || fail "a session went down during the withdraw"
w4=$(nbr 192.0.2.11 'n["state"]["messages"]["received"].get("withdraw_prefix", 0)')
w6=$(nbr 2001:db8::11 'n["state"]["messages"]["received"].get("withdraw_prefix", 0)')
((w4 >= 1 && w6 >= 1)) || fail "GoBGP counted no withdrawn prefix (IPv4 $w4, IPv6 $w6)"
log "failing check: both prefixes left GoBGP's RIB (withdrawn prefixes counted: IPv4 $w4, IPv6 $w6), sessions untouched"
touch "$RUN/s1-up"
wait_for 10 "s1's IPv4 route back" has_route ipv4 203.0.113.10/32 192.0.2.11
wait_for 10 "s1's IPv6 route back" has_route ipv6 2001:db8:10::/48 2001:db8::11
log "recovery re-announces both prefixes"

# Graceful restart: SIGKILL vaned and start it again; a watcher polls GoBGP's global RIB for both
# routes until told to stop; a poll without the route is recorded.
for a in 192.0.2.11 2001:db8::11; do
  text=$(gobgp_q neighbor $a)
  [[ $text =~ graceful-restart:[[:space:]]*advertised\ and\ received ]] || fail "$a: GR capability not exchanged: $text"
  grep -q 'Remote: restart time 30 sec$' <<<"$text" || fail "$a: GoBGP should see restart time 30 s, R bit clear: $text"
  grep -q 'unicast, forward flag set' <<<"$text" || fail "$a: GoBGP should see the forwarding bit: $text"
done
log "GR capability exchanged on both sessions: GoBGP sees restart time 30 s, forward flag set, restart flag clear (fresh start)"
(
  while [[ ! -f $RUN/watch-stop ]]; do
    r4=$(gobgp_q global rib -a ipv4 203.0.113.10/32 -j 2>&1) r6=$(gobgp_q global rib -a ipv6 2001:db8:10::/48 -j 2>&1)
    [[ $r4 == *'"203.0.113.10/32":[{'* ]] || echo "IPv4 gone at $EPOCHREALTIME: $r4" >>"$RUN/watch-gaps"
    [[ $r6 == *'"2001:db8:10::/48":[{'* ]] || echo "IPv6 gone at $EPOCHREALTIME: $r6" >>"$RUN/watch-gaps"
    [[ $r4 == *'"stale":true'* && $r6 == *'"stale":true'* ]] && echo . >>"$RUN/watch-stale"
    sleep 0.02
  done
) &
WATCH=$!
E2E_PIDS+=("$WATCH")
kill -KILL "$P1"
wait "$P1" 2>/dev/null || true
stale() { [[ $(rib "$1" "$2" 'p.get("stale")') == True ]]; }
wait_for 10 "GoBGP keeping 203.0.113.10/32 as stale" stale ipv4 203.0.113.10/32
wait_for 10 "GoBGP keeping 2001:db8:10::/48 as stale" stale ipv6 2001:db8:10::/48
log "vaned SIGKILLed: GoBGP keeps both routes, flagged stale (logged: $(grep -c '"msg":"peer graceful restart"' "$RUN/gobgpd.log") x 'peer graceful restart')"
start_vaned "${S[1]}" vaned-s1b "$c1"; P1=$VANED_PID
wait_for 20 "s1 IPv4 session Established again" established 192.0.2.11
wait_for 20 "s1 IPv6 session Established again" established 2001:db8::11
grep -q "restarting after an unclean exit" "$RUN/vaned-s1b.log" || fail "vaned did not notice its unclean exit"
for a in 192.0.2.11 2001:db8::11; do
  text=$(gobgp_q neighbor $a)
  grep -q 'Remote: restart time 30 sec, restart flag set$' <<<"$text" || fail "$a: vaned's new OPEN lacks the Restart State bit: $text"
done
fresh() { [[ $(rib "$1" "$2" 'p.get("stale", False)') == False ]]; }
wait_for 10 "203.0.113.10/32 fresh again (re-announced)" fresh ipv4 203.0.113.10/32
wait_for 10 "2001:db8:10::/48 fresh again (re-announced)" fresh ipv6 2001:db8:10::/48
eor() { [[ $(nbr "$1" 'all(f["mp_graceful_restart"]["state"].get("end_of_rib_received") for f in n["afi_safis"])') == True ]]; }
wait_for 10 "GoBGP receiving vaned's IPv4 End-of-RIB" eor 192.0.2.11
wait_for 10 "GoBGP receiving vaned's IPv6 End-of-RIB" eor 2001:db8::11
sleep 0.5
touch "$RUN/watch-stop"
wait "$WATCH" || true
[[ -f $RUN/watch-gaps ]] && fail "a route left GoBGP's RIB during graceful restart: $(head -3 "$RUN/watch-gaps")"
[[ -f $RUN/watch-stale ]] || fail "the watcher never saw the stale routes: it proves nothing"
has_route ipv4 203.0.113.10/32 192.0.2.11 && has_route ipv6 2001:db8:10::/48 2001:db8::11 || fail "routes not from s1 after the restart"
log "vaned restarted: restart flag set in its OPEN, both routes re-announced and fresh, End-of-RIB received; GoBGP's RIB held them throughout ($(wc -l <"$RUN/watch-stale") polls saw them stale)"
wait_for 10 "the restarted vaned counting GoBGP's routes" counts_ok
a4=$(received_ok tor1 192.0.2.1 "${SENT4[@]}") || fail "after the restart, vanectl show received tor1: $a4"
a6=$(received_ok tor1v6 - "${SENT6[@]}") || fail "after the restart, vanectl show received tor1v6: $a6"
log "the restarted vaned holds GoBGP's ${#SENT4[@]} + ${#SENT6[@]} routes again"

# SIGTERM: Cease / Administrative Shutdown on both sessions, everything gone at once.
n0_4=$(nbr 192.0.2.11 'n["state"]["messages"]["received"].get("notification", 0)')
n0_6=$(nbr 2001:db8::11 'n["state"]["messages"]["received"].get("notification", 0)')
t0=$EPOCHREALTIME
vaned_stop "$P1"
((STOP_RC == 0)) || fail "vaned exited with $STOP_RC"
wait_for 2 "IPv4 route gone from GoBGP after SIGTERM" no_route ipv4 203.0.113.10/32
wait_for 2 "IPv6 route gone from GoBGP after SIGTERM" no_route ipv6 2001:db8:10::/48
ms=$("$PY" -c "print(int(($EPOCHREALTIME - $t0) * 1000))")
for a in 192.0.2.11 2001:db8::11; do
  established $a && fail "$a: still Established after SIGTERM"
  n1=$(nbr $a 'n["state"]["messages"]["received"].get("notification", 0)')
  n0=$n0_4; [[ $a == *:* ]] && n0=$n0_6
  ((n1 == n0 + 1)) || fail "$a: GoBGP should count exactly one more NOTIFICATION received ($n0 -> $n1)"
  line=$(grep '"Peer Down"' "$RUN/gobgpd.log" | grep "\"Key\":\"$a\"" | tail -1)
  grep -q 'notification-received code 6(cease) subcode 2(administrative shutdown)' <<<"$line" ||
    fail "$a: GoBGP did not log a received Cease/Administrative Shutdown: ${line:-no Peer Down}"
done
reason=$(grep '"received notification"' "$RUN/gobgpd.log" | grep '"Key":"192.0.2.11"' | tail -1 |
  "$PY" -c 'import json, sys; print(json.loads(sys.stdin.read()).get("Communicated-Reason", ""))')
log "SIGTERM: GoBGP logged 'notification-received code 6(cease) subcode 2(administrative shutdown)' on both sessions (shutdown communication \"$reason\"), routes gone in ${ms} ms, exit 0"
log PASS
