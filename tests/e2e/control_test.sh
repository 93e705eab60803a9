#!/usr/bin/env bash
# vanectl against a running vaned whose routers are one real BIRD 2 with three BGP protocols
# (t1, t2, t3 on 192.0.2.1, .2, .3, facing vaned's 192.0.2.11, .21, .31): vaned's neighbours
# tor1, tor2 and, after a reload, tor3:
#  - every command in text and in `-o json`: show neighbors|routes|services|health|site|forwarding,
#    drain [SERVICE], undrain [SERVICE], reload, neighbor NAME shutdown|enable|reset;
#  - exit codes: 0 ok, 1 daemon error, 2 usage, 3 unreachable; the socket is mode 0600 and
#    another uid is refused by the mode and, past it, by the peer credential check;
#  - drain/undrain (one service, all) and SIGUSR1/SIGUSR2 as BIRD sees them;
#  - neighbor shutdown reaches BIRD as Cease / Administrative Shutdown, enable brings it back;
#  - reload: an invalid file changes nothing (errors with FILE:LINE:COLUMN); adding or removing a
#    neighbour or a prefix touches only that one, as BIRD sees it (session and route "since"
#    times in ms, and BIRD's count of received updates);
#  - the metrics page, scraped inside the namespace, parses with prometheus_client's parser.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bgp_lib.sh"

PY=/usr/bin/python3
[[ -x $VANECTL ]] || fail "vanectl binary not found at $VANECTL"
$PY -c 'import prometheus_client.parser' 2>/dev/null || skip "python3-prometheus-client is not installed"
command -v bird >/dev/null || skip "BIRD is not installed"
command -v curl >/dev/null || skip "curl is not installed"
HERE=$(cd "$(dirname "$0")" && pwd)

bgp_topology 1
ip -n "$R" addr add 192.0.2.2/24 dev br0
ip -n "$R" addr add 192.0.2.3/24 dev br0
# BIRD runs one protocol per neighbour address (it locks on it), so vaned uses a local address
# per session: tor1 from 192.0.2.11, tor2 from .21, tor3 from .31.
ip -n "${S[1]}" addr add 192.0.2.21/24 dev eth0
ip -n "${S[1]}" addr add 192.0.2.31/24 dev eth0
SOCK="$RUN/s1.sock"

# BIRD: passive, so every session is vaned's doing; times with milliseconds, so a reset within the
# same second still shows.
cat >"$RUN/bird.conf" <<EOF
log "$RUN/bird.log" all;
router id 192.0.2.1;
timeformat protocol iso long ms;
timeformat route iso long ms;
protocol device { scan time 10; }
protocol static sent4 { ipv4; route 198.51.100.0/28 blackhole; route 198.51.100.16/28 blackhole; route 198.51.100.32/28 blackhole; }
template bgp tor {
  passive on;
  hold time 9; keepalive time 3; connect retry time 1;
}
protocol bgp t1 from tor { local 192.0.2.1 as 65000; neighbor 192.0.2.11 as 65011; ipv4 { import all; export where proto = "sent4"; }; }
protocol bgp t2 from tor { local 192.0.2.2 as 65000; neighbor 192.0.2.21 as 65011; ipv4 { import all; export where net = 198.51.100.0/28; }; }
protocol bgp t3 from tor { local 192.0.2.3 as 65000; neighbor 192.0.2.31 as 65011; ipv4 { import all; export none; }; }
EOF
start_bird "$R" "$RUN/bird.conf"
BC=$BIRD_CTL

