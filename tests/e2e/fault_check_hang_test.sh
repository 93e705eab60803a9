#!/usr/bin/env bash
# Health checks that hang, with a real BIRD 2 as the ToR and its FIB as the witness. vaned on s1
# has two services, each checked every 200 ms with timeout 150 ms, fall 3, rise 2, no jitter:
#   "ex" (203.0.113.20/32): an exec check whose command, once $RUN/hang exists, starts a background
#        sleep and a foreground one (60 s each) and never returns;
#   "hc" (203.0.113.21/32): an http check on a server that, once $RUN/mute exists, accepts every
#        connection and never answers (it holds them and counts those still open).
# Both hang for HANG_S seconds. What must hold:
#  - each check times out per its timeout: vaned logs "timed out after 150 ms" for it, and the
#    service goes down after exactly `fall` (3) failed runs, then its prefix leaves the router's FIB;
#  - the checks go on running (at least one timed-out run per 2 intervals) instead of waiting on the
#    hung one;
#  - vaned stays responsive: `vanectl show services` answers every 100 ms (or as fast as it
#    returns) during the hang, each within its 2 s timeout;
#  - no pile-up: at most one run's processes alive at once (2 sleeps), at most 2 of the mute
#    server's connections open at once, vaned's descriptors at most 8 above their count before;
#  - the hang ends: every check process is gone within a timeout, the held connections are closed,
#    the services come back after `rise` (2) good runs and their prefixes return to the FIB.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bgp_lib.sh"

PY=/usr/bin/python3
[[ -x $PY ]] || skip "needs $PY"
command -v bird >/dev/null || skip "needs bird"
[[ -x $VANECTL ]] || fail "vanectl not found at $VANECTL"
EX=203.0.113.20 HC=203.0.113.21
HANG_S=4 FALL=3 RISE=2 INTERVAL_MS=200 TIMEOUT_MS=150

bgp_topology 1
ip -n "${S[1]}" addr add "$EX/32" dev lo
ip -n "${S[1]}" addr add "$HC/32" dev lo

# The hanging command; its processes are named $RUN/hangsleep so the test can count them wherever
# they end up (a sleep whose shell was killed is re-parented).
ln -s "$(command -v sleep)" "$RUN/hangsleep"
cat >"$RUN/probe.sh" <<EOF
#!/bin/sh
[ -f "$RUN/hang" ] || exit 0
"$RUN/hangsleep" 60 &
"$RUN/hangsleep" 60
EOF
chmod 755 "$RUN/probe.sh"

cat >"$RUN/mute_http.py" <<'PY'
import os, selectors, socket, sys, time
addr, mute_flag, status = sys.argv[1], sys.argv[2], sys.argv[3]
lst = socket.create_server((addr, 8080), backlog=64)
lst.setblocking(False)
sel = selectors.DefaultSelector()
sel.register(lst, selectors.EVENT_READ)
held = set()
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    for key, _ in sel.select(0.05):
        c, _ = lst.accept()
        if os.path.exists(mute_flag):
            c.setblocking(False)
            held.add(c)
            continue
        c.settimeout(1)
        try:
            c.recv(4096)
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
        except OSError:
            pass
        c.close()
    for c in list(held):  # closed by the checker: EOF (or a reset) without reading the request
        try:
            while True:
                d = c.recv(4096)
                if not d:
                    raise ConnectionError
        except BlockingIOError:
            continue
        except OSError:
            held.discard(c)
            c.close()
    with open(status + ".tmp", "w") as f:
        f.write("%d\n" % len(held))
    os.replace(status + ".tmp", status)
PY
bg "${S[1]}" mute "$PY" "$RUN/mute_http.py" "$HC" "$RUN/mute" "$RUN/held"
wait_for 10 "the HTTP server" test -s "$RUN/held"

bird_ecmp_tor 1
start_bird "$R" "$RUN/bird.conf"
chk() {  # chk NAME KIND_BLOCK
  echo "check { name: \"$1\" $2 interval_ms: $INTERVAL_MS timeout_ms: $TIMEOUT_MS rise: $RISE fall: $FALL jitter_pct: 0 }"
}
vaned_conf 1 65011 'neighbor { name: "tor1" address: "192.0.2.1" remote_asn: 65000 hold_time_s: 9 }' \
  "service { name: \"ex\" vip { address: \"$EX\" port: 80 protocol: TCP } announce { prefix: \"$EX/32\" }
  $(chk hang "exec { command: \"$RUN/probe.sh\" }") }" \
  "service { name: \"hc\" vip { address: \"$HC\" port: 8080 protocol: TCP } announce { prefix: \"$HC/32\" }
  $(chk mute 'http { port: 8080 path: "/" }') }" >/dev/null
"$VANED" --check "$RUN/s1.conf" >/dev/null || fail "config invalid: $("$VANED" --check "$RUN/s1.conf" 2>&1)"
start_vaned "${S[1]}" vaned-s1 "$RUN/s1.conf"; P1=$VANED_PID

in_fib() { ip -n "$R" route show "$1" | grep -q "via 192.0.2.11"; }
wait_for 20 "both prefixes in the router's FIB" bash -c "ip -n $R route show $EX | grep -q 192.0.2.11 && ip -n $R route show $HC | grep -q 192.0.2.11"
fd0=$(fd_count "$P1")
log "start: $EX and $HC via s1 in the router's FIB; vaned has $fd0 descriptors open"

