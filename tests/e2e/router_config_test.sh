#!/usr/bin/env bash
# `vanectl router-config` against the real routers: the text it writes from two servers' configs
# is loaded, unedited apart from putting the MD5 key in place of its placeholder, into BIRD 2 and
# then into FRR 8 as the ToR of s1 and s2 (IPv4 with TCP MD5 on s1, IPv6 without):
#  - every session reaches Established (so ASNs, addresses and the MD5 key's place are right);
#  - the kernel has one ECMP route over both servers for 203.0.113.10/32 and 2001:db8:10::/48;
#  - s2 runs with a config that announces one more service (203.0.113.99/32, 2001:db8:99::/48)
#    than the config the router's was written from: vaned announces it, the router refuses it
#    (BIRD counts it as filtered; neither router has it in its table nor the kernel);
#  - nothing is exported to the servers: they receive no prefix although each router holds the
#    other server's routes.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bgp_lib.sh"

command -v bird >/dev/null && command -v birdc >/dev/null || skip "BIRD not installed"
[[ -x /usr/lib/frr/bgpd && -x /usr/lib/frr/zebra ]] && command -v vtysh >/dev/null || skip "FRR not installed"
id frr >/dev/null 2>&1 || skip "FRR's user 'frr' missing"
PY=$(command -v /usr/bin/python3 || command -v python3) || skip "python3 needed"

bgp_topology 2
key=$(key_file tor1 "rc-e2e-secret")

neighbors() {  # neighbors MD5(0|1)
  local md5=""
  (($1)) && md5="md5_key_file: \"$key\""
  cat <<EOF
neighbor { name: "tor1" address: "192.0.2.1" remote_asn: 65000 hold_time_s: 9 connect_retry_s: 1 $md5 graceful_restart { restart_time_s: 30 } }
neighbor { name: "tor1v6" address: "2001:db8::1" remote_asn: 65000 hold_time_s: 9 connect_retry_s: 1 }
EOF
}
service() {  # service NAME VIP4 PREFIX4 VIP6 PREFIX6
  cat <<EOF
service {
  name: "$1"
  vip { address: "$2" port: 80 protocol: TCP }
  vip { address: "$4" port: 80 protocol: TCP }
  announce { prefix: "$3" }
  announce { prefix: "$5" }
}
EOF
}
web=$(service web 203.0.113.10 203.0.113.10/32 2001:db8:10::10 2001:db8:10::/48)
c1=$(vaned_conf 1 65011 "$(neighbors 1)" "$web")
c2=$(vaned_conf 2 65012 "$(neighbors 0)" "$web")
# What s2 really runs: one service more than the router was told about.
c2x="$RUN/s2-extra.conf"
{ cat "$c2"; service extra 203.0.113.99 203.0.113.99/32 2001:db8:99::99 2001:db8:99::/48; } >"$c2x"
for c in "$c1" "$c2" "$c2x"; do "$VANED" --check "$c" >/dev/null || fail "$c invalid"; done

# gen KIND OUT: the router's config from s1's and s2's files, key placeholder replaced.
gen() {
  "$VANECTL" router-config --for "$1" --config "$c1" "$c2" >"$RUN/gen-$1.conf" || fail "router-config --for $1 failed"
  grep -q "rc-e2e-secret" "$RUN/gen-$1.conf" && fail "router-config printed the MD5 key"
  [[ $(grep -c '@MD5:s1:tor1@' "$RUN/gen-$1.conf") -ge 1 ]] || fail "no MD5 placeholder for s1/tor1 in $1 output"
  grep -q '@MD5:s2' "$RUN/gen-$1.conf" && fail "MD5 placeholder for s2, which has no key file"
  grep -q '203.0.113.99\|2001:db8:99::' "$RUN/gen-$1.conf" && fail "the extra service's prefixes are in the import policy"
  local text secret
  text=$(<"$RUN/gen-$1.conf")
  secret=$(<"$key")
  printf '%s\n' "${text//"@MD5:s1:tor1@"/"$secret"}" >"$2"
}

start_servers() {
  start_vaned "${S[1]}" "vaned-s1-$1" "$c1"; P1=$VANED_PID
  start_vaned "${S[2]}" "vaned-s2-$1" "$c2x"; P2=$VANED_PID
}
stop_servers() { vaned_stop "$P1"; vaned_stop "$P2"; }

