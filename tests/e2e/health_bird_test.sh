#!/usr/bin/env bash
# The health engine end to end, with a real BIRD 2 as the ToR (kernel ECMP route) and two vaned
# servers, each with a real HTTP service on the VIP and an http check on it (see health_lib.sh):
#  - `vaned --check` refuses an unknown check kind, port 0, a missing command (FILE:LINE:COLUMN);
#  - stopping s1's HTTP server takes s1's next hop out of the kernel route, starting it puts it
#    back; s2's path is never withdrawn or re-sent (its "since" time and BIRD's import counters
#    for s2 stay the same);
#  - a service flapping every 400 ms for 10 s makes no more UPDATEs than its dampening allows
#    (counted by BIRD), while the same flap undampened on s2 makes far more;
#  - drain (vanectl drain web): s1 re-announces with GRACEFUL_SHUTDOWN + prepend, BIRD's import
#    filter (RFC 8326) sets local-pref 0, the kernel route keeps only s2, the withdraw follows
#    after the drain time; undrain brings s1 back;
#  - SIGTERM: the route is withdrawn explicitly before the Cease / Administrative Shutdown.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bgp_lib.sh"
source "$(dirname "$0")/health_lib.sh"
[[ -x $VANECTL ]] || fail "vanectl not found at $VANECTL"

health_topology
bad_check_configs

cat >"$RUN/bird.conf" <<EOF
log "$RUN/bird.log" all;
router id 192.0.2.1;
timeformat route iso long ms;
timeformat protocol iso long ms;
timeformat base iso long ms;
timeformat log iso long ms;
protocol device { scan time 10; }
protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; merge paths on limit 16; }
# RFC 8326: a path carrying GRACEFUL_SHUTDOWN gets the lowest preference.
filter from_servers {
  if (65535, 0) ~ bgp_community then bgp_local_pref = 0;
  accept;
}
template bgp srv {
  local as 65000;
  ipv4 { import filter from_servers; export none; };
  hold time 9; keepalive time 3; connect retry time 1;
  debug { states, routes, events };
}
protocol bgp s1 from srv { neighbor 192.0.2.11 as 65011; }
protocol bgp s2 from srv { neighbor 192.0.2.12 as 65012; }
EOF
start_bird "$R" "$RUN/bird.conf"
BC=$BIRD_CTL

c1=$(health_conf 1 65011 'neighbor { name: "tor1" address: "192.0.2.1" remote_asn: 65000 hold_time_s: 9 }')
c2=$(health_conf 2 65012 'neighbor { name: "tor1" address: "192.0.2.1" remote_asn: 65000 hold_time_s: 9 }')
"$VANED" --check "$c1" >/dev/null || fail "s1 config invalid"
"$VANED" --check "$c2" >/dev/null || fail "s2 config invalid"

http_start 1
http_start 2
start_vaned "${S[1]}" vaned-s1 "$c1"; P1=$VANED_PID
start_vaned "${S[2]}" vaned-s2 "$c2"; P2=$VANED_PID

established() { birdc -s "$BC" show protocols "$1" | grep -q Established; }
wait_for 20 "s1 Established" established s1
wait_for 20 "s2 Established" established s2
route() { birdc -s "$BC" show route all "$2/32" protocol "$1"; }  # route PROTO ADDR
has_route() { route "$1" "$2" | grep -q "^$2/32"; }
# stamp PROTO ADDR: BIRD's "since" time of that path (ms resolution).
stamp() { route "$1" "$2" | sed -n "s|^$2/32 .*\[$1 \([^]]*\)\].*|\1|p"; }
# updates PROTO: "announces withdraws" BIRD received on that session (Route change stats).
updates() {
  birdc -s "$BC" show protocols all "$1" | awk '/Import updates:/ {a = $3} /Import withdraws:/ {w = $3} END {print a + 0, w + 0}'
}
sum() { local a w; read -r a w <<<"$1"; echo $((a + w)); }
# same_stamp BEFORE PROTO ADDR: the path's since time is still BEFORE. BIRD keeps it on its
# monotonic clock and converts it to wall time at each call, so an untouched path reads +-1 ms
# (as a session's start does, see site_trust_test.sh); a re-sent path moves by far more.
same_stamp() {
  local now; now=$(stamp "$2" "$3")
  "$PY" -c '
import datetime, sys
a, b = (datetime.datetime.fromisoformat(x) for x in sys.argv[1:])
sys.exit(0 if abs((a - b).total_seconds()) <= 0.001 else 1)' "$1" "$now" 2>/dev/null
}
# prefix_updates PROTO ADDR: what BIRD's log shows it imported about ADDR/32 from PROTO (added,
# removed, ignored as unchanged: one line per announce or withdraw). The Route change stats count
# every prefix of the session, and s2's undampened flap check (exec, 50 ms timeout) may time out on
# a loaded machine: an UPDATE pair for 203.0.113.21 only.
prefix_updates() { grep -c "<TRACE> $1\.ipv4 > .* ${2//./\\.}/32 " "$RUN/bird.log" || true; }