# ---- config: neighbours and the web service's extra prefix vary between reloads
touch "$RUN/web-up"
nb() { echo "neighbor { name: \"tor$1\" address: \"192.0.2.$1\" local_address: \"192.0.2.${1}1\" remote_asn: 65000 hold_time_s: 9 connect_retry_s: 1 keep_received_routes: true }"; }
write_conf() {  # write_conf "NEIGHBOR NAMES" EXTRA_PREFIX|"" [EXTRA TEXT]
  local body="" n extra=""
  for n in $1; do body+=$(nb "${n#tor}")$'\n'; done
  [[ -n $2 ]] && extra="announce { prefix: \"$2\" community: \"65000:100\" }"
  CONF=$(vaned_conf 1 65011 "$body" "
service {
  name: \"web\"
  vip { address: \"203.0.113.10\" port: 80 protocol: TCP }
  announce { prefix: \"203.0.113.10/32\" community: \"65000:100\" med: 50 }
  $extra
  check { name: \"flag\" exec { command: \"test -f $RUN/web-up\" } interval_ms: 100 timeout_ms: 90 rise: 1 fall: 1 }
  drain_time_s: 2
}
service {
  name: \"dns\"
  vip { address: \"203.0.113.53\" port: 53 protocol: UDP }
  announce { prefix: \"203.0.113.53/32\" }
  check { name: \"alive\" exec { command: \"true\" } interval_ms: 200 timeout_ms: 150 rise: 1 fall: 1 }
}
metrics { listen: \"127.0.0.1:${METRICS_PORT:-9179}\" }
${3:-}")
}
write_conf "tor1 tor2" ""
"$VANED" --check "$CONF" >/dev/null || fail "config invalid: $("$VANED" --check "$CONF" 2>&1)"
start_vaned "${S[1]}" vaned "$CONF"
VPID=$VANED_PID

# ---- helpers
vc() {  # vc WANT_RC ARGS...: runs vanectl on our socket; OUT and ERR hold its output
  local want=$1 rc=0; shift
  OUT=$("$VANECTL" --socket "$SOCK" "$@" 2>"$RUN/vc.err") || rc=$?
  ERR=$(<"$RUN/vc.err")
  ((rc == want)) || fail "vanectl $*: exit $rc, expected $want; stdout: $OUT; stderr: $ERR"
}
jcheck() {  # jcheck JSON PYEXPR...: each expression must hold with d = the parsed JSON
  $PY - "$@" <<'PY' || fail "JSON check failed (see above)"
import json, sys
d = json.loads(sys.argv[1])
by = lambda items, key="name": {x[key]: x for x in items}
for e in sys.argv[2:]:
    if not eval(e, {"d": d, "by": by}):
        print("JSON check failed:", e, "\n", json.dumps(d, indent=1)[:3000])
        sys.exit(1)
PY
}
has_row() {  # has_row TEXT REGEX: some line matches
  grep -Eq "$2" <<<"$1" || fail "no line matching /$2/ in:"$'\n'"$1"
}
established() { birdc -s "$BC" show protocols "$1" | grep -q Established; }
since() { birdc -s "$BC" show protocols "$1" | awk -v p="$1" '$1 == p { print $5 " " $6 }'; }
route_since() {  # route_since PROTO PREFIX: the time BIRD took in the route, or nothing
  birdc -s "$BC" show route all "$2" protocol "$1" | grep -o "\[$1 [^]]*\]" | head -1
}
updates_rcvd() {  # updates_rcvd PROTO: "UPDATES WITHDRAWS" BIRD received, counted per prefix
  birdc -s "$BC" show protocols all "$1" | awk '/Import updates:/ { u = $3 } /Import withdraws:/ { w = $3 } END { print u, w }'
}
has_route() { birdc -s "$BC" show route "$2" protocol "$1" | grep -q "^${2%/*}"; }
snapshot() {  # the BIRD-side facts that must not move when an untouched session or prefix is spared
  local p
  for p in t1 t2; do
    echo "$p session since $(since "$p")"
    echo "$p 203.0.113.10/32 $(route_since "$p" 203.0.113.10/32)"
    echo "$p 203.0.113.53/32 $(route_since "$p" 203.0.113.53/32)"
  done
}
# same_times A B: equal but for timestamps, which may differ by a few ms: BIRD shows its monotonic
# times converted to wall-clock time with an offset it re-reads, so the same time wobbles by 1 ms.
# A route or session really re-done moves by the seconds between snapshot and change.
same_times() {
  $PY - "$1" "$2" <<'PY'
import re, sys
from datetime import datetime
ts = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}"
a, b = sys.argv[1], sys.argv[2]
if re.sub(ts, "T", a) != re.sub(ts, "T", b):
    sys.exit(1)
parse = lambda t: datetime.strptime(t, "%Y-%m-%d %H:%M:%S.%f")
for x, y in zip(re.findall(ts, a), re.findall(ts, b)):
    if abs((parse(x) - parse(y)).total_seconds()) > 0.1:
        sys.exit(1)
PY
}
updates() { echo "$(updates_rcvd t1) $(updates_rcvd t2)"; }  # "U1 W1 U2 W2"
settle() {  # give vaned time to (wrongly) touch what it should not; UPDATEs take milliseconds
  sleep 1
}

wait_for 20 "t1 Established" established t1
wait_for 20 "t2 Established" established t2
for p in t1 t2; do
  for r in 203.0.113.10/32 203.0.113.53/32; do wait_for 10 "$r via $p" has_route "$p" "$r"; done
done
holds_3_and_1() {
  "$VANECTL" --socket "$SOCK" -o json show neighbors |
    $PY -c 'import json, sys; sys.exit([n["prefixes_received"] for n in json.load(sys.stdin)["neighbors"]["neighbors"]] != ["3", "1"])'
}
wait_for 10 "vaned to hold BIRD's 3 and 1 prefixes" holds_3_and_1
log "tor1 and tor2 Established with BIRD; both prefixes announced on both"

# ---- the socket
[[ -S $SOCK ]] || fail "$SOCK is not a socket"
mode=$(stat -c %a "$SOCK"); owner=$(stat -c %U "$SOCK")
[[ $mode == 600 && $owner == root ]] || fail "control socket mode $mode owner $owner, expected 600 root"
# Another uid: the mode keeps it out (unreachable, 3); with the mode opened up, the daemon's peer
# credential check still refuses it (an error from the daemon, 1).
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$VANECTL" --socket "$SOCK" "$@"; }
rc=0; as_nobody show neighbors >/dev/null 2>"$RUN/vc.err" || rc=$?
((rc == 3)) || fail "uid 65534 on a 0600 socket: exit $rc, expected 3: $(cat "$RUN/vc.err")"
chmod 666 "$SOCK"
rc=0; as_nobody -o json show neighbors >"$RUN/vc.out" 2>"$RUN/vc.err" || rc=$?
chmod 600 "$SOCK"
((rc == 1)) || fail "uid 65534 past the mode: exit $rc, expected 1: $(cat "$RUN/vc.out" "$RUN/vc.err")"
jcheck "$(cat "$RUN/vc.out")" 'd["code"] == "ERROR_CODE_PERMISSION_DENIED"' '"neighbors" not in d'
grep -q "control: refused connection from pid [0-9]* uid 65534" "$RUN/vaned.log" || fail "refused uid not logged"
log "control socket is 0600, owned by root; uid 65534 is kept out by the mode and by the peer credential check"

# ---- show neighbors
vc 0 show neighbors
has_row "$OUT" '^Name +Address +ASN +State +Uptime +Sent +Rcvd +LastError$'
has_row "$OUT" '^tor1 +192\.0\.2\.1 +65000 +Established +[0-9]{2}:[0-9]{2}:[0-9]{2} +2 +3 +-$'
has_row "$OUT" '^tor2 +192\.0\.2\.2 +65000 +Established +[0-9:]+ +2 +1 +-$'
[[ $(wc -l <<<"$OUT") == 3 ]] || fail "show neighbors: header and 2 rows expected: $OUT"
vc 0 -o json show neighbors
jcheck "$OUT" 'len(d["neighbors"]["neighbors"]) == 2' \
  'by(d["neighbors"]["neighbors"])["tor1"]["state"] == "Established"' \
  'by(d["neighbors"]["neighbors"])["tor1"]["address"] == "192.0.2.1"' \
  'by(d["neighbors"]["neighbors"])["tor1"]["remote_asn"] == 65000' \
  'by(d["neighbors"]["neighbors"])["tor1"]["prefixes_sent"] == "2"' \
  'by(d["neighbors"]["neighbors"])["tor1"]["prefixes_received"] == "3"' \
  'by(d["neighbors"]["neighbors"])["tor1"]["families"] == ["ipv4-unicast"]' \
  'by(d["neighbors"]["neighbors"])["tor1"]["admin_shutdown"] is False' \
  'by(d["neighbors"]["neighbors"])["tor2"]["prefixes_received"] == "1"' \
  'd["error"] == "" and d["code"] == "ERROR_CODE_UNSPECIFIED" and d["version"] > 0'
vc 0 show neighbors tor1
has_row "$OUT" '^Neighbor +tor1$'
has_row "$OUT" '^State +Established$'
has_row "$OUT" '^Prefixes received +3$'
vc 0 -o json show neighbors tor2
jcheck "$OUT" '[n["name"] for n in d["neighbors"]["neighbors"]] == ["tor2"]'
vc 1 show neighbors tor9
[[ $ERR == *"no neighbor tor9"* ]] || fail "show neighbors tor9: $ERR"
vc 1 -o json show neighbors tor9
jcheck "$OUT" 'd["code"] == "ERROR_CODE_NOT_FOUND"' '"tor9" in d["error"]'
vc 0 -o json show received tor1
jcheck "$OUT" 'd["received"]["total"] == "3" and d["received"]["count_only"] is False' \
  '[r["prefix"] for r in d["received"]["routes"]] == ["198.51.100.0/28", "198.51.100.16/28", "198.51.100.32/28"]'
vc 1 show received tor9
log "show neighbors: table, detail, JSON, unknown neighbour exits 1; show received lists BIRD's routes"

# ---- show routes, services, health, site
vc 0 show routes
has_row "$OUT" '^Prefix +State +MED +Prepend +Communities +Reasons$'
has_row "$OUT" '^203\.0\.113\.10/32 +announced +50 +0 +65000:100 +service web healthy$'
has_row "$OUT" '^203\.0\.113\.53/32 +announced +- +0 +- +service dns healthy$'
vc 0 -o json show routes
jcheck "$OUT" 'len(d["routes"]["routes"]) == 2' \
  'by(d["routes"]["routes"], "prefix")["203.0.113.10/32"]["announced"] is True' \
  'by(d["routes"]["routes"], "prefix")["203.0.113.10/32"]["state"] == "ROUTE_STATE_ANNOUNCED"' \
  'by(d["routes"]["routes"], "prefix")["203.0.113.10/32"]["med"] == 50' \
  'by(d["routes"]["routes"], "prefix")["203.0.113.10/32"]["communities"] == ["65000:100"]' \
  'by(d["routes"]["routes"], "prefix")["203.0.113.10/32"]["reasons"] == ["service web healthy"]' \
  '"med" not in by(d["routes"]["routes"], "prefix")["203.0.113.53/32"]'
vc 0 -o json show routes 203.0.113.53/32
jcheck "$OUT" '[r["prefix"] for r in d["routes"]["routes"]] == ["203.0.113.53/32"]'

vc 0 show services
has_row "$OUT" '^Name +Health +Drained +Checks +VIPs +Prefixes$'
has_row "$OUT" '^web +up +no +1/1 +203\.0\.113\.10:80/tcp +203\.0\.113\.10/32$'
has_row "$OUT" '^dns +up +no +1/1 +203\.0\.113\.53:53/udp +203\.0\.113\.53/32$'
vc 0 -o json show services
jcheck "$OUT" '[s["name"] for s in d["services"]["services"]] == ["web", "dns"]' \
  'by(d["services"]["services"])["web"]["healthy"] is True' \
  'by(d["services"]["services"])["web"]["drained"] is False' \
  'by(d["services"]["services"])["web"]["checks"] == 1 and by(d["services"]["services"])["web"]["checks_up"] == 1' \
  'by(d["services"]["services"])["web"]["vips"] == ["203.0.113.10:80/tcp"]' \
  'by(d["services"]["services"])["dns"]["prefixes"] == ["203.0.113.53/32"]'
vc 1 show services nosuch
[[ $ERR == *"no service nosuch"* ]] || fail "show services nosuch: $ERR"

vc 0 show health
has_row "$OUT" '^Service +Check +Kind +Verdict +Last +Latency +Transitions +Weight +Detail$'
has_row "$OUT" '^web +flag +exec +up +ok +[0-9.]+ms +[0-9]+ +[0-9]+ +'
has_row "$OUT" '^dns +alive +exec +up +ok +[0-9.]+ms +'
vc 0 -o json show health web
jcheck "$OUT" 'len(d["health"]["checks"]) == 1' \
  'd["health"]["checks"][0]["service"] == "web" and d["health"]["checks"][0]["name"] == "flag"' \
  'd["health"]["checks"][0]["kind"] == "exec" and d["health"]["checks"][0]["verdict"] == "VERDICT_UP"' \
  'd["health"]["checks"][0]["last_ok"] is True and d["health"]["checks"][0]["latency_ms"] > 0' \
  'int(d["health"]["checks"][0]["transitions"]) >= 1'

vc 0 show site
has_row "$OUT" '^Table generation 0, 0 buckets; site health off$'
has_row "$OUT" '^Name +Address +Role +Weight +Reach +Self$'
has_row "$OUT" '^s1 +192\.0\.2\.11 +both +[0-9]+ +self +\*$'
has_row "$OUT" '^s3 +192\.0\.2\.13 +both +[0-9]+ +off$'
vc 0 -o json show site
jcheck "$OUT" '[s["name"] for s in d["site"]["servers"]] == ["s1", "s2", "s3"]' \
  'by(d["site"]["servers"])["s1"]["is_self"] is True and by(d["site"]["servers"])["s2"]["is_self"] is False' \
  'by(d["site"]["servers"])["s1"]["healthy"] is True and by(d["site"]["servers"])["s1"]["weight"] > 0' \
  'd["site"]["table_generation"] == "0"'

vc 1 show forwarding
[[ -z $OUT ]] || fail "show forwarding without forwarding printed on stdout: $OUT"
grep -q '^error: forwarding is not enabled' <<<"$ERR" || fail "show forwarding: unclear error: $ERR"
vc 1 -o json show forwarding
jcheck "$OUT" 'd["code"] == "ERROR_CODE_NOT_FOUND"' '"forwarding is not enabled" in d["error"]' '"forwarding" not in d'
log "show routes/services/health/site in text and JSON; show forwarding without forwarding: clear error, exit 1"

# ---- exit codes for usage and an unreachable daemon
vc 2
vc 2 frobnicate
vc 2 show
vc 2 show bogus
vc 2 -o yaml show neighbors
vc 2 neighbor tor1 explode
vc 2 neighbor
rc=0; "$VANECTL" --socket "$RUN/nowhere.sock" show neighbors >/dev/null 2>"$RUN/vc.err" || rc=$?
((rc == 3)) || fail "wrong socket: exit $rc, expected 3: $(cat "$RUN/vc.err")"
rc=0; VANE_SOCKET="$RUN/nowhere.sock" "$VANECTL" -o json show routes >/dev/null 2>&1 || rc=$?
((rc == 3)) || fail "wrong socket via VANE_SOCKET: exit $rc, expected 3"
rc=0; VANE_SOCKET="$SOCK" "$VANECTL" show services >/dev/null || rc=$?
((rc == 0)) || fail "VANE_SOCKET=$SOCK: exit $rc"
log "exit codes: 2 for bad commands and options, 3 for a socket with no daemon"

# ---- metrics, scraped inside the namespace
scrape() { ip netns exec "${S[1]}" curl -fsS --max-time 5 -o "$RUN/metrics.txt" -D "$RUN/metrics.hdr" http://127.0.0.1:9179/metrics; }
wait_for 5 "metrics page" scrape
grep -qi '^content-type: text/plain; version=0.0.4' "$RUN/metrics.hdr" || fail "metrics content type: $(cat "$RUN/metrics.hdr")"
$PY "$HERE/metrics_parse.py" "$RUN/metrics.txt" \
  'vane_up{}==1' 'vane_up:gauge' 'vane_start_time_seconds{}>=1' \
  'vane_bgp_session_up{neighbor="tor1"}==1' 'vane_bgp_session_up{neighbor="tor2"}==1' \
  'vane_bgp_session_state{neighbor="tor1"}==5' \
  'vane_bgp_prefixes_received{neighbor="tor1"}==3' 'vane_bgp_prefixes_received{neighbor="tor2"}==1' \
  'vane_bgp_prefixes_sent{neighbor="tor1"}==2' 'vane_bgp_prefixes_exported{}==2' \
  'vane_bgp_session_transitions_total{neighbor="tor1"}>=1' 'vane_bgp_session_transitions_total:counter' \
  'vane_bgp_messages_received_total{neighbor="tor2"}>=2' 'vane_bgp_updates_received_total{neighbor="tor1"}>=1' \
  'vane_bgp_session_established_total{neighbor="tor1"}==1' \
  'vane_check_up{service="web",check="flag",kind="exec"}==1' 'vane_check_up:gauge' \
  'vane_check_last_success{service="dns",check="alive",kind="exec"}==1' \
  'vane_check_latency_seconds{service="web",check="flag",kind="exec"}>=0' \
  'vane_check_transitions_total{service="web",check="flag",kind="exec"}>=1' \
  'vane_service_healthy{service="web"}==1' 'vane_service_drained{service="web"}==0' \
  'vane_prefix_announced{prefix="203.0.113.10/32"}==1' 'vane_prefix_announced{prefix="203.0.113.53/32"}==1' \
  >"$RUN/metrics.check" || fail "metrics: $(cat "$RUN/metrics.check")"
grep -q '^vane_forwarding' "$RUN/metrics.txt" && fail "forwarding metrics without forwarding"
log "metrics: $(cat "$RUN/metrics.check")"

# ---- drain / undrain
base=$(snapshot)
vc 0 drain web
[[ $OUT == "draining service web" ]] || fail "drain web: $OUT"
vc 0 -o json show services web
jcheck "$OUT" 'd["services"]["services"][0]["drained"] is True'
# drain_time_s 2: first announced with GRACEFUL_SHUTDOWN (65535,0), then withdrawn.
wait_for 3 "web's prefix re-sent with GRACEFUL_SHUTDOWN" bash -c \
  "birdc -s '$BC' show route all 203.0.113.10/32 protocol t1 | grep -q '(65535,0)'"
vc 0 -o json show routes 203.0.113.10/32
jcheck "$OUT" 'd["routes"]["routes"][0]["state"] in ("ROUTE_STATE_DRAINING", "ROUTE_STATE_WITHDRAWN")' \
  '"drained" in d["routes"]["routes"][0]["reasons"][0]'
wait_for 5 "web's prefix withdrawn after the drain time" bash -c "! birdc -s '$BC' show route 203.0.113.10/32 | grep -q 203.0.113.10"
has_route t1 203.0.113.53/32 || fail "draining web withdrew dns"
now=$(route_since t1 203.0.113.53/32); was=$(grep '^t1 203.0.113.53' <<<"$base" | cut -d' ' -f3-)
if [[ -z $was ]] || ! same_times "$was" "$now"; then fail "drain web re-sent dns's prefix: $was -> $now"; fi
vc 0 -o json undrain web
jcheck "$OUT" 'd["action"]["message"] == "undrained service web"'
wait_for 5 "web's prefix back" has_route t1 203.0.113.10/32
vc 0 drain
[[ $OUT == "draining every service" ]] || fail "drain: $OUT"
wait_for 5 "dns withdrawn by drain of every service" bash -c "! birdc -s '$BC' show route 203.0.113.53/32 | grep -q 203.0.113.53"
vc 0 -o json show services
jcheck "$OUT" 'all(s["drained"] for s in d["services"]["services"])'
vc 0 undrain
[[ $OUT == "undrained every service" ]] || fail "undrain: $OUT"
for p in t1 t2; do
  for r in 203.0.113.10/32 203.0.113.53/32; do wait_for 5 "$r via $p after undrain" has_route "$p" "$r"; done
done
# SIGUSR1 / SIGUSR2: drain and undrain every service, like `vanectl drain` / `undrain`.
drained_all() {  # drained_all True|False (no fail(): wait_for retries it)
  "$VANECTL" --socket "$SOCK" -o json show services |
    $PY -c "import json, sys; sys.exit(not all(s['drained'] is $1 for s in json.load(sys.stdin)['services']['services']))"
}
kill -USR1 "$VPID"
wait_for 3 "SIGUSR1 to drain every service" drained_all True
wait_for 5 "dns withdrawn by SIGUSR1" bash -c "! birdc -s '$BC' show route 203.0.113.53/32 | grep -q 203.0.113.53"
kill -USR2 "$VPID"
wait_for 3 "SIGUSR2 to undrain every service" drained_all False
for p in t1 t2; do
  for r in 203.0.113.10/32 203.0.113.53/32; do wait_for 5 "$r via $p after SIGUSR2" has_route "$p" "$r"; done
done
vc 1 drain nosuch
vc 1 -o json undrain nosuch
jcheck "$OUT" 'd["code"] == "ERROR_CODE_NOT_FOUND"'
same_times "$(grep ' session ' <<<"$base")" "$(echo "t1 session since $(since t1)"; echo "t2 session since $(since t2)")" ||
  fail "drain/undrain reset a session"
log "drain web: GRACEFUL_SHUTDOWN then withdrawn, dns untouched; drain/undrain all, SIGUSR1/SIGUSR2; unknown service exits 1"

# ---- neighbor shutdown / enable / reset
t1_since=$(since t1)
vc 0 neighbor tor2 shutdown -m "maintenance window"
[[ $OUT == "neighbor tor2: done" ]] || fail "neighbor tor2 shutdown: $OUT"
wait_for 5 "BIRD t2 down" bash -c "! birdc -s '$BC' show protocols t2 | grep -q Established"
out=$(birdc -s "$BC" show protocols all t2)
grep -q 'Received: Administrative shutdown' <<<"$out" || fail "BIRD did not see Cease/Administrative Shutdown: $out"
grep -q 'maintenance window' <<<"$out" || fail "BIRD did not get the shutdown communication: $out"
has_route t2 203.0.113.10/32 && fail "t2 still has the route after shutdown"
vc 0 show neighbors
has_row "$OUT" '^tor2 +192\.0\.2\.2 +65000 +Idle\(Admin\) +- +0 +0 +sent Cease / Administrative Shutdown'
vc 0 -o json show neighbors tor2
jcheck "$OUT" 'd["neighbors"]["neighbors"][0]["admin_shutdown"] is True' \
  'd["neighbors"]["neighbors"][0]["last_notification"]["code"] == 6' \
  'd["neighbors"]["neighbors"][0]["last_notification"]["subcode"] == 2' \
  'd["neighbors"]["neighbors"][0]["last_notification"]["sent"] is True'
sleep 2  # connect_retry_s is 1: an admin-down session must stay down
established t2 && fail "tor2 came back by itself while shut down"
vc 0 -o json neighbor tor2 enable
jcheck "$OUT" 'd["action"]["message"] == "neighbor tor2: done"'
wait_for 10 "t2 Established after enable" established t2
wait_for 5 "t2 has the route again" has_route t2 203.0.113.10/32
t2_since=$(since t2)
vc 0 neighbor tor2 reset
wait_for 5 "BIRD to see Cease/Administrative Reset on t2" grep -q 't2: Received: Administrative reset' "$RUN/bird.log"
wait_for 10 "t2 Established after reset" established t2
same_times "$(since t2)" "$t2_since" && fail "t2's session time did not move with the reset: $t2_since"
vc 1 neighbor tor9 shutdown
[[ $ERR == *"no neighbor tor9"* ]] || fail "neighbor tor9: $ERR"
vc 1 -o json neighbor tor9 enable
jcheck "$OUT" 'd["code"] == "ERROR_CODE_NOT_FOUND"'
same_times "$(since t1)" "$t1_since" || fail "tor2's shutdown/enable/reset touched tor1: $t1_since -> $(since t1)"
log "neighbor tor2 shutdown: BIRD sees Administrative Shutdown + message, stays down; enable and reset bring it back; tor1 untouched"

# Everything below compares against this state.
for p in t1 t2; do wait_for 5 "both routes via $p" bash -c "birdc -s '$BC' show route protocol $p | grep -c '^203.0.113' | grep -qx 2"; done
settle
base=$(snapshot); ubase=$(updates)
[[ $(grep -cE '[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}' <<<"$base") == 6 ]] || fail "incomplete BIRD snapshot: $base"
same_as_base() {  # same_as_base WHAT: BIRD's view of the untouched sessions and prefixes did not move
  local now; now=$(snapshot)
  same_times "$base" "$now" || fail "$1 touched what it should not:"$'\n'"before:"$'\n'"$base"$'\n'"after:"$'\n'"$now"
}

# ---- reload with an invalid file: nothing changes
cp "$CONF" "$RUN/good.conf"
write_conf "tor1 tor2 tor3" "" '
neighbor { name: "tor1" address: "192.0.2.9" remote_asn: 65000 }
service { name: "bad" vip { address: "198.51.100.77" port: 1 protocol: TCP } announce { prefix: "203.0.113.300/32" } }'
"$VANED" --check "$CONF" >/dev/null 2>&1 && fail "the broken config passed --check"
vc 1 reload
reload_err=$ERR
grep -q "^error: .* error(s) in $CONF; nothing changed" <<<"$ERR" || fail "reload error summary: $ERR"
nerr=$(grep -cE "^ +$CONF:[0-9]+:[0-9]+: " <<<"$ERR") || true
((nerr >= 2)) || fail "reload: every error with FILE:LINE:COLUMN expected, got: $ERR"
# The place is the real one: the duplicate's line holds the second "tor1".
dup=$(grep -m1 -E "^ +$CONF:[0-9]+:[0-9]+: duplicate neighbor name" <<<"$reload_err") || fail "no duplicate-name error: $reload_err"
dline=$(sed -E 's/^ +[^:]+:([0-9]+):.*/\1/' <<<"$dup")
sed -n "${dline}p" "$CONF" | grep -q '"tor1" address: "192.0.2.9"' || fail "error points at line $dline: $(sed -n "${dline}p" "$CONF")"
vc 1 -o json reload
jcheck "$OUT" 'd["code"] == "ERROR_CODE_INVALID_CONFIG"' 'len(d["error_details"]) >= 2' \
  'all(e["file"] and e["line"] > 0 and e["column"] > 0 and e["message"] for e in d["error_details"])' '"action" not in d'
kill -HUP "$VPID"
wait_for 5 "the SIGHUP refusal in the log" grep -q "reload refused" "$RUN/vaned.log"
grep -qE "error .*$CONF:[0-9]+:[0-9]+: " "$RUN/vaned.log" || fail "the log lacks FILE:LINE:COLUMN for the refusal"
settle
established t3 && fail "tor3 from a refused config was started"
vc 0 -o json show neighbors
jcheck "$OUT" '[n["name"] for n in d["neighbors"]["neighbors"]] == ["tor1", "tor2"]' \
  'all(n["state"] == "Established" for n in d["neighbors"]["neighbors"])'
same_as_base "an invalid reload"
[[ $(updates) == "$ubase" ]] || fail "an invalid reload sent UPDATEs: $ubase -> $(updates)"
cp "$RUN/good.conf" "$CONF"
vc 0 reload
[[ $OUT == "configuration unchanged" ]] || fail "reload of the unchanged file: $OUT"
log "invalid reload (vanectl and SIGHUP): exit 1, $nerr errors with FILE:LINE:COLUMN, nothing changed; e.g.$(grep -m1 -E "^ +$CONF:" <<<"$reload_err" | sed "s#$RUN/##")"

# ---- reload: add a neighbour (vanectl)
write_conf "tor1 tor2 tor3" ""
vc 0 reload
has_row "$OUT" '^configuration reloaded$'
has_row "$OUT" 'neighbor tor3: added'
[[ $(grep -c . <<<"$OUT") == 2 ]] || fail "reload should list exactly one change: $OUT"
wait_for 10 "t3 Established after the reload" established t3
wait_for 5 "routes via t3" has_route t3 203.0.113.53/32
settle
same_as_base "adding tor3"
[[ $(updates) == "$ubase" ]] || fail "adding tor3 sent UPDATEs to tor1/tor2: $ubase -> $(updates)"
log "reload added tor3: tor1/tor2 sessions and routes untouched (since times and update counts equal)"

# ---- reload: add a prefix (SIGHUP)
write_conf "tor1 tor2 tor3" "203.0.113.11/32"
kill -HUP "$VPID"
for p in t1 t2 t3; do wait_for 5 "203.0.113.11/32 via $p" has_route "$p" 203.0.113.11/32; done
settle
same_as_base "adding 203.0.113.11/32"
read -r u1 w1 u2 w2 <<<"$ubase"
[[ $(updates) == "$((u1 + 1)) $w1 $((u2 + 1)) $w2" ]] ||
  fail "adding one prefix: BIRD should count one update per session, got $ubase -> $(updates) (updates, withdraws)"
grep -q "service web: changed" "$RUN/vaned.log" || fail "SIGHUP reload not logged"
log "SIGHUP added 203.0.113.11/32: exactly one update per session; 203.0.113.10/32 and .53 not re-sent"

# ---- reload: remove the prefix (vanectl), then the neighbour (SIGHUP)
write_conf "tor1 tor2 tor3" ""
vc 0 -o json reload
jcheck "$OUT" 'd["action"]["message"] == "configuration reloaded"' 'd["action"]["changes"] == ["service web: changed"]'
for p in t1 t2; do wait_for 5 "203.0.113.11/32 withdrawn from $p" bash -c "! birdc -s '$BC' show route 203.0.113.11/32 protocol $p | grep -q 203.0.113.11"; done
settle
same_as_base "removing 203.0.113.11/32"
ucur=$(updates)
[[ $ucur == "$((u1 + 1)) $((w1 + 1)) $((u2 + 1)) $((w2 + 1))" ]] ||
  fail "removing one prefix: one withdraw per session expected, got $ubase -> $ucur (updates, withdraws)"
write_conf "tor1 tor2" ""
kill -HUP "$VPID"
wait_for 5 "t3 closed" bash -c "! birdc -s '$BC' show protocols t3 | grep -q Established"
out=$(birdc -s "$BC" show protocols all t3)
grep -qi 'Received: Peer de-configured' <<<"$out" || fail "tor3 removal: BIRD should see Cease/Peer De-configured: $out"
settle
same_as_base "removing tor3"
[[ $(updates) == "$ucur" ]] || fail "removing tor3 sent UPDATEs to tor1/tor2: $ucur -> $(updates)"
vc 0 -o json show neighbors
jcheck "$OUT" '[n["name"] for n in d["neighbors"]["neighbors"]] == ["tor1", "tor2"]'
log "reload removed 203.0.113.11/32 (one withdraw each) and tor3 (Cease/Peer De-configured); the rest untouched"

# ---- the metrics page after all that
scrape || fail "metrics scrape"
$PY "$HERE/metrics_parse.py" "$RUN/metrics.txt" \
  'vane_bgp_session_up{neighbor="tor1"}==1' 'vane_bgp_session_up{neighbor="tor2"}==1' \
  'vane_bgp_session_established_total{neighbor="tor1"}==1' 'vane_bgp_session_established_total{neighbor="tor2"}==3' \
  'vane_prefix_announced{prefix="203.0.113.10/32"}==1' >"$RUN/metrics.check" || fail "metrics: $(cat "$RUN/metrics.check")"
grep -q 'neighbor="tor3"' "$RUN/metrics.txt" && fail "metrics still list the removed tor3"
grep -q 'prefix="203.0.113.11/32"' "$RUN/metrics.txt" && fail "metrics still list the removed prefix"

# ---- reload: the metrics endpoint moves and logging changes level, without a restart
METRICS_PORT=9181 write_conf "tor1 tor2" "" 'log { level: "warn" }'
vc 0 reload
has_row "$OUT" 'metrics: changed'
scrape_at() { ip netns exec "${S[1]}" curl -fsS --max-time 5 -o /dev/null "http://127.0.0.1:$1/metrics"; }
wait_for 5 "metrics on the new port 9181" scrape_at 9181
scrape_at 9179 && fail "metrics still served on the old port 9179 after the reload"
grep -q "reload: logging now at level debug" "$RUN/vaned.log" ||
  fail "the --log-level debug override should win over the file's warn: $(grep 'reload: logging' "$RUN/vaned.log")"
log "reload moved the metrics endpoint to 9181 (9179 closed); --log-level still wins over log.level"

vaned_stop "$VPID"
((STOP_RC == 0)) || fail "vaned exited with $STOP_RC"
[[ -e $SOCK ]] && fail "control socket left behind after exit"
log PASS