# Routes the servers hold from the router: export must be nothing.
received() {
  "$VANECTL" --socket "$RUN/s$1.sock" -o json show neighbors | "$PY" -c '
import json, sys
print(sum(int(n.get("prefixes_received", 0)) for n in json.load(sys.stdin)["neighbors"]["neighbors"]))'
}
extra_announced() {
  "$VANECTL" --socket "$RUN/s2.sock" -o json show routes | "$PY" -c '
import json, sys
rs = {r["prefix"]: r.get("announced", False) for r in json.load(sys.stdin)["routes"]["routes"]}
sys.exit(0 if rs.get("203.0.113.99/32") and rs.get("2001:db8:99::/48") else 1)'
}
ecmp_both() {
  [[ $(kernel_nexthops "$R" 203.0.113.10) == "192.0.2.11 192.0.2.12 " ]] &&
    [[ $(kernel_nexthops "$R" 2001:db8:10::/48) == "2001:db8::11 2001:db8::12 " ]]
}
no_extra_in_kernel() {
  [[ -z $(ip -n "$R" route show 203.0.113.99) && -z $(ip -n "$R" -6 route show 2001:db8:99::/48) ]]
}
common_checks() {  # common_checks ROUTER
  wait_for 20 "$1: ECMP routes over s1 and s2 in the router's kernel" ecmp_both
  log "$1: kernel $(ip -n "$R" route show 203.0.113.10 | tr -s ' \n' ' ')"
  wait_for 10 "s2 announcing the extra service" extra_announced
  no_extra_in_kernel || fail "$1: the kernel has a route for the extra prefixes: $(ip -n "$R" route; ip -n "$R" -6 route)"
  local r1 r2
  r1=$(received 1) r2=$(received 2)
  [[ $r1 == 0 && $r2 == 0 ]] || fail "$1 exported routes to the servers: s1 received $r1, s2 $r2"
}

# ---- BIRD ----
gen bird "$RUN/bird-servers.conf"
cat >"$RUN/bird.conf" <<EOF
log "$RUN/bird.log" all;
router id 192.0.2.1;
protocol device { scan time 10; }
protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; merge paths on limit 16; }
protocol kernel { ipv6 { import none; export where source = RTS_BGP; }; merge paths on limit 16; }
include "$RUN/bird-servers.conf";
EOF
start_bird "$R" "$RUN/bird.conf"; BC=$BIRD_CTL; BIRD_PID=$LAST_PID
start_servers bird
for p in vane_s1_tor1 vane_s1_tor1v6 vane_s2_tor1 vane_s2_tor1v6; do
  wait_for 20 "BIRD session $p Established" bash -c "birdc -s '$BC' show protocols $p | grep -q Established"
done
log "BIRD: 4 sessions Established (s1 IPv4 with TCP MD5)"
common_checks BIRD
birdc -s "$BC" show route 203.0.113.99/32 | grep -q 203.0.113.99 && fail "BIRD accepted 203.0.113.99/32"
birdc -s "$BC" show route 2001:db8:99::/48 | grep -q 2001:db8:99:: && fail "BIRD accepted 2001:db8:99::/48"
# "Import updates: received rejected filtered ignored accepted": s2's extra prefix is filtered.
filtered() {
  birdc -s "$BC" show protocols all "$1" | awk '/Import updates:/ {print $5; exit}'
}
for p in vane_s2_tor1 vane_s2_tor1v6; do
  f=$(filtered $p)
  [[ $f =~ ^[0-9]+$ ]] && ((f >= 1)) || fail "BIRD $p: expected the extra prefix filtered, got '$f': $(birdc -s "$BC" show protocols all $p)"
done
for p in vane_s1_tor1 vane_s1_tor1v6; do
  f=$(filtered $p)
  [[ $f == 0 ]] || fail "BIRD $p filtered $f routes, expected 0"
done
log "BIRD: s2's extra prefixes filtered, only 203.0.113.10/32 and 2001:db8:10::/48 accepted"
stop_servers
stop_pid "$BIRD_PID"

# ---- FRR ----
frr_pathspace
gen frr "$RUN/frr-servers.conf"
{ printf 'frr defaults traditional\nhostname tor\n!\n'; cat "$RUN/frr-servers.conf"; } >"$RUN/bgpd.conf"
start_frr "$R"
start_servers frr
nbr() {
  vty "show bgp neighbors $1 json" | "$PY" -c '
import json, sys
n = json.load(sys.stdin).get(sys.argv[1], {})
print(eval(sys.argv[2]))' "$@"
}
established() { [[ $(nbr "$1" 'n.get("bgpState")') == Established ]]; }
for a in 192.0.2.11 192.0.2.12 2001:db8::11 2001:db8::12; do
  wait_for 20 "FRR session $a Established" established "$a"
done
log "FRR: 4 sessions Established (s1 IPv4 with TCP MD5)"
common_checks FRR
for p in "ipv4 unicast 203.0.113.99/32" "ipv6 unicast 2001:db8:99::/48"; do
  out=$(vty "show bgp $p json")
  "$PY" -c 'import json, sys; d = json.loads(sys.argv[1]); sys.exit(1 if d.get("paths") else 0)' "$out" ||
    fail "FRR accepted $p: $out"
done
acc=$(nbr 192.0.2.12 'n["addressFamilyInfo"]["ipv4Unicast"]["acceptedPrefixCounter"]')
[[ $acc == 1 ]] || fail "FRR accepted $acc IPv4 prefixes from s2, expected 1"
acc=$(nbr 2001:db8::12 'n["addressFamilyInfo"]["ipv6Unicast"]["acceptedPrefixCounter"]')
[[ $acc == 1 ]] || fail "FRR accepted $acc IPv6 prefixes from s2, expected 1"
log "FRR: s2's extra prefixes refused, one prefix per family accepted"
stop_servers
log PASS
