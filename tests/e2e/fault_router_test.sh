#!/usr/bin/env bash
# Faults on the router's side, with a real BIRD 2 as the ToR (kernel ECMP route over two vaned
# servers announcing 203.0.113.10/32), a client behind the router and the router's FIB as witnesses:
#  (1a) BIRD SIGKILLed by pid and started again: both sessions and the ECMP route come back within
#       the reconnect bound, and the client reaches both servers;
#  (1b) `birdc restart all`: the same;
#  (2)  the router's veth to s1 down: BIRD's hold timer (3 s) ends s1's session and s1's next hop
#       leaves the FIB, every client connection then lands on s2; link up: s1 is back within the
#       reconnect bound.
#
# The reconnect bound, from the configs below. vaned's neighbour has connect_retry_s 1: after its
# n-th failure since the session last stayed up for 300 s, vaned waits IdleHold = min(2^(n-1), 60) s
# before it dials again and refuses the router's dials meanwhile (src/bgp/fsm.cc). BIRD's own
# delays are shorter (connect retry 1 s, start delay 1 s, error wait 1-2 s). So a session is back
# within IdleHold(n) + 2 s (the dial, OPEN and KEEPALIVE, BIRD's kernel sync) of the router being
# able to take it. Failures add up over the steps: (1a) the drop and at most one refused dial while
# BIRD starts, n <= 2: 2 + 2 = 4 s; (1b) n <= 4: 8 + 2 = 10 s; (2) the hold timer, n <= 5, and the
# link comes back as soon as vaned has seen it (before its IdleHold, at least 4 s by then, ends, so
# no dial fails into the dead link): 16 + 2 = 18 s after the link is back.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bgp_lib.sh"

PY=/usr/bin/python3
VIP=203.0.113.10
[[ -x $PY ]] || skip "needs $PY"
command -v bird >/dev/null || skip "needs bird"
[[ -x $VANECTL ]] || fail "vanectl not found at $VANECTL"

bgp_topology 2
anycast_clients "$VIP"

