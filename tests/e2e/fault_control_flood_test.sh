#!/usr/bin/env bash
# A flood of control connections, with a real BIRD 2 as the ToR and its FIB as the witness.
# FLOOD_N connections are opened on vaned's control socket in about a second and held for FLOOD_S
# seconds: a third send nothing, a third send garbage, a third announce a 4 GiB request and stop.
# What must hold (the control server takes 16 connections at most and gives each 5 s):
#  - every connection beyond the 16 is refused at once with the BUSY error; every connection vaned
#    took is closed by it (an error reply or the 5 s timeout) before the flood ends: none is held
#    longer than the timeout (+1 s);
#  - vaned's descriptors stay within 16 + 8 of their count before, and return to it after;
#  - BGP goes on: the session to BIRD stays Established throughout, and a health change made in the
#    middle of the flood reaches the router's FIB (withdrawn, then back);
#  - a vanectl during the flood gets an answer or the clear BUSY error within its 3 s timeout, never
#    a hang; after the flood a legitimate vanectl is answered.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bgp_lib.sh"

PY=/usr/bin/python3
[[ -x $PY ]] || skip "needs $PY"
command -v bird >/dev/null || skip "needs bird"
[[ -x $VANECTL ]] || fail "vanectl not found at $VANECTL"
VIP=203.0.113.10
FLOOD_N=${FLOOD_N:-300} FLOOD_S=8
MAX_CONN=16 IO_TIMEOUT_S=5   # control::ServerOptions defaults (src/control/server.h)

