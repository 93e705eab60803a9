#!/usr/bin/env bash
# Reloading vaned's BGP settings against a real BIRD 2 as the ToR:
#  (i)   description, max_prefixes, import_prefix and keep_received_routes of a neighbour edited,
#        SIGHUP: BIRD's session is the same one (its start unchanged), vaned's route never leaves
#        the router's kernel, and vaned applies the new filter to what it holds;
#  (ii)  TCP MD5 key rotated (the key file on vaned's side, SIGHUP; BIRD's password, configure):
#        the session is back within the hold time;
#  (iv)  a passive neighbour added by reload, on a changed bgp.listen_port, is accepted;
#  (iii) that passive vaned's router restarts twice in a row: each time its new connection is
#        taken at once (no 5 s / 10 s refusal), and nothing is refused in vaned's log.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bgp_lib.sh"
PY=$(command -v /usr/bin/python3 || command -v python3) || skip "python3 needed"

bgp_topology 2
key=$(key_file tor1 "key-one")

bird_conf() {  # bird_conf PASSWORD
  cat >"$RUN/bird.conf" <<EOF
log "$RUN/bird.log" all;
router id 192.0.2.1;
protocol device { scan time 10; }
protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; merge paths on limit 16; }
# 20 IPv4 prefixes for s1 to receive, never in any FIB of theirs.
protocol static sent4 { ipv4; $(for k in $(seq 0 19); do printf 'route 198.51.100.%d/32 blackhole; ' $((k * 4)); done) }
template bgp srv {
  local as 65000;
  hold time 9; keepalive time 3; connect retry time 1; connect delay time 1;
}
protocol bgp s1 from srv {
  neighbor 192.0.2.11 as 4200000011; password "$1";
  ipv4 { import all; export where proto = "sent4"; };
}
protocol bgp s2 from srv { neighbor 192.0.2.12 port 1179 as 65012; ipv4 { import all; export none; }; }
EOF
}
bird_conf key-one
start_bird "$R" "$RUN/bird.conf"
BC=$BIRD_CTL

touch "$RUN/s1-up" "$RUN/s2-up"
s1_neighbor() {  # s1_neighbor EXTRA...: tor1 with MD5 from $key and the given extra fields
  echo "neighbor { name: \"tor1\" address: \"192.0.2.1\" remote_asn: 65000 hold_time_s: 9 md5_key_file: \"$key\" $* }"
}
c1=$(vaned_conf 1 4200000011 "$(s1_neighbor 'description: "before" keep_received_routes: true max_prefixes { limit: 100 }')" \
  "$(web_service "$RUN/s1-up")")
"$VANED" --check "$c1" >/dev/null || fail "s1 config invalid"
# s2 starts with a neighbour that never answers (nothing at 192.0.2.3), listening nowhere useful.
c2=$(vaned_conf 2 65012 'neighbor { name: "nobody" address: "192.0.2.3" remote_asn: 65000 }' \
  "$(web_service "$RUN/s2-up")")
"$VANED" --check "$c2" >/dev/null || fail "s2 config invalid"
start_vaned "${S[1]}" vaned-s1 "$c1"; P1=$VANED_PID
start_vaned "${S[2]}" vaned-s2 "$c2"; P2=$VANED_PID

established() { birdc -s "$BC" show protocols "$1" | grep -q Established; }
wait_for 20 "s1 Established" established s1
wait_for 15 "203.0.113.10 via s1 in the router's kernel" bash -c "ip -n '$R' route show 203.0.113.10 | grep -q 192.0.2.11"
neighbors_json() { "$VANECTL" --socket "$RUN/s$1.sock" -o json show neighbors; }
received() {  # received I NEIGHBOR: prefixes_received as vanectl shows it
  "$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print(next(int(n.get("prefixes_received", 0)) for n in d["neighbors"]["neighbors"] if n["name"] == sys.argv[2]))' \
    "$(neighbors_json "$1")" "$2"
}
for ((t = 0; t < 150; t++)); do [[ $(received 1 tor1 2>/dev/null) == 20 ]] && break; sleep 0.1; done
[[ $(received 1 tor1) == 20 ]] || fail "s1 should hold BIRD's 20 prefixes: $(neighbors_json 1)"
log "s1 Established with MD5, announcing 203.0.113.10, holding 20 prefixes"

# BIRD keeps a session's start on its monotonic clock and prints it converted at each call: an
# untouched session reads +-1 ms, a reset moves it by seconds.
bird_since() { birdc -s "$BC" show protocols "$1" | awk -v p="$1" '$1 == p { print $4, $5, $6 }'; }
same_since() {
  "$PY" - "$1" "$2" <<'PY'
import sys
def ms(line):
    state, since, info = line.split()  # up 10:45:12.801 Established
    h, m, s = since.split(":")
    return state, info, (int(h) * 3600 + int(m) * 60) * 1000 + round(float(s) * 1000)
a, b = ms(sys.argv[1]), ms(sys.argv[2])
sys.exit(0 if a[:2] == b[:2] and a[1] == "Established" and abs(a[2] - b[2]) <= 1 else 1)
PY
}

