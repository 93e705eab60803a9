#!/usr/bin/env bash
# BFD (RFC 5880/5881) between vaned and FRR's bfdd (bgpd's `neighbor X bfd`):
#  - BFD comes up beside the BGP session with FRR's 100 ms profile;
#  - every packet from s1 to the router dropped (nftables in s1's namespace: no carrier loss),
#    hold time 9 s: the router's FIB loses s1 within 1 s, and s2 stays;
#  - the same with vaned frozen (SIGSTOP);
#  - after each, the session and the route come back;
#  - s3 has BFD configured and FRR does not: its BGP session stays Idle (held).
# FRR 8.4's bfdd has no authentication, so these sessions run without (bfd_bird_test covers SHA1).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bgp_lib.sh"
source "$(dirname "$0")/bfd_lib.sh"

[[ -x /usr/lib/frr/bgpd && -x /usr/lib/frr/zebra && -x /usr/lib/frr/bfdd ]] && command -v vtysh >/dev/null ||
  skip "FRR (with bfdd) not installed"
id frr >/dev/null 2>&1 || skip "FRR's user 'frr' missing"

bgp_topology 3
frr_pathspace

cat >"$RUN/bgpd.conf" <<EOF
frr defaults traditional
hostname tor
!
router bgp 65000
 bgp router-id 192.0.2.1
 no bgp default ipv4-unicast
 no bgp ebgp-requires-policy
 bgp bestpath as-path multipath-relax
 timers bgp 3 9
 neighbor 192.0.2.11 remote-as 65011
 neighbor 192.0.2.11 timers connect 1
 neighbor 192.0.2.11 bfd
 neighbor 192.0.2.11 bfd profile fast
 neighbor 192.0.2.12 remote-as 65012
 neighbor 192.0.2.12 timers connect 1
 neighbor 192.0.2.13 remote-as 65013
 neighbor 192.0.2.13 timers connect 1
 !
 address-family ipv4 unicast
  neighbor 192.0.2.11 activate
  neighbor 192.0.2.12 activate
  neighbor 192.0.2.13 activate
  maximum-paths 16
 exit-address-family
!
EOF
cat >"$RUN/bfdd.conf" <<EOF
hostname tor
bfd
 profile fast
  receive-interval 100
  transmit-interval 100
  detect-multiplier 3
 !
!
EOF
chmod 644 "$RUN/bfdd.conf"
start_frr "$R"
bg "$R" bfdd /usr/lib/frr/bfdd -N "$FRRNS" -f "$RUN/bfdd.conf" -i "/var/run/frr/$FRRNS/bfdd.pid" --log stdout
wait_for 10 "bfdd's vty" vtysh -N "$FRRNS" --config_dir "$RUN" -d bfdd -c 'show bfd peers'

bfd_block="bfd { min_rx_ms: 100 min_tx_ms: 100 multiplier: 3 }"
start_bfd_servers "$bfd_block"

established() {
  vty "show bgp neighbors $1 json" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if d[sys.argv[1]]["bgpState"] == "Established" else 1)' "$1"
}
frr_bfd_up() { vty "show bfd peer $1 json" | grep -q '"status":"up"'; }
wait_for 20 "s1 BGP Established" established 192.0.2.11
wait_for 20 "s2 BGP Established" established 192.0.2.12
wait_for 10 "FRR's BFD peer s1 up" frr_bfd_up 192.0.2.11
wait_for 10 "vaned s1's BFD Up" vaned_bfd_is 1 Up
wait_for 5 "s1's detection time at 3 x 100 ms" bash -c "'$VANECTL' --socket '$RUN/s1.sock' show bfd | grep -q '300 ms'"
wait_for 15 "ECMP route via s1 and s2" bash -c "fib() { ip -n '$R' route show 203.0.113.10; }; fib | grep -q 'via 192.0.2.11 ' && fib | grep -q 'via 192.0.2.12 '"
log "BFD Up beside BGP (detection 300 ms); ECMP via s1 and s2"

sleep 3
established 192.0.2.13 && fail "s3's BGP session came up while its BFD session is down"
vaned_bgp_is 3 Idle || fail "s3's BGP state is $(vaned_bgp_state 3), want Idle (held by BFD)"
log "s3: BGP held Idle while BFD is down"

ms=$(loss_ms drop_from 1 on) || fail "the router never lost s1 after the drop rule"
log "drop rule: the router's FIB lost s1 after $ms ms"
((ms < 1000)) || fail "FIB lost s1 after $ms ms, want < 1000"
fib_has 2 || fail "s2 left the FIB with s1"
drop_from 1 off
wait_for 30 "s1 back in the FIB after the drop rule went" fib_has 1
log "s1 recovered"

ms=$(loss_ms kill -STOP "$P1") || { kill -CONT "$P1"; fail "the router never lost s1 with vaned stopped"; }
log "SIGSTOP: the router's FIB lost s1 after $ms ms"
kill -CONT "$P1"
((ms < 1000)) || fail "FIB lost s1 after $ms ms with vaned stopped, want < 1000"
wait_for 30 "s1 back in the FIB after SIGCONT" fib_has 1
log "PASS"
