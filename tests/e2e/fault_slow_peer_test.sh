#!/usr/bin/env bash
# A router that stops reading while vaned has much to send (bgp_mute_peer.py on 192.0.2.1, 4 KiB
# receive buffer, IPv4 + IPv6 unicast, hold time 3 s). vaned announces N_PFX IPv6 /48s, each with
# its own MED and 10 prepends, so no two share an UPDATE: about 115 bytes each on the wire, several
# MB in all, far more than the kernel's buffers take.
#  (0) connection 0: the peer reads everything, then closes (the memory reference, see below);
#  (a) connection 1: the peer completes OPEN/KEEPALIVE, never reads again, and goes on sending a
#      KEEPALIVE every second, so RFC 4271's hold timer never fires: vaned's send-stall watch must
#      end the session ("send stalled") once the kernel has taken nothing for the hold time (3 s);
#  (b) connection 2: the peer completes the handshake and then sends nothing and reads nothing:
#      vaned's hold timer ends the session (3 s);
#  throughout (a) and (b), sampled every 100 ms or as fast as the metrics page (a series per
#  prefix) is served: the send queue (vanectl and the metric
#  vane_bgp_send_queue_bytes) never exceeds Speaker::kSendQueueLimit, 512 KiB, and vaned's VmRSS
#  stays within that plus RSS_SLACK_KB of its value after a full send to a reading peer (see
#  below); the queue reached the 256 KiB high mark (the peer really stopped vaned) and fewer than
#  N_PFX prefixes went out.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bgp_lib.sh"

PY=/usr/bin/python3
[[ -x $PY ]] || skip "needs $PY"
[[ -x $VANECTL ]] || fail "vanectl not found at $VANECTL"
HERE=$(cd "$(dirname "$0")" && pwd)
N_PFX=${N_PFX:-40000}
QUEUE_LIMIT=$((512 * 1024))   # Speaker::kSendQueueLimit (src/bgp/speaker.h)
QUEUE_HIGH=$((256 * 1024))    # Speaker::kSendQueueHigh: the walk stops once this much is queued
# RSS bound: the reference is vaned's VmRSS right after a peer that reads took all N_PFX prefixes
# (connection 0: every Adj-RIB-Out entry and attribute set built, the UPDATE steps allocated and
# freed) and the metrics page was scraped once. A peer that stops reading may add the send queue
# (at most 512 KiB) and the log lines of the session's end: RSS_SLACK_KB, 1 MiB, on top of the
# queue. A speaker that queued everything would add the whole table's UPDATEs, N_PFX x ~115 bytes
# (4.4 MiB for 40,000), and fail it.
RSS_SLACK_KB=${RSS_SLACK_KB:-1024}

bgp_topology 1

{
  printf '%s\n' 'neighbor {
  name: "tor1" address: "192.0.2.1" remote_asn: 65000 hold_time_s: 3 connect_retry_s: 1
  families: IPV4_UNICAST families: IPV6_UNICAST
}
metrics { listen: "127.0.0.1:9180" }
service {
  name: "many"'
  "$PY" -c "
import sys
for i in range($N_PFX):
    sys.stdout.write('  announce { prefix: \"2001:db8:%x::/48\" med: %d prepend: 10 }\n' % (i + 1, i))"
  echo '}'
} >"$RUN/body.conf"
vaned_conf 1 65011 "$(cat "$RUN/body.conf")" >/dev/null
"$VANED" --check "$RUN/s1.conf" >/dev/null || fail "config invalid: $("$VANED" --check "$RUN/s1.conf" 2>&1 | head -5)"

STATUS=$RUN/peer.status
bg "$R" peer "$PY" "$HERE/bgp_mute_peer.py" 192.0.2.1 65000 192.0.2.1 3 "$STATUS"
wait_for 10 "the mute peer listening" grep -q listening "$STATUS"
# A fixed mmap threshold (glibc raises it after each large free by default): the metrics page, a
# series per prefix (~5 MB for 40,000), is then mapped and unmapped at each scrape instead of
# settling in the heap a little more each time, which moved VmRSS by up to 1.5 MB between scrapes.
GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072 start_vaned "${S[1]}" vaned-s1 "$RUN/s1.conf"; P1=$VANED_PID