wait_for 15 "kernel ECMP route over s1 and s2" kernel_has 192.0.2.11 192.0.2.12
wait_for 10 "s1's flap prefix in BIRD" has_route s1 $FLAP1
wait_for 10 "s2's flap prefix in BIRD" has_route s2 $FLAP2
log "kernel route $WEB: $(kernel_nexthops "$R" $WEB)(both HTTP services healthy)"

# 1. Stop s1's HTTP service: s1's next hop leaves the kernel route; start it: it comes back.
#    s2's path must not move at all.
s2_stamp=$(stamp s2 $WEB)
s2_upd=$(prefix_updates s2 $WEB)
[[ -n $s2_stamp ]] || fail "no since time for s2's path: $(route s2 $WEB)"
t0=$(now_ms)
http_stop 1
wait_for 10 "s1's next hop gone after its HTTP server stopped" kernel_has 192.0.2.12
t1=$(now_ms)
has_route s1 $WEB && fail "s1's path still in BIRD: $(route s1 $WEB)"
established s1 || fail "a health change must not reset the session"
log "HTTP service on s1 stopped: kernel route now $(kernel_nexthops "$R" $WEB)after $((t1 - t0)) ms"
http_start 1
t0=$(now_ms)
wait_for 10 "s1's next hop back after its HTTP server started" kernel_has 192.0.2.11 192.0.2.12
log "HTTP service on s1 started: kernel route $(kernel_nexthops "$R" $WEB)after $(($(now_ms) - t0)) ms"
same_stamp "$s2_stamp" s2 $WEB || fail "s2's path was re-sent: since $s2_stamp -> $(stamp s2 $WEB)"
[[ $(prefix_updates s2 $WEB) == "$s2_upd" ]] || fail "BIRD imported updates about $WEB from s2: $s2_upd -> $(prefix_updates s2 $WEB)"
log "s2's path untouched: since $s2_stamp, BIRD logged no import about $WEB from s2 (still $s2_upd)"

# 2. Flap s1's and s2's flap services every 400 ms for 10 s; BIRD counts the UPDATEs.
b1=$(updates s1) b2=$(updates s2)
ts=$EPOCHREALTIME
flap 10
sleep 1   # let the last verdicts reach BIRD
W=$("$PY" -c "print(round($EPOCHREALTIME - $ts, 3))")
a1=$(updates s1) a2=$(updates s2)
n1=$(($(sum "$a1") - $(sum "$b1")))
n2=$(($(sum "$a2") - $(sum "$b2")))
bound=$(flap_bound "$W") || fail "$bound"
log "flap: $FLAP_TOGGLES toggles in ${W}s; BIRD received from s1 (dampened) $n1 UPDATE(s) [$b1 -> $a1], from s2 (undampened) $n2 [$b2 -> $a2]; bound for s1: $bound"
((n1 >= 1)) || fail "s1's flap prefix never moved: the test flapped nothing"
((n1 <= bound)) || fail "s1 sent $n1 UPDATEs for a dampened flap, more than the $bound its settings allow"
((n2 > bound)) || fail "undampened s2 sent only $n2 UPDATEs (bound $bound): the bound does not bite"
grep -q "health: prefix $FLAP1/32 .*withdrawn" "$RUN/vaned-s1.log" || fail "vaned s1 logged no withdraw of $FLAP1"

