#!/usr/bin/env bash
# Unnumbered BGP against FRR 8 (`neighbor r-s1 interface remote-as external`): no IPv4 or global
# IPv6 address on the link. vaned learns the router's link-local address from its router
# advertisements and sends its own (router lifetime 0), FRR accepts the session over link-local
# addresses (TCP MD5 on both sides), RFC 8950 is negotiated, and the router's kernel installs the
# IPv4 VIP via the server's IPv6 link-local next hop; the IPv6 VIP carries the link-local next hop
# too. A host taking vaned's RAs gets no default route from them (lifetime 0) and keeps its hop
# limit (Cur Hop Limit 0). The router side is what `vanectl router-config --for frr` writes for
# it: passive (vaned calls; it has no listener on the link-local address) and TTL security on
# both sides.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bgp_lib.sh"

[[ -x /usr/lib/frr/bgpd && -x /usr/lib/frr/zebra ]] && command -v vtysh >/dev/null || skip "FRR not installed"
PY=$(command -v /usr/bin/python3 || command -v python3) || skip "python3 needed to read FRR's JSON"
id frr >/dev/null 2>&1 || skip "FRR's user 'frr' missing"

ns_add R r
ns_add S1 s1
ip link add eth0 netns "$S1" type veth peer name r-s1 netns "$R"
ip -n "$R" link set r-s1 up
ip -n "$S1" link set eth0 up
ip -n "$S1" link set lo up
# The server's addresses live on lo only: the link has link-local addresses and nothing else.
ip -n "$S1" addr add 192.0.2.11/32 dev lo
ip -n "$S1" addr add 2001:db8::11/128 dev lo
ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
# The router's side of the link takes RAs like a host would: vaned's (lifetime 0) must give it no
# default route.
ip netns exec "$R" sysctl -qw net.ipv6.conf.r-s1.accept_ra=2
ip netns exec "$R" sysctl -qw net.ipv6.conf.r-s1.hop_limit=61  # not 64: a taken hop limit shows
hl0=61
ll() { ip -n "$1" -6 addr show dev "$2" scope link | awk '/inet6/ && !/tentative/ {sub("/.*", "", $2); print $2}'; }
lls() { [[ -n $(ll "$S1" eth0) && -n $(ll "$R" r-s1) ]]; }
wait_for 5 "link-local addresses" lls
S_LL=$(ll "$S1" eth0) R_LL=$(ll "$R" r-s1)
key=$(key_file tor1 "e2e-secret")

frr_pathspace
printf '%s\n' "frr defaults traditional" "hostname tor" "router bgp 65000" " bgp router-id 192.0.2.1" \
  " no bgp ebgp-requires-policy" " timers bgp 3 9" " neighbor r-s1 interface remote-as external" \
  " neighbor r-s1 password e2e-secret" " neighbor r-s1 timers connect 1" " neighbor r-s1 passive" \
  " neighbor r-s1 ttl-security hops 1" " address-family ipv4 unicast" \
  "  neighbor r-s1 activate" " exit-address-family" " address-family ipv6 unicast" "  neighbor r-s1 activate" \
  " exit-address-family" >"$RUN/bgpd.conf"
start_frr "$R"
vtysh -N "$FRRNS" --config_dir "$RUN" -c 'configure terminal' -c 'interface r-s1' -c 'ipv6 nd ra-interval 3' \
  -c 'no ipv6 nd suppress-ra' >/dev/null || fail "zebra: RA config on r-s1"