bgp_topology 1
ip -n "${S[1]}" addr add "$VIP/32" dev lo
bird_ecmp_tor 1
start_bird "$R" "$RUN/bird.conf"
touch "$RUN/up"
vaned_conf 1 65011 'neighbor { name: "tor1" address: "192.0.2.1" remote_asn: 65000 hold_time_s: 9 }' \
  "service { name: \"web\" vip { address: \"$VIP\" port: 80 protocol: TCP } announce { prefix: \"$VIP/32\" }
  check { name: \"flag\" exec { command: \"test -f $RUN/up\" } interval_ms: 100 timeout_ms: 100 rise: 1 fall: 1 } }" >/dev/null
"$VANED" --check "$RUN/s1.conf" >/dev/null || fail "config invalid: $("$VANED" --check "$RUN/s1.conf" 2>&1)"
start_vaned "${S[1]}" vaned-s1 "$RUN/s1.conf"; P1=$VANED_PID
in_fib() { ip -n "$R" route show "$VIP" | grep -q "via 192.0.2.11"; }
wait_for 20 "$VIP via s1 in the router's FIB" in_fib
since() { birdc -s "$BIRD_CTL" show protocols s1 | awk '$1 == "s1" {print $5, $6}'; }
bgp_since=$(since)
est0=$(grep -c "bgp tor1: .* -> Established" "$RUN/vaned-s1.log")
fd0=$(fd_count "$P1")
log "start: session up since $bgp_since, $VIP in the FIB; vaned has $fd0 descriptors open"

# ---- the flood -----------------------------------------------------------------------------------
cat >"$RUN/flood.py" <<'PY'
import json, os, selectors, socket, struct, sys, time
path, n, secs, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
sel = selectors.DefaultSelector()
conns, res = {}, {"opened": 0, "connect_failed": 0, "refused_before_send": 0, "busy": 0, "other_reply": 0, "closed_by_vaned": 0,
                   "still_open": 0, "longest_held_s": 0.0}
start = time.monotonic()
for i in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect(path)
    except OSError as e:
        res["connect_failed"] += 1
        res.setdefault("connect_errors", []).append(e.strerror or type(e).__name__)
        s.close()
        continue
    try:
        kind = i % 3
        if kind == 1:
            s.sendall(os.urandom(64))
        elif kind == 2:
            s.sendall(struct.pack("!I", 0xFFFFFFFF))  # a 4 GiB request, never sent
    except BrokenPipeError:  # refused (BUSY) and closed before the bytes went out
        res["refused_before_send"] += 1
        s.close()
        continue
    res["opened"] += 1
    s.setblocking(False)
    conns[s] = [time.monotonic(), b""]
    sel.register(s, selectors.EVENT_READ)
    time.sleep(0.002)
while conns and time.monotonic() - start < secs:
    for key, _ in sel.select(0.05):
        s = key.fileobj
        try:
            d = s.recv(65536)
        except OSError:
            d = b""
        if d:
            conns[s][1] += d
            continue
        t0, got = conns.pop(s)
        sel.unregister(s)
        s.close()
        res["closed_by_vaned"] += 1
        res["longest_held_s"] = max(res["longest_held_s"], round(time.monotonic() - t0, 2))
        if b"too many control connections" in got:
            res["busy"] += 1
        elif got:
            res["other_reply"] += 1
res["still_open"] = len(conns)
for s in conns:
    s.close()
json.dump(res, open(out, "w"))
PY
bg "${S[1]}" flood "$PY" "$RUN/flood.py" "$RUN/s1.sock" "$FLOOD_N" "$FLOOD_S" "$RUN/flood.json"
FLOOD=$LAST_PID
# Meanwhile: vaned's descriptors, a vanectl now and then, and a health change through BGP.
: >"$RUN/fds"
sample_fds() { local i; for ((i = 0; i < 10 * (FLOOD_S + 1); i++)); do fd_count "$P1" >>"$RUN/fds"; sleep 0.1; done; }
sample_fds &
FDS=$!
sleep 1
vanectl_during() {  # one vanectl during the flood: answered or BUSY, within its 3 s timeout
  local out rc=0
  out=$("$VANECTL" --socket "$RUN/s1.sock" -t 3 show services 2>&1) || rc=$?
  if ((rc == 0)); then echo answered; elif grep -q "too many control connections" <<<"$out"; then echo busy
  else fail "vanectl during the flood: exit $rc: $out"; fi
}
d1=$(vanectl_during)
rm -f "$RUN/up"
wait_for 3 "(flood) $VIP withdrawn from the FIB after its check failed" bash -c "! ip -n $R route show $VIP | grep -q 192.0.2.11"
touch "$RUN/up"
wait_for 3 "(flood) $VIP back in the FIB" in_fib
d2=$(vanectl_during)
log "during the flood: a health change went through BGP to the FIB and back; vanectl: $d1, $d2"
wait "$FLOOD" || fail "the flood client failed: $(cat "$RUN/flood.log")"
wait "$FDS" || true
res=$(cat "$RUN/flood.json")
log "flood: $res"
maxfd=$(sort -n "$RUN/fds" | tail -n 1)
log "vaned's descriptors during the flood: at most $maxfd (before: $fd0)"

"$PY" - "$res" "$FLOOD_N" "$MAX_CONN" "$IO_TIMEOUT_S" <<'PY' || fail "flood: $res"
import json, sys
r, n, maxc, tmo = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
errs = []
if r["connect_failed"]: errs.append("%d connects failed: %s" % (r["connect_failed"], r.get("connect_errors")))
if r["opened"] + r["refused_before_send"] != n: errs.append("not every connection accounted for")
if r["still_open"]: errs.append("%d connections still open when the flood ended" % r["still_open"])
if r["longest_held_s"] > tmo + 1: errs.append("a connection held %.2f s, past the %g s timeout" % (r["longest_held_s"], tmo))
# Every connection is refused at once but those vaned took: 16 slots, each held by a silent
# connection for the 5 s timeout or freed sooner by an error reply (counted apart). The flood opens
# its connections in well under 5 s, so each slot sees at most 2 silent connections in turn.
taken = r["opened"] - r["busy"]
if taken - r["other_reply"] > maxc * 2: errs.append("%d connections neither refused nor answered" % (taken - r["other_reply"]))
if errs: sys.exit("; ".join(errs))
PY
((maxfd <= fd0 + MAX_CONN + 8)) || fail "vaned's descriptors reached $maxfd (before: $fd0, bound +$MAX_CONN +8)"
[[ $(since) == "$bgp_since" ]] || fail "the BGP session was reset during the flood: up since $bgp_since, now $(since)"
(($(grep -c "bgp tor1: .* -> Established" "$RUN/vaned-s1.log") == est0)) || fail "vaned's session went down and up during the flood"

# ---- after ---------------------------------------------------------------------------------------
out=$("$VANECTL" --socket "$RUN/s1.sock" -t 2 show services 2>&1) || fail "vanectl after the flood: $out"
grep -q web <<<"$out" || fail "vanectl after the flood: no service web in: $out"
wait_for 2 "vaned's descriptors back to $fd0" bash -c "(( \$(ls /proc/$P1/fd | wc -l) <= $fd0 ))"
log "after: vanectl answered, vaned back to $(fd_count "$P1") descriptors, BGP session up since $bgp_since throughout"
log PASS
