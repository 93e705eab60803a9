#!/usr/bin/env bash
# BFD (RFC 5880/5881, keyed SHA1) between vaned and BIRD 2's bfd protocol:
#  - BFD comes up beside the BGP session, both sides report it Up with the 100 ms timers;
#  - every packet from s1 to the router dropped (nftables in s1's namespace: no carrier loss, the
#    TCP session stays open), hold time 9 s: the router's FIB loses s1 within 1 s, and s2 stays;
#  - the same with vaned frozen (SIGSTOP);
#  - after each, the session and the route come back;
#  - s3 has BFD configured and the router does not: its BGP session stays Idle ("held"), and
#    starts once the router turns BFD on.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bgp_lib.sh"
source "$(dirname "$0")/bfd_lib.sh"

bgp_topology 3
key=$(key_file bfd "bfd-e2e-key")

write_bird() {  # write_bird S3_BFD(on|off)
  cat >"$RUN/bird.conf" <<EOF
log "$RUN/bird.log" all;
router id 192.0.2.1;
protocol device { scan time 10; }
protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; merge paths on limit 16; }
protocol bfd {
  debug { states };
  interface "br0" {
    min rx interval 100 ms; min tx interval 100 ms; multiplier 3;
    authentication keyed sha1;
    password "bfd-e2e-key" { id 1; };
  };
}
template bgp srv {
  local as 65000;
  ipv4 { import all; export none; };
  hold time 9; keepalive time 3; connect retry time 1;
  # BIRD waits this long after a session error (BFD down is one) before it takes or makes a
  # connection again; the default (60 s) is longer than this test.
  error wait time 1, 2;
}
protocol bgp s1 from srv { neighbor 192.0.2.11 as 65011; bfd on; }
protocol bgp s2 from srv { neighbor 192.0.2.12 as 65012; }
protocol bgp s3 from srv { neighbor 192.0.2.13 as 65013; bfd $1; }
EOF
}
write_bird off
start_bird "$R" "$RUN/bird.conf"
BC=$BIRD_CTL

bfd_block="bfd { min_rx_ms: 100 min_tx_ms: 100 multiplier: 3 key_file: \"$key\" }"
start_bfd_servers "$bfd_block"

established() { birdc -s "$BC" show protocols "$1" | grep -q Established; }
bird_bfd_up() { birdc -s "$BC" show bfd sessions | grep -E "^192\.0\.2\.1$1 " | grep -q " Up "; }
# Up at the fast rate on BIRD's side too (its Poll Sequence done): interval 0.100, timeout 0.300.
bird_bfd_fast() { birdc -s "$BC" show bfd sessions | grep -E "^192\.0\.2\.1$1 .* Up .*0\.100 +0\.300"; }
wait_for 20 "s1 BGP Established" established s1
wait_for 20 "s2 BGP Established" established s2
wait_for 10 "BIRD's BFD session to s1 Up" bird_bfd_up 1
wait_for 10 "vaned s1's BFD Up" vaned_bfd_is 1 Up
[[ $(vanectl_bfd 1 auth) == keyed-sha1 ]] || fail "s1 BFD auth: $(vanectl_bfd 1 auth)"
wait_for 5 "s1's detection time at 3 x 100 ms (after the Poll Sequence)" bash -c "[[ \$('$VANECTL' --socket '$RUN/s1.sock' show bfd | grep -c '300 ms') -ge 1 ]]"
wait_for 15 "ECMP route via s1 and s2" bash -c "ip -n '$R' route show 203.0.113.10 | grep -q 'via 192.0.2.11 ' && ip -n '$R' route show 203.0.113.10 | grep -q 'via 192.0.2.12 '"
log "BFD Up beside BGP (keyed SHA1, detection 300 ms); ECMP via s1 and s2"
birdc -s "$BC" show bfd sessions >&2

# s3: BFD configured, the router has none: BGP held.
sleep 3
established s3 && fail "s3's BGP session came up while its BFD session is down"
vaned_bgp_is 3 Idle || fail "s3's BGP state is $(vaned_bgp_state 3), want Idle (held by BFD)"
[[ $(vanectl_bfd 3 bgp_held) == true ]] || fail "vanectl show bfd on s3 does not say BGP is held"
"$VANECTL" --socket "$RUN/s3.sock" show neighbors tor1 | grep -q "BGP held until Up" || fail "show neighbors tor1 on s3 lacks the BFD line"
log "s3: BGP held Idle while BFD is down"

# Failure 1: s1 sends nothing more.
wait_for 10 "BIRD's BFD session to s1 at 100 ms" bird_bfd_fast 1
ms=$(loss_ms drop_from 1 on) || fail "the router never lost s1 after the drop rule"
log "drop rule: the router's FIB lost s1 after $ms ms"
((ms < 1000)) || fail "FIB lost s1 after $ms ms, want < 1000"
fib_has 2 || fail "s2 left the FIB with s1"
wait_for 5 "vaned s1's BFD Down (the router told it)" bash -c "! '$VANECTL' --socket '$RUN/s1.sock' show bfd | grep -q ' Up '"
drop_from 1 off
wait_for 20 "s1 back in the FIB after the drop rule went" fib_has 1
vaned_bfd_is 1 Up || fail "s1 BFD not Up after recovery"
log "s1 recovered: BFD Up, BGP Established, route back"

# Failure 2: vaned frozen.
wait_for 10 "BIRD's BFD session to s1 at 100 ms" bird_bfd_fast 1
ms=$(loss_ms kill -STOP "$P1") || { kill -CONT "$P1"; fail "the router never lost s1 with vaned stopped"; }
log "SIGSTOP: the router's FIB lost s1 after $ms ms"
kill -CONT "$P1"
((ms < 1000)) || fail "FIB lost s1 after $ms ms with vaned stopped, want < 1000"
wait_for 20 "s1 back in the FIB after SIGCONT" fib_has 1
log "s1 recovered after SIGCONT"

# The router turns BFD on for s3: the held BGP session starts.
write_bird on
birdc -s "$BC" configure >/dev/null || fail "birdc configure"
wait_for 10 "vaned s3's BFD Up" vaned_bfd_is 3 Up
wait_for 20 "s3 BGP Established once BFD is Up" established s3
log "s3: BFD Up, the held BGP session started"

[[ $(vanectl_bfd 1 refused_auth) == 0 ]] || fail "s1 refused $(vanectl_bfd 1 refused_auth) packets for auth"
log "PASS"