cat >"$RUN/bird.conf" <<EOF
log "$RUN/bird.log" all;
router id 192.0.2.1;
protocol device { scan time 10; }
protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; merge paths on limit 16; }
template bgp srv {
  local as 65000;
  ipv4 { import all; export none; };
  hold time 3; keepalive time 1; connect retry time 1; start delay time 1; error wait time 1, 2;
}
protocol bgp s1 from srv { neighbor 192.0.2.11 as 65011; }
protocol bgp s2 from srv { neighbor 192.0.2.12 as 65012; }
EOF
for i in 1 2; do
  vaned_conf "$i" "6501$i" \
    'neighbor { name: "tor1" address: "192.0.2.1" remote_asn: 65000 hold_time_s: 3 connect_retry_s: 1 }' \
    "service {
  name: \"web\"
  vip { address: \"$VIP\" port: 80 protocol: TCP }
  announce { prefix: \"$VIP/32\" }
  check { name: \"tcp\" tcp { port: 80 } interval_ms: 200 timeout_ms: 150 rise: 1 fall: 2 }
}" >/dev/null
  "$VANED" --check "$RUN/s$i.conf" >/dev/null || fail "s$i config invalid: $("$VANED" --check "$RUN/s$i.conf" 2>&1)"
done

start_bird "$R" "$RUN/bird.conf"
start_vaned "${S[1]}" vaned-s1 "$RUN/s1.conf"; P1=$VANED_PID
start_vaned "${S[2]}" vaned-s2 "$RUN/s2.conf"; P2=$VANED_PID

bird_up() { birdc -s "$BIRD_CTL" show protocols "$1" | grep -q Established; }
vaned_up() {  # vaned_up I: s$I's session to tor1 is Established, as vaned says
  "$VANECTL" --socket "$RUN/s$1.sock" -o json show neighbors |
    "$PY" -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["neighbors"]["neighbors"][0]["state"] == "Established" else 1)'
}
fib_is() { [[ $(kernel_nexthops "$R" "$VIP") == "$* " ]]; }
all_back() { bird_up s1 && bird_up s2 && vaned_up 1 && vaned_up 2 && fib_is 192.0.2.11 192.0.2.12; }
PORT=20000
# clients_see NAMES...: 100 connections from new source ports all complete, served by exactly NAMES
clients_see() {
  local out
  out=$(client_round "$VIP" "$PORT" 100) || fail "client: $out"
  PORT=$((PORT + 100))
  "$PY" - "$out" "$@" <<'PY' || fail "client round: $out (expected every connection served, by exactly: $*)"
import json, sys
r = json.loads(sys.argv[1])
sys.exit(0 if r["ok"] == r["total"] and sorted(r["counts"]) == sorted(sys.argv[2:]) else 1)
PY
  log "  client: 100 connections, all served: $(grep -o '"counts": {[^}]*}' <<<"$out")"
}
established_count() { grep -c "bgp tor1: .* -> Established" "$RUN/vaned-s$1.log" || true; }
# back_within BOUND WHAT: all sessions and the ECMP route back within BOUND s; logs the time taken
back_within() {
  local t0=$EPOCHREALTIME
  wait_for "$1" "$2: sessions and the ECMP route back (bound $1 s)" all_back
  log "  $2: both sessions Established and the ECMP route back after $("$PY" -c "print(round($EPOCHREALTIME - $t0, 2))") s (bound $1 s)"
}

wait_for 20 "both sessions up and the ECMP route at the router" all_back
log "start: ECMP route $(kernel_nexthops "$R" "$VIP")"
clients_see s1 s2

# (1a) BIRD killed by pid and started again.
BIRD_PID=$(cat "$RUN/bird.pid")
e1=$(established_count 1) e2=$(established_count 2)
kill -KILL "$BIRD_PID"
wait "$BIRD_PID" 2>/dev/null || true
log "(1a) BIRD $BIRD_PID SIGKILLed"
start_bird "$R" "$RUN/bird.conf"
back_within 4 "(1a) BIRD restarted"
(($(established_count 1) > e1 && $(established_count 2) > e2)) || fail "(1a) vaned never saw its sessions drop and come back"
clients_see s1 s2

# (1b) birdc restart all: BIRD closes both sessions (Cease) and restarts them.
e1=$(established_count 1) e2=$(established_count 2)
birdc -s "$BIRD_CTL" restart all >/dev/null
log "(1b) birdc restart all"
saw_reset() { grep -q "bgp tor1: received NOTIFICATION Cease / Administrative Reset" "$RUN/vaned-s$1.log"; }
wait_for 3 "(1b) vaned s1 told of the reset (Cease)" saw_reset 1
wait_for 3 "(1b) vaned s2 told of the reset (Cease)" saw_reset 2
back_within 10 "(1b) BIRD's protocols restarted"
(($(established_count 1) > e1 && $(established_count 2) > e2)) || fail "(1b) the sessions never dropped"
clients_see s1 s2

# (2) The router's veth to s1 down: nothing reaches s1, only BIRD's hold timer (3 s) can end the
# session; s1's next hop must leave the FIB by then (+1 s for the kernel sync), and every new
# connection lands on s2.
t0=$EPOCHREALTIME
ip -n "$R" link set r-s1 down
log "(2) r-s1 (the router's port to s1) down"
wait_for 4 "(2) s1's next hop out of the FIB within hold time 3 s + 1 s" fib_is 192.0.2.12
log "  s1's next hop withdrawn from the FIB after $("$PY" -c "print(round($EPOCHREALTIME - $t0, 2))") s; BIRD: $(birdc -s "$BIRD_CTL" show protocols s1 | tail -n 1)"
bird_up s2 || fail "(2) s2's session dropped with s1's link"
clients_see s2
vaned_down() { ! vaned_up "$1"; }
wait_for 4 "(2) vaned s1's own hold timer (3 s)" vaned_down 1
ip -n "$R" link set r-s1 up
log "(2) r-s1 up"
back_within 18 "(2) link up"
clients_see s1 s2
log PASS