# 3. Drain s1's web service: announced with GRACEFUL_SHUTDOWN and one prepend, BIRD sets
#    local-pref 0 and the kernel keeps only s2; withdrawn after the drain time; undrain.
s2_stamp=$(stamp s2 $WEB) s2_upd=$(prefix_updates s2 $WEB)
"$VANECTL" --socket "$RUN/s1.sock" drain web >"$RUN/vanectl-drain.log" 2>&1 || fail "vanectl drain: $(cat "$RUN/vanectl-drain.log")"
t0=$EPOCHREALTIME
gshut() { route s1 $WEB | grep -q 'BGP.community:.*(65535,0)'; }
wait_for 3 "s1's path re-announced with GRACEFUL_SHUTDOWN" gshut
out=$(route s1 $WEB)
grep -q 'BGP.local_pref: 0$' <<<"$out" || fail "BIRD's import filter did not set local-pref 0: $out"
grep -q 'BGP.as_path: 65011 65011$' <<<"$out" || fail "drain_prepend 1 expected: $out"
wait_for 3 "kernel route via s2 only while s1 drains" kernel_has 192.0.2.12
has_route s1 $WEB || fail "s1 withdrew before its drain time"
log "draining: s1 still announces $WEB (community (65535,0), local-pref 0, AS path 65011 65011); kernel route $(kernel_nexthops "$R" $WEB)"
wait_for $((WEB_DRAIN_S + 3)) "s1's path withdrawn after the drain time" bash -c "! birdc -s '$BC' show route $WEB/32 protocol s1 | grep -q '^$WEB/32'"
ms=$("$PY" -c "print(int(($EPOCHREALTIME - $t0) * 1000))")
((ms >= WEB_DRAIN_S * 1000 - 300)) || fail "withdrawn after $ms ms, before the ${WEB_DRAIN_S}s drain time"
log "drain: withdrawn ${ms} ms after the drain (drain_time_s $WEB_DRAIN_S)"
kernel_has 192.0.2.12 || fail "kernel route changed: $(kernel_nexthops "$R" $WEB)"
"$VANECTL" --socket "$RUN/s1.sock" undrain web >>"$RUN/vanectl-drain.log" 2>&1 || fail "vanectl undrain: $(cat "$RUN/vanectl-drain.log")"
wait_for 5 "kernel ECMP route back after undrain" kernel_has 192.0.2.11 192.0.2.12
route s1 $WEB | grep -q '65535,0' && fail "GRACEFUL_SHUTDOWN still on s1's path after undrain"
route s1 $WEB | grep -q 'BGP.as_path: 65011$' || fail "prepend still on s1's path after undrain: $(route s1 $WEB)"
same_stamp "$s2_stamp" s2 $WEB && [[ $(prefix_updates s2 $WEB) == "$s2_upd" ]] || fail "s2's path moved during s1's drain"
log "undrain: s1's path back without GRACEFUL_SHUTDOWN; kernel route $(kernel_nexthops "$R" $WEB); s2's path untouched throughout"

# 4. SIGTERM: explicit withdraw, then Cease / Administrative Shutdown; the route is gone from the
#    kernel by the time vaned has exited.
t0=$EPOCHREALTIME
vaned_stop "$P1"
((STOP_RC == 0)) || fail "vaned exited with $STOP_RC"
wait_for 1 "s1's next hop gone right after SIGTERM" kernel_has 192.0.2.12
ms=$("$PY" -c "print(int(($EPOCHREALTIME - $t0) * 1000))")
out=$(birdc -s "$BC" show protocols all s1)
grep -qi 'Administrative shutdown' <<<"$out" || fail "BIRD did not see Cease/Administrative Shutdown: $out"
grep -Eq "bgp tor1: withdrew [0-9]+ prefix\(es\)" "$RUN/vaned-s1.log" || fail "vaned did not withdraw explicitly: $(tail -5 "$RUN/vaned-s1.log")"
# In BIRD's log the withdraw of $WEB from s1 comes before the session goes down.
wl=$(grep -n "s1.ipv4 > removed .*$WEB/32" "$RUN/bird.log" | tail -1 | cut -d: -f1) || true
dl=$(grep -n "s1: Received: Administrative shutdown" "$RUN/bird.log" | tail -1 | cut -d: -f1) || true
[[ -n $wl && -n $dl ]] && ((wl < dl)) || fail "BIRD's log shows no withdraw before the Cease (withdraw line ${wl:-none}, Cease line ${dl:-none})"
log "SIGTERM: withdraw then Cease / Administrative Shutdown (BIRD log lines $wl, $dl); s1's next hop gone ${ms} ms after the signal, exit 0"
log PASS