# ---- the hang ------------------------------------------------------------------------------------
log_from=$(stat -c %s "$RUN/vaned-s1.log")
touch "$RUN/hang" "$RUN/mute"
t0=$EPOCHREALTIME
"$PY" - "$RUN/hang.samples" "$HANG_S" "$P1" "$RUN" "$VANECTL" <<'PY' || fail "sampling during the hang: $(tail -n 2 "$RUN/hang.samples")"
import json, os, subprocess, sys, time
out, secs, pid, run, vanectl = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
sleeper = (run + "/hangsleep").encode()
def procs():
    n = 0
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if open("/proc/%s/cmdline" % p, "rb").read().split(b"\0")[0] == sleeper:
                    n += 1
            except OSError:
                pass
    return n
end = time.monotonic() + secs
with open(out, "w") as f:
    while time.monotonic() < end:
        t = time.monotonic()
        r = subprocess.run([vanectl, "--socket", run + "/s1.sock", "-t", "2", "show", "services"], capture_output=True)
        f.write(json.dumps({"vanectl_rc": r.returncode, "vanectl_ms": round((time.monotonic() - t) * 1000),
                            "procs": procs(), "fds": len(os.listdir("/proc/%s/fd" % pid)),
                            "held": int(open(run + "/held").read() or 0)}) + "\n")
        time.sleep(max(0, 0.1 - (time.monotonic() - t)))
PY
read -r n bad maxms maxp maxfd maxheld < <("$PY" -c '
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
print(len(rs), sum(r["vanectl_rc"] != 0 for r in rs), max(r["vanectl_ms"] for r in rs), max(r["procs"] for r in rs),
      max(r["fds"] for r in rs), max(r["held"] for r in rs))' "$RUN/hang.samples")
log "hang (${HANG_S}s): $n samples; vanectl failed $bad times, slowest answer ${maxms} ms; at most $maxp hanging processes, $maxheld held connections, $maxfd descriptors (before: $fd0)"
((bad == 0)) || fail "vanectl failed $bad of $n times during the hang: $(grep -v '"vanectl_rc": 0' "$RUN/hang.samples" | head -3)"
((maxp <= 2)) || fail "$maxp check processes alive at once: the timed-out runs were not killed"
((maxheld <= 2)) || fail "$maxheld of the mute server's connections open at once: timed-out http checks were not closed"
((maxfd <= fd0 + 8)) || fail "vaned's descriptors went from $fd0 to $maxfd during the hang"
((maxp >= 1 && maxheld >= 1)) || fail "nothing hung (processes $maxp, held connections $maxheld): the test tested nothing"

gone() { ! in_fib "$1"; }
wait_for 3 "$EX withdrawn from the FIB" gone "$EX"
wait_for 3 "$HC withdrawn from the FIB" gone "$HC"
# What vaned logged for each check during the hang: its runs, in order, up to the verdict.
runs() {  # runs SERVICE/CHECK: "F" per failed run (a timeout) up to and including the down verdict
  tail -c +"$((log_from + 1))" "$RUN/vaned-s1.log" | "$PY" -c '
import re, sys
name = sys.argv[1]
seq = ""
for l in sys.stdin:
    if "check %s " % name not in l and "check %s:" % name not in l:
        continue
    if "timed out after" in l:
        seq += "F"
    elif "failed:" in l or "-> down" in l:
        seq += "?"
    if "up -> down" in l:
        print(seq)
        break' "$1"
}
for c in ex/hang hc/mute; do
  r=$(runs "$c")
  [[ $r == $(printf 'F%.0s' $(seq "$FALL")) ]] ||
    fail "check $c: expected $FALL timed-out runs then the down verdict, got '$r': $(grep "check $c" "$RUN/vaned-s1.log" | tail -n 5)"
done
grep -q "check ex/hang up -> down (timed out after $TIMEOUT_MS ms, process group killed)" "$RUN/vaned-s1.log" ||
  fail "no 'timed out after $TIMEOUT_MS ms, process group killed' for the exec check"
grep -q "check hc/mute up -> down (.*$TIMEOUT_MS ms" "$RUN/vaned-s1.log" || fail "no timeout verdict for the http check: $(grep 'check hc/mute' "$RUN/vaned-s1.log" | tail -n 2)"
nto() { tail -c +"$((log_from + 1))" "$RUN/vaned-s1.log" | grep -c "check $1.*timed out after" || true; }
runs_min=$((HANG_S * 1000 / INTERVAL_MS / 2))
for c in ex/hang hc/mute; do
  (($(nto "$c") >= runs_min)) || fail "check $c timed out only $(nto "$c") times in ${HANG_S}s (at least $runs_min expected): runs stopped"
done
log "verdicts: both checks failed $FALL times by timeout, then went down; their prefixes left the FIB; $(nto ex/hang) + $(nto hc/mute) timed-out runs in all"

# ---- the end of the hang -------------------------------------------------------------------------
rm -f "$RUN/hang" "$RUN/mute"
no_procs() { ! pgrep -f "^$RUN/hangsleep" >/dev/null; }
wait_for 2 "every hanging check process gone" no_procs
wait_for 2 "the held connections closed" grep -qx 0 "$RUN/held"
wait_for 5 "$EX back in the FIB" in_fib "$EX"
wait_for 5 "$HC back in the FIB" in_fib "$HC"
grep -q "check ex/hang down -> up" "$RUN/vaned-s1.log" || fail "no up verdict for ex/hang"
fd1=$(fd_count "$P1")
((fd1 <= fd0 + 2)) || fail "vaned holds $fd1 descriptors after the hang, $fd0 before"
log "after: no check process left, no connection held, both prefixes back in the FIB; vaned has $fd1 descriptors open"
log PASS