touch "$RUN/s1-up"
c1=$(vaned_conf 1 65011 "
neighbor { name: \"tor1\" interface: \"eth0\" remote_asn: 65000 hold_time_s: 9 md5_key_file: \"$key\" connect_retry_s: 1 ttl_security: true }
metrics { listen: \"127.0.0.1:9180\" }
$(web_service "$RUN/s1-up" v6)")
"$VANED" --check "$c1" >/dev/null || fail "s1 config invalid"
start_vaned "$S1" vaned-s1 "$c1"

nbr() {
  vty "show bgp neighbors r-s1 json" | "$PY" -c '
import json, sys
n = json.load(sys.stdin).get("r-s1", {})
print(eval(sys.argv[1]))' "$1"
}
established() { [[ $(nbr 'n.get("bgpState")') == Established ]]; }
wait_for 30 "unnumbered session Established" established
got=$(nbr '(n.get("hostLocal"), n.get("hostForeign"), n.get("neighborCapabilities", {}).get("extendedNexthop"))')
[[ $got == "('$R_LL', '$S_LL', 'advertisedAndReceived')" ]] ||
  fail "FRR's session (local, foreign, extended next hop): $got; want $R_LL / $S_LL"
grep -q "router advertisements on eth0: router $R_LL" "$RUN/vaned-s1.log" || fail "vaned did not learn $R_LL from the RAs"
log "session Established over link-local addresses ($S_LL <-> $R_LL, TCP MD5), RFC 8950 advertised and received"

route4() { ip -n "$R" route show 203.0.113.10; }
route6() { ip -n "$R" -6 route show 2001:db8:10::/48; }
via_ll4() { [[ $(route4) == *"via inet6 $S_LL dev r-s1"* ]]; }
via_ll6() { [[ $(route6) == *"via $S_LL dev r-s1"* ]]; }
wait_for 15 "IPv4 VIP in the router's kernel via the server's link-local address" via_ll4
wait_for 15 "IPv6 VIP in the router's kernel via the server's link-local address" via_ll6
nh6=$(vty "show bgp ipv6 unicast 2001:db8:10::/48 json" | "$PY" -c '
import json, sys
p = json.load(sys.stdin)["paths"][0]
print(sorted((h.get("ip"), h.get("scope")) for h in p["nexthops"]))')
[[ $nh6 == "[('2001:db8::11', 'global'), ('$S_LL', 'link-local')]" ]] || fail "IPv6 next hops in FRR: $nh6"
log "router kernel: $(route4) | $(route6) (FRR: global 2001:db8::11 + link-local $S_LL)"
[[ -z $(ip -n "$R" -6 route show default) ]] || fail "vaned's RAs gave a default route: $(ip -n "$R" -6 route show default)"
hl=$(ip netns exec "$R" sysctl -n net.ipv6.conf.r-s1.hop_limit)
[[ $hl == "$hl0" ]] || fail "vaned's RAs changed the router's hop limit on r-s1: $hl0 -> $hl"

# Withdraw and re-announce: the IPv4 route leaves and comes back.
rm -f "$RUN/s1-up"
gone4() { [[ -z $(route4) ]]; }
wait_for 10 "IPv4 VIP withdrawn" gone4
touch "$RUN/s1-up"
wait_for 10 "IPv4 VIP back" via_ll4
established || fail "the session flapped"
out=$("$VANECTL" --socket "$RUN/s1.sock" -o json show neighbors) || fail "vanectl: $out"
"$PY" -c '
import json, sys
n = json.loads(sys.argv[1])["neighbors"]["neighbors"][0]
assert n["address"] == sys.argv[2] and n["interface"] == "eth0" and n.get("extended_next_hop"), n
' "$out" "$R_LL" || fail "vanectl show neighbors: $out"
log "withdraw and re-announce work; vanectl shows the learned address, the interface and RFC 8950"
# The RA counters are exported: vaned sent RAs on eth0 and took the router's.
ra=$(ip netns exec "$S1" "$PY" -c '
import urllib.request
for l in urllib.request.urlopen("http://127.0.0.1:9180/metrics", timeout=5).read().decode().splitlines():
    if l.startswith("vane_bgp_ra_packets_total{"): print(l)') || fail "metrics endpoint"
sent=$(awk '/interface="eth0"/ && /result="sent"/ {print int($2)}' <<<"$ra")
recv=$(awk '/interface="eth0"/ && /result="received"/ {print int($2)}' <<<"$ra")
[[ ${sent:-0} -ge 1 && ${recv:-0} -ge 1 ]] || fail "vane_bgp_ra_packets_total: $ra"
log "RA counters: sent $sent, received $recv"
log PASS