nbr() {  # nbr FIELD: a field of vanectl's view of tor1
  "$VANECTL" --socket "$RUN/s1.sock" -o json show neighbors tor1 |
    "$PY" -c 'import json,sys; print(json.load(sys.stdin)["neighbors"]["neighbors"][0].get(sys.argv[1], 0))' "$1"
}
# sample TAG REGEX SECONDS: every 100 ms, one JSON line into $RUN/TAG.samples: vaned's send queue
# for tor1 (vanectl and the metric vane_bgp_send_queue_bytes), its VmRSS (kB) and prefixes sent;
# until what vaned logs after the call matches REGEX (bounded by SECONDS).
sample() {
  local skip; skip=$(stat -c %s "$RUN/vaned-s1.log")
  ip netns exec "${S[1]}" "$PY" - "$RUN/$1.samples" "$2" "$3" "$skip" "$RUN/vaned-s1.log" "$P1" \
    "$VANECTL" "$RUN/s1.sock" <<'PY' || fail "$1: vaned's log never matched '$2' within ${3}s: $(tail -n 3 "$RUN/$1.samples" | tr '\n' ' ')"
import json, re, subprocess, sys, time, urllib.request
out, regex, secs, skip, logf, pid, vanectl, sock = sys.argv[1:]
deadline = time.monotonic() + float(secs)
with open(out, "w") as f:
    while time.monotonic() < deadline:
        n = json.loads(subprocess.run([vanectl, "--socket", sock, "-o", "json", "show", "neighbors", "tor1"],
                                      capture_output=True, check=True).stdout)["neighbors"]["neighbors"][0]
        metric = None
        for l in urllib.request.urlopen("http://127.0.0.1:9180/metrics", timeout=2).read().decode().splitlines():
            if l.startswith("vane_bgp_send_queue_bytes{") and 'neighbor="tor1"' in l:
                metric = int(float(l.split()[-1]))
        rss = int(re.search(r"^VmRSS:\s+(\d+)", open("/proc/%s/status" % pid).read(), re.M).group(1))
        f.write(json.dumps({"t": round(time.time(), 3), "queue": int(n.get("send_queue_bytes", 0)), "metric": metric,
                            "rss": rss, "sent": int(n.get("prefixes_sent", 0)), "state": n.get("state")}) + "\n")
        f.flush()
        with open(logf, "rb") as lf:
            lf.seek(int(skip))
            if re.search(regex, lf.read().decode(errors="replace"), re.M):
                sys.exit(0)
        time.sleep(0.1)
sys.exit(1)
PY
}
# log_ms FROM_BYTE REGEX1 REGEX2: ms between the first lines matching REGEX1 and then REGEX2 in
# vaned's log after FROM_BYTE, by the log's own timestamps (which the 3 s bounds are about).
log_ms() {
  tail -c +"$(($1 + 1))" "$RUN/vaned-s1.log" | "$PY" -c '
import datetime, re, sys
t = {}
for l in sys.stdin:
    for k, rx in ((1, sys.argv[1]), (2, sys.argv[2])):
        if k not in t and (k == 1 or 1 in t) and re.search(rx, l):
            t[k] = datetime.datetime.fromisoformat(l.split()[0])
print(int((t[2] - t[1]).total_seconds() * 1000) if len(t) == 2 else -1)' "$2" "$3"
}
# check_samples TAG RSS0: the bounds over TAG's samples
check_samples() {
  local tag=$1 rss0=$2 maxq maxm maxr maxs
  read -r maxq maxm maxr maxs < <("$PY" -c '
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
print(max(r["queue"] for r in rs), max(r["metric"] or 0 for r in rs), max(r["rss"] for r in rs), max(r["sent"] for r in rs))' "$RUN/$tag.samples")
  log "  $tag: $(wc -l <"$RUN/$tag.samples") samples; max send queue $maxq B (vanectl), $maxm B (metric); VmRSS $rss0 -> max $maxr kB; prefixes sent at most $maxs of $N_PFX"
  ((maxq <= QUEUE_LIMIT && maxm <= QUEUE_LIMIT)) || fail "$tag: send queue above $QUEUE_LIMIT B: $maxq (vanectl), $maxm (metric)"
  ((maxq >= QUEUE_HIGH)) || fail "$tag: the send queue never reached $QUEUE_HIGH B (max $maxq): the peer did not hold vaned back"
  ((maxs < N_PFX)) || fail "$tag: all $N_PFX prefixes went out: the peer did not stop vaned"
  ((maxr - rss0 <= QUEUE_LIMIT / 1024 + RSS_SLACK_KB)) ||
    fail "$tag: VmRSS grew by $((maxr - rss0)) kB over the reference (bound $((QUEUE_LIMIT / 1024)) + $RSS_SLACK_KB kB)"
}

# (0) connection 0, a router that reads: vaned sends all N_PFX; its VmRSS then is the reference
# (every prefix's Adj-RIB-Out entry and attributes built once). The peer then closes.
wait_for 20 "connection 0 Established" grep -q "established 0" "$STATUS"
all_sent() { [[ $(nbr prefixes_sent) == "$N_PFX" && $(nbr send_queue_bytes) == 0 ]]; }
wait_for 30 "all $N_PFX prefixes sent to a peer that reads" all_sent
# The metrics page has a series per prefix (vane_prefix_announced): scraping it once makes its
# ~5 MB (40,000 prefixes) part of the reference, as the samples below scrape it too.
ip netns exec "${S[1]}" "$PY" -c 'import urllib.request; urllib.request.urlopen("http://127.0.0.1:9180/metrics", timeout=5).read()' ||
  fail "metrics endpoint"
rss0=$(proc_status "$P1" VmRSS)
log "(0) a reading peer took all $N_PFX prefixes; vaned's VmRSS $rss0 kB"
from=$(stat -c %s "$RUN/vaned-s1.log")  # connection 1 comes up after this
touch "$STATUS.close0"
wait_for 5 "the peer closed connection 0" grep -q "closed 0" "$STATUS"

# (a) connection 1: KEEPALIVEs keep coming, nothing is read.
wait_for 20 "connection 1 Established" grep -q "established 1" "$STATUS"
sample a "bgp tor1: send stalled" 15
ms=$(log_ms "$from" "bgp tor1: established with" "bgp tor1: send stalled")
from=$(stat -c %s "$RUN/vaned-s1.log")  # connection 2 comes up after this (IdleHold >= 1 s)
check_samples a "$rss0"
grep -q "Hold Timer Expired" "$RUN/vaned-s1.log" && fail "(a) the hold timer fired although the peer sent KEEPALIVEs"
((ms >= 3000)) || fail "(a) dropped $ms ms after Established, before the 3 s hold time"
log "(a) peer reading nothing but sending KEEPALIVEs: vaned dropped the session ($(grep -o 'send stalled[^"]*' "$RUN/vaned-s1.log" | head -1)) ${ms} ms after it came up"
wait_for 5 "the peer saw connection 1 reset" grep -q "closed 1" "$STATUS"

# (b) connection 2: silent in both directions; the hold timer ends it.
wait_for 10 "connection 2 Established" grep -q "established 2" "$STATUS"
rss1=$(proc_status "$P1" VmRSS)
sample b "bgp tor1: Established -> Idle \\(HoldTimer_Expires\\)" 10
ms=$(log_ms "$from" "bgp tor1: established with" "bgp tor1: Established -> Idle \\(HoldTimer_Expires\\)")
check_samples b "$rss0"
# The peer's last message (its KEEPALIVE) is what made the session Established, in the same ms.
((ms >= 2999)) || fail "(b) the hold timer fired $ms ms after Established, before the 3 s hold time"
log "(b) peer silent: vaned's hold timer ended the session ${ms} ms after it came up (VmRSS $rss1 kB at that start)"
touch "$STATUS.done"

# vaned is still whole: it answers, and its memory went back near where it was.
[[ $(nbr state) != Established ]] || fail "tor1 still Established"
log "after: vanectl answers (tor1 $(nbr state), last error '$(nbr last_error)'), VmRSS $(proc_status "$P1" VmRSS) kB"
log PASS
