#!/usr/bin/env bash
# vane's BGP speaker against a real GoBGP 3 (gobgpd) as the router:
#  - sessions over IPv4 (TCP MD5) and IPv6 (no MD5) reach Established, local AS 4-byte;
#  - an IPv4 and an IPv6 prefix arrive in GoBGP's RIB with the configured communities, large
#    communities, MED and prepend; a failing check withdraws both, recovery re-announces;
#  - SIGTERM: GoBGP receives Cease / Administrative Shutdown and the routes are gone at once.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bgp_lib.sh"

command -v gobgpd >/dev/null && command -v gobgp >/dev/null || skip "GoBGP not installed"
# The system interpreter: a pyenv shim in PATH costs ~0.2 s per call, and this test polls.
PY=$(command -v /usr/bin/python3 || command -v python3) || skip "python3 needed to read GoBGP's JSON"

bgp_topology 1
key=$(key_file tor1 "e2e-secret")

# gobgpd in R: accepts everything, exports nothing (it would re-export what it learns).
API=50051  # on R's own loopback
cat >"$RUN/gobgp.toml" <<EOF
[global.config]
  as = 65000
  router-id = "192.0.2.1"
  port = 179
[global.apply-policy.config]
  default-import-policy = "accept-route"
  default-export-policy = "reject-route"

[[neighbors]]
  [neighbors.config]
    neighbor-address = "192.0.2.11"
    peer-as = 4200000011
    auth-password = "e2e-secret"
  [neighbors.timers.config]
    hold-time = 9
    keepalive-interval = 3
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"

[[neighbors]]
  [neighbors.config]
    neighbor-address = "2001:db8::11"
    peer-as = 4200000011
  [neighbors.timers.config]
    hold-time = 9
    keepalive-interval = 3
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
EOF
gobgpd --dry-run -f "$RUN/gobgp.toml" >/dev/null 2>&1 || fail "gobgp.toml invalid: $(gobgpd --dry-run -f "$RUN/gobgp.toml" 2>&1 | tail -3)"
bg "$R" gobgpd gobgpd -f "$RUN/gobgp.toml" --api-hosts "127.0.0.1:$API" --pprof-disable
# -u/-p, not --target: --target replaces host and port (it is meant for a unix socket URL).
gobgp_q() { ip netns exec "$R" gobgp -u 127.0.0.1 -p "$API" "$@"; }
wait_for 10 "gobgpd's API" gobgp_q global

touch "$RUN/s1-up"
c1=$(vaned_conf 1 4200000011 "
neighbor { name: \"tor1\" address: \"192.0.2.1\" remote_asn: 65000 hold_time_s: 9 md5_key_file: \"$key\" }
neighbor { name: \"tor1v6\" address: \"2001:db8::1\" remote_asn: 65000 hold_time_s: 9 }
service {
  name: \"web\"
  vip { address: \"203.0.113.10\" port: 80 protocol: TCP }
  announce {
    prefix: \"203.0.113.10/32\"
    community: \"65000:100\" community: \"no-export\"
    large_community: \"4200000011:1:2\"
    med: 50
    prepend: 2
  }
  announce { prefix: \"2001:db8:10::/48\" community: \"65000:100\" large_community: \"4200000011:1:2\" med: 50 prepend: 2 }
  check { name: \"flag\" exec { command: \"test -f $RUN/s1-up\" } interval_ms: 100 timeout_ms: 90 rise: 1 fall: 1 }
}")
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