# ---- (i) policy edits in place
SINCE=$(bird_since s1)
(
  # The route via s1 in the router's kernel, every 20 ms until told to stop; a gap is recorded.
  while [[ ! -f $RUN/watch-stop ]]; do
    ip -n "$R" route show 203.0.113.10 | grep -q 192.0.2.11 || echo "gone at $EPOCHREALTIME" >>"$RUN/watch-gaps"
    sleep 0.02
  done
) &
WATCH=$!
E2E_PIDS+=("$WATCH")
c1=$(vaned_conf 1 4200000011 \
  "$(s1_neighbor 'description: "after" max_prefixes { limit: 50 } import_prefix: "198.51.100.0/27 le 32"')" \
  "$(web_service "$RUN/s1-up")")
"$VANED" --check "$c1" >/dev/null || fail "edited s1 config invalid"
kill -HUP "$P1"
wait_for 10 "s1 applying the edit in place" grep -q "tor1: configuration changed (description, max_prefixes, keep_received_routes, import_prefix): applied to the running session" "$RUN/vaned-s1.log"
# 198.51.100.0/27 holds the /32s at .0, .4, ... .28: 8 of the 20.
for ((t = 0; t < 50; t++)); do [[ $(received 1 tor1) == 8 ]] && break; sleep 0.1; done
[[ $(received 1 tor1) == 8 ]] || fail "(i) the tighter filter should leave 8 prefixes held: $(neighbors_json 1)"
desc=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["neighbors"]["neighbors"][0]["description"])' "$(neighbors_json 1)")
[[ $desc == after ]] || fail "(i) description not updated: $desc"
sleep 2
touch "$RUN/watch-stop"
wait "$WATCH" || true
[[ -f $RUN/watch-gaps ]] && fail "(i) the route left the router's kernel: $(head -3 "$RUN/watch-gaps")"
NOW=$(bird_since s1)
same_since "$SINCE" "$NOW" || fail "(i) BIRD's session was reset: $SINCE -> $NOW"
grep -q "tor1: configuration changed.*restarting the session" "$RUN/vaned-s1.log" && fail "(i) vaned restarted the session"
log "(i) description, max_prefixes, import_prefix, keep_received_routes applied in place: BIRD's session up since $NOW, route never left the kernel, 8 prefixes held"

# ---- (ii) MD5 rotation: vaned first (SIGHUP), then BIRD (configure)
BEFORE_KEY=$(bird_since s1)
printf '%s\n' "key-two" >"$key"
kill -HUP "$P1"
wait_for 10 "s1 noticing the new key" grep -q "tor1: configuration changed (md5_key)" "$RUN/vaned-s1.log"
bird_conf key-two
birdc -s "$BC" configure >/dev/null || fail "birdc configure failed"
ROTATED=$SECONDS
wait_for 9 "s1 Established again with the new key, within the hold time" established s1
same_since "$BEFORE_KEY" "$(bird_since s1)" && fail "(ii) the session signed with the old key is still up"
log "(ii) MD5 key rotated on both sides: a new session, Established $((SECONDS - ROTATED)) s after BIRD's configure"
for ((t = 0; t < 50; t++)); do [[ $(received 1 tor1) == 8 ]] && break; sleep 0.1; done
[[ $(received 1 tor1) == 8 ]] || fail "(ii) s1 should hold 8 prefixes again: $(neighbors_json 1)"

# ---- (iv) a passive neighbour added by reload, on a new listen_port
c2=$(vaned_conf 2 65012 'bgp { listen_port: 1179 }' \
  'neighbor { name: "tor1" address: "192.0.2.1" remote_asn: 65000 hold_time_s: 9 passive: true }' \
  "$(web_service "$RUN/s2-up")")
"$VANED" --check "$c2" >/dev/null || fail "s2 reload config invalid"
kill -HUP "$P2"
wait_for 10 "s2 listening on 192.0.2.12 port 1179" bash -c "ip netns exec '${S[2]}' ss -Hltn 'sport = :1179' | grep -q 192.0.2.12"
wait_for 15 "BIRD's session to the passive s2 Established" established s2
wait_for 15 "203.0.113.10 via s2 in the router's kernel" bash -c "ip -n '$R' route show 203.0.113.10 | grep -q 192.0.2.12"
log "(iv) passive neighbour added by reload on listen_port 1179: Established, route installed"

# ---- (iii) the router restarts twice in a row: the passive s2 takes each new connection at once.
# Before, the first drop refused the router's calls for 5 s and the second for 10 s.
for round in 1 2; do
  bpid=$(cat "$RUN/bird.pid")
  stop_pid "$bpid"
  wait_for 10 "s2 noticing the router went away" bash -c "[[ \$('$VANECTL' --socket '$RUN/s2.sock' show neighbors | grep tor1) != *Established* ]]"
  start_bird "$R" "$RUN/bird.conf"
  BC=$BIRD_CTL
  UP=$SECONDS
  # BIRD calls 1 s after it starts; an accepted call is Established within a second or two.
  wait_for 8 "round $round: s2 Established again without a restart backoff" established s2
  log "(iii) router restart $round: s2 Established $((SECONDS - UP)) s after BIRD started"
done
grep -q "tor1: refusing connection" "$RUN/vaned-s2.log" && fail "(iii) s2 refused the router: $(grep 'refusing connection' "$RUN/vaned-s2.log" | head -3)"
out=$("$VANECTL" --socket "$RUN/s2.sock" show neighbors tor1) || fail "vanectl show neighbors tor1: $out"
grep -qi damped <<<"$out" && fail "(iii) tor1 shown damped: $out"
log PASS
