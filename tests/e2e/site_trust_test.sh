#!/usr/bin/env bash
# Site health under attack, end to end: real vaned servers s1..s3 (forwarding on, native XDP) with a
# site key, BGP to a real BIRD ToR that installs the VIP's ECMP route; s4 is a server of the site
# whose vaned never runs: its address is the attacker's host on the fabric.
#
#   (a) forged replies for s4 ("web up 100"), signed with a key the site does not have, then with
#       the real key's id (it is on the wire) and a wrong key;
#   (b) a replayed reply: the attacker asks s1's real agent with a nonce of its own (a validly signed
#       reply) and serves it to every query for s4;
#   (c) a squatter: s2's vaned stops, an unprivileged process binds 192.0.2.12:6081 and answers
#       "s2: web up 100"; s2's vaned starts and cannot bind;
#   (d) key rotation with two keys across reloads (vanectl reload and SIGHUP);
#   (e) idle connections to s1's agent, to hold its slots: 100 from the router (not a site server),
#       100 from s4 (a site server).
#
# None of (a)-(c) changes a table: s4 stays unreachable at weight 0, s2 at 0 while squatted, and the
# table generation does not move; each refusal shows in `vanectl show site -o json` and the
# vane_site_replies_refused_total series under its reason. The squatted s2 does not announce (the
# router has no route via it), says so in show site, metrics and its log, and serves again once
# it binds. (d): at every step every server sees every other, no table changes, no BGP session resets.
# (e): the router's connections are closed at once (not_a_site_server), s4 keeps at most 4
# (per_source_limit), and s2 and s3 keep getting s1's answers: no table changes.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bgp_lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3   # not a pyenv shim: it runs inside the namespaces
VIP=203.0.113.10
PORT=6081

[[ -x $PY ]] || skip "needs $PY"
command -v bird >/dev/null || skip "needs bird"
command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"
[[ -x $VANECTL ]] || fail "vanectl not found at $VANECTL"
id nobody >/dev/null 2>&1 || skip "needs the user nobody"

bgp_topology 4
for i in 1 2 3; do
  ip -n "${S[i]}" route add default via 192.0.2.1
  ip -n "${S[i]}" addr add "$VIP/32" dev lo
done
bird_ecmp_tor 3
start_bird "$R" "$RUN/bird.conf"

# Site keys: 32 random bytes each, hex. key_id is what docs/site-health.md says goes on the wire.
K1=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
K2=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
KX=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')   # the attacker's
key_id() { "$PY" -c 'import hashlib,sys; print(hashlib.sha256(b"vane-site-key-id\0" + bytes.fromhex(sys.argv[1])).digest()[:8].hex())' "$1"; }
ID1=$(key_id "$K1")
ID2=$(key_id "$K2")
set_keys() {  # set_keys I KEY... : server I's key file holds KEY... one per line
  local i=$1; shift
  printf '%s\n' "$@" >"$RUN/s$i.key"
  chmod 600 "$RUN/s$i.key"
}

for i in 1 2 3; do
  set_keys "$i" "$K1"
  cat >"$RUN/s$i.conf" <<EOF
node { name: "s$i" router_id: "192.0.2.1$i" asn: 6501$i address: "192.0.2.1$i" interface: "eth0" }
neighbor { name: "tor" address: "192.0.2.1" remote_asn: 65000 hold_time_s: 9 connect_retry_s: 1 }
service {
  name: "web"
  vip { address: "$VIP" port: 80 protocol: TCP }
  announce { prefix: "$VIP/32" }
}
site {
  server { name: "s1" address: "192.0.2.11" }
  server { name: "s2" address: "192.0.2.12" }
  server { name: "s3" address: "192.0.2.13" }
  server { name: "s4" address: "192.0.2.14" }
  key_file: "s$i.key"
  health { port: $PORT }
}
forwarding { enabled: true gue_port: 6080 hash_seed: 2654435761 }
control { socket: "$RUN/s$i.sock" }
metrics { listen: "127.0.0.1:9180" }
EOF
  "$VANED" --check "$RUN/s$i.conf" >/dev/null || fail "s$i config invalid: $("$VANED" --check "$RUN/s$i.conf" 2>&1)"
done

declare -A VPID
vaned_up() {  # vaned_up I LOGNAME (own bpffs: see xdp_site_test.sh)
  bg "${S[$1]}" "$2" sh -c 'mount --bind "$0" /sys/fs/bpf && exec "$@"' "$RUN/bpffs-s$1" \
    "$VANED" --config "$RUN/s$1.conf" --log-level info
  VPID[$1]=$LAST_PID
}
for i in 1 2 3; do
  bpffs_add "$RUN/bpffs-s$i"
  vaned_up "$i" "vaned-s$i"
done
vctl() { "$VANECTL" --socket "$RUN/s$1.sock" "${@:2}"; }

# site I: server I's `show site` as JSON, to the Python snippets below on stdin.
site() { vctl "$1" -o json show site; }
# view I SERVER FIELD: one field of SERVER's entry at server I (reach, refusal, web weight, refused.REASON)
view() {
  site "$1" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)["site"]
s = [x for x in d["servers"] if x["name"] == sys.argv[1]][0]
f = sys.argv[2]
if f == "weight":
    print(next(int(x["weight"]) for x in s["services"] if x["service"] == "web"))
elif f.startswith("refused."):
    print(sum(int(c["count"]) for c in s["refused"] if c["reason"] == f[8:]))
else:
    print(s.get(f, ""))' "$2" "$3"
}
generation() { site "$1" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["site"]["table_generation"])'; }
# metric I NAME LABEL=VALUE...: the value of the first sample of NAME with those labels on server I
metric() {
  ip netns exec "${S[$1]}" "$PY" -c '
import re, sys, urllib.request
t = urllib.request.urlopen("http://127.0.0.1:9180/metrics", timeout=5).read().decode().splitlines()
want = ["%s=\"%s\"" % tuple(a.split("=", 1)) for a in sys.argv[2:]]
for l in t:
    m = re.match(r"^([a-z_]+)(\{.*\})? (\S+)$", l)
    if m and m.group(1) == sys.argv[1] and all(w in (m.group(2) or "") for w in want):
        print(int(float(m.group(3)))); sys.exit(0)
print(-1)' "${@:2}"
}
# converged: every running server sees s1..s3 at weight 100 (reachable) and s4 unreachable at 0
converged() {
  local i j
  for i in 1 2 3; do
    for j in 1 2 3; do [[ $(view "$i" "s$j" weight) == 100 ]] || return 1; done
    [[ $(view "$i" s4 weight) == 0 && $(view "$i" s4 reach) == unreachable ]] || return 1
    for j in 1 2 3; do ((i == j)) || [[ $(view "$i" "s$j" reach) == reachable ]] || return 1; done
  done
}
nexthops() { ip -n "$R" route show "$VIP" | grep -c 'nexthop via'; }
bird_since() { birdc -s "$BIRD_CTL" show protocols | awk '$1 ~ /^s[123]$/ { print $1, $4, $5, $6 }'; }
# same_since BEFORE AFTER: the same sessions, in the same state, up since the same moment. BIRD keeps
# the moment on its monotonic clock and prints it converted to wall time at each call, so an
# untouched session reads +-1 ms (seen: .801 then .800); a reset moves it by seconds.
same_since() {
  "$PY" - "$1" "$2" <<'PY'
import sys
def parse(text):
    out = {}
    for line in text.splitlines():
        name, state, since, *info = line.split()  # s1 up 10:45:12.801 Established
        h, m, sec = since.split(":")
        out[name] = (state, info, (int(h) * 3600 + int(m) * 60) * 1000 + round(float(sec) * 1000))
    return out
a, b = parse(sys.argv[1]), parse(sys.argv[2])
ok = a.keys() == b.keys() and all(
    a[k][0] == b[k][0] and a[k][1] == b[k][1] and abs(a[k][2] - b[k][2]) <= 1 for k in a)
sys.exit(0 if ok else 1)
PY
}

for ((t = 0; ; t++)); do
  for i in 1 2 3; do kill -0 "${VPID[$i]}" 2>/dev/null || fail "vaned on s$i exited: $(tail -n 3 "$RUN/vaned-s$i.log")"; done
  [[ $(nexthops) == 3 ]] && break
  ((t < 300)) || fail "timed out after 30s waiting for the ECMP route over s1..s3"
  sleep 0.1
done
wait_for 20 "site health to converge (s1..s3 up at 100, s4 unreachable)" converged
for i in 1 2 3; do
  grep -q "site: replies authenticated (HMAC-SHA-256); key id(s) $ID1, the first signs" "$RUN/vaned-s$i.log" ||
    fail "s$i: no 'authenticated' start line with key id $ID1"
  site "$i" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)["site"]
assert d["auth"] == "authenticated" and d["key_ids"] == [sys.argv[1]] and d["agent_listening"], d' "$ID1" ||
    fail "s$i: show site does not say authenticated with key $ID1"
  [[ $(metric "$i" vane_site_authenticated) == 1 && $(metric "$i" vane_site_agent_listening) == 1 ]] ||
    fail "s$i: vane_site_authenticated / vane_site_agent_listening not 1"
done
log "s1..s3 up, authenticated with key id $ID1, every server sees the others; s4 (no vaned) unreachable"
declare -A GEN
for i in 1 2 3; do GEN[$i]=$(generation "$i"); done
no_table_change() {  # no table change at s1..s3 since GEN, and s4 still out at weight 0
  local i
  for i in "$@"; do
    [[ $(generation "$i") == "${GEN[$i]}" ]] || fail "s$i's table changed (generation ${GEN[$i]} -> $(generation "$i"))"
    [[ $(view "$i" s4 weight) == 0 && $(view "$i" s4 reach) == unreachable ]] ||
      fail "s$i follows the attacker: s4 at weight $(view "$i" s4 weight), $(view "$i" s4 reach)"
  done
}
refused_at_least() {  # refused_at_least N SERVER REASON I...: each I refused >= N replies of SERVER for REASON
  local n=$1 srv=$2 why=$3 i; shift 3
  for i in "$@"; do (($(view "$i" "$srv" "refused.$why") >= n)) || return 1; done
}
attack() {  # attack NS LOGNAME ARGS...: the attacker process, pid in APID
  bg "$1" "$2" "$PY" "$HERE/site_attacker.py" "${@:3}"
  APID=$LAST_PID
  wait_for 5 "attacker listening ($2)" grep -q listening "$RUN/$2.log"
}

# ---- (a) forged replies -------------------------------------------------------------------------
attack "${S[4]}" forge1 forge 192.0.2.14 $PORT s4 "$KX"
wait_for 15 "s1..s3 refuse s4's forged replies as unknown_key" refused_at_least 5 s4 unknown_key 1 2 3
grep -q "answered" "$RUN/forge1.log" || fail "(a) the forger answered no query"
no_table_change 1 2 3
for i in 1 2 3; do
  [[ $(view "$i" s4 refusal) == unknown_key ]] || fail "(a) s$i: show site's last refusal for s4 is not unknown_key"
  (($(metric "$i" vane_site_replies_refused_total server=s4 reason=unknown_key) >= 5)) ||
    fail "(a) s$i: vane_site_replies_refused_total{server=s4,reason=unknown_key} below 5"
done
grep -q "site: refused a reply from server s4 (unknown_key)" "$RUN/vaned-s1.log" || fail "(a) s1 did not log the refusal"
stop_pid "$APID"
log "(a) forged 'up 100' for s4 with another key: refused as unknown_key on s1..s3, no table change"

attack "${S[4]}" forge2 forge 192.0.2.14 $PORT s4 "$KX" "$ID1"
wait_for 15 "s1..s3 refuse s4's replies with the real key id and a wrong key as bad_mac" refused_at_least 5 s4 bad_mac 1 2 3
no_table_change 1 2 3
for i in 1 2 3; do
  [[ $(view "$i" s4 refusal) == bad_mac ]] || fail "(a) s$i: last refusal for s4 is not bad_mac"
  (($(metric "$i" vane_site_replies_refused_total server=s4 reason=bad_mac) >= 5)) || fail "(a) s$i: no bad_mac series"
done
stop_pid "$APID"
log "(a) forged 'up 100' for s4 under the real key id $ID1: refused as bad_mac, no table change"

# ---- (b) a replayed reply -----------------------------------------------------------------------
attack "${S[4]}" replay replay 192.0.2.14 $PORT s4 192.0.2.11
wait_for 15 "s1..s3 refuse the replayed replies" refused_at_least 5 s4 replay 1 2 3
grep -q "answered" "$RUN/replay.log" || fail "(b) the replayer answered no query"
grep -q "error" "$RUN/replay.log" && fail "(b) the replayer could not fetch s1's signed reply: $(grep error "$RUN/replay.log" | head -1)"
no_table_change 1 2 3
for i in 1 2 3; do
  (($(metric "$i" vane_site_replies_refused_total server=s4 reason=replay) >= 5)) || fail "(b) s$i: no replay series"
done
stop_pid "$APID"
log "(b) s1's validly signed reply replayed for s4: refused as replay on s1..s3, no table change"

# ---- (e) holding the agent's connections ----------------------------------------------------------
for i in 1 2 3; do GEN[$i]=$(generation "$i"); done
bg "$R" hold-r "$PY" "$HERE/site_attacker.py" hold 192.0.2.11 $PORT 100 3
bg "${S[4]}" hold-s4 "$PY" "$HERE/site_attacker.py" hold 192.0.2.11 $PORT 100 3
wait_for 15 "both holders done" sh -c "grep -q '^held' $RUN/hold-r.log && grep -q '^held' $RUN/hold-s4.log"
grep -q "holding 100 connection" "$RUN/hold-r.log" || fail "(e) the router could not open its connections: $(cat "$RUN/hold-r.log")"
grep -q "^held 0 closed 100" "$RUN/hold-r.log" || fail "(e) s1's agent kept connections from the router: $(cat "$RUN/hold-r.log")"
(($(metric 1 vane_site_agent_refused_total reason=not_a_site_server) >= 100)) ||
  fail "(e) s1: vane_site_agent_refused_total{reason=not_a_site_server} below 100"
(($(metric 1 vane_site_agent_refused_total reason=per_source_limit) >= 50)) ||
  fail "(e) s1: vane_site_agent_refused_total{reason=per_source_limit} below 50: s4 held more than its share"
(($(metric 1 vane_site_agent_refused_total reason=too_many_clients) == 0)) || fail "(e) s1 ran out of connection slots"
grep -q "site agent: refused a connection from 192.0.2.1 (not a site server" "$RUN/vaned-s1.log" ||
  fail "(e) s1 did not log the refused connection from the router"
vctl 1 show site | grep -q "site agent refused connections: not_a_site_server [0-9]*, per_source_limit" ||
  fail "(e) vanectl show site on s1 does not show the refused connections: $(vctl 1 show site)"
sleep 1   # a few more query rounds after the flood
converged || fail "(e) the servers no longer all see each other"
no_table_change 1 2 3
log "(e) 100 idle connections each from the router and from s4 to s1's agent: the router's refused at once (not_a_site_server), s4's beyond 4 (per_source_limit); s2 and s3 still see s1, no table change"

# ---- (c) a squatter on s2's agent port -----------------------------------------------------------
vaned_stop "${VPID[2]}"
s2_out() { local i; for i in "$@"; do [[ $(view "$i" s2 weight) == 0 && $(view "$i" s2 reach) == unreachable ]] || return 1; done; }
wait_for 15 "s1 and s3 count the stopped s2 out" s2_out 1 3
wait_for 20 "the router drops s2's route" sh -c "[ \$(ip -n $R route show $VIP | grep -c 'nexthop via') = 2 ]"
for i in 1 3; do GEN[$i]=$(generation "$i"); done
bg "${S[2]}" squat setpriv --reuid=nobody --regid=nogroup --clear-groups "$PY" "$HERE/site_attacker.py" squat 192.0.2.12 $PORT s2
APID=$LAST_PID
wait_for 5 "the squatter listening on 192.0.2.12:$PORT" grep -q "listening on 192.0.2.12:$PORT as uid 65534" "$RUN/squat.log"
wait_for 15 "s1 and s3 refuse the squatter's unsigned replies" refused_at_least 5 s2 missing_mac 1 3
vaned_up 2 vaned-s2b
not_listening() {
  site 2 | "$PY" -c '
import json, sys
d = json.load(sys.stdin)["site"]
me = [s for s in d["servers"] if s["is_self"]][0]
web = [s for s in d["services"] if s["service"] == "web"][0]
assert not d["agent_listening"] and "Address already in use" in d["agent_error"], d
assert [(x["weight"], x["state"]) for x in me["services"]] == [(0, "site agent not listening")], me
assert not web["gate_open"], web'
}
wait_for 15 "s2's show site says its agent is not listening" not_listening
[[ $(metric 2 vane_site_agent_listening) == 0 ]] || fail "(c) s2: vane_site_agent_listening is not 0"
wait_for 15 "s2's BGP session up" sh -c "birdc -s $BIRD_CTL show protocols s2 | grep -q Established"
sleep 5   # s2 has had time to announce, were it going to
ip -n "$R" route show "$VIP" | grep -q 192.0.2.12 && fail "(c) the squatted s2 announces: $(ip -n "$R" route show "$VIP")"
s2_out 1 3 || fail "(c) s1 or s3 took the squatter's word for s2"
for i in 1 3; do
  [[ $(generation "$i") == "${GEN[$i]}" ]] || fail "(c) s$i's table changed while s2 was squatted"
  [[ $(view "$i" s2 refusal) == missing_mac ]] || fail "(c) s$i: last refusal for s2 is not missing_mac"
  (($(metric "$i" vane_site_replies_refused_total server=s2 reason=missing_mac) >= 5)) || fail "(c) s$i: no missing_mac series for s2"
done
warns=$(grep -c "site: agent cannot listen" "$RUN/vaned-s2b.log")
((warns >= 1 && warns <= 2)) || fail "(c) s2 logged 'agent cannot listen' $warns times in ~10 s (want 1, rate-limited)"
vctl 2 show site | grep -q "site agent NOT LISTENING" || fail "(c) vanectl show site on s2 does not say NOT LISTENING"
log "(c) squatter on 192.0.2.12:$PORT as nobody: s2's vaned does not announce, shows 'not listening' (show site, metrics, one log line); s1 and s3 refuse its 'up 100' (missing_mac), no table change"

stop_pid "$APID"
listening() { site 2 | "$PY" -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["site"]["agent_listening"] else 1)'; }
wait_for 40 "s2's agent binding once the squatter is gone (backoff up to 30 s)" listening
grep -q "site: agent now listening on port $PORT after" "$RUN/vaned-s2b.log" || fail "(c) s2 did not log that it listens again"
wait_for 20 "the router's route via s2 again" sh -c "[ \$(ip -n $R route show $VIP | grep -c 'nexthop via') = 3 ]"
wait_for 15 "site health to converge again" converged
log "(c) squatter gone: s2's agent binds on a retry, s2 announces again and every server sees it"

# ---- (d) key rotation ---------------------------------------------------------------------------
for i in 1 2 3; do GEN[$i]=$(generation "$i"); done
SINCE=$(bird_since)
refused_sum() {  # replies refused among s1..s3, as server I counts them
  site "$1" | "$PY" -c '
import json, sys
print(sum(int(n) for s in json.load(sys.stdin)["site"]["servers"] if s["name"] in ("s1", "s2", "s3")
          for n in (c["count"] for c in s["refused"])))'
}
declare -A REF
for i in 1 2 3; do REF[$i]=$(refused_sum "$i"); done
steady() {  # after a reload step: a few query rounds, then nothing moved
  local i
  sleep 2
  converged || fail "(d) $1: the servers do not all see each other"
  for i in 1 2 3; do
    [[ $(generation "$i") == "${GEN[$i]}" ]] || fail "(d) $1: s$i's table changed"
    [[ $(refused_sum "$i") == "${REF[$i]}" ]] || fail "(d) $1: s$i refused a reply of another server: $(site "$i")"
  done
  local now; now=$(bird_since)
  same_since "$SINCE" "$now" || fail "(d) $1: a BGP session reset: $SINCE -> $now"
}
reload() {  # reload I: vanectl reload on s1 and s3, SIGHUP on s2
  if (($1 == 2)); then
    kill -HUP "${VPID[2]}"
    wait_for 5 "s2 reloaded" sh -c "[ \$(grep -c 'site keys: changed' $RUN/vaned-s2b.log) -gt ${HUPS:-0} ]"
    HUPS=$(grep -c 'site keys: changed' "$RUN/vaned-s2b.log")
  else
    vctl "$1" reload >/dev/null || fail "(d) vanectl reload on s$1 failed"
  fi
}
keys_are() { site "$1" | "$PY" -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["site"]["key_ids"] == sys.argv[1:] else 1)' "${@:2}"; }
step=0
for keys in "$K1 $K2" "$K2 $K1" "$K2"; do
  step=$((step + 1))
  for i in 1 2 3; do
    # shellcheck disable=SC2086
    set_keys "$i" $keys
    reload "$i"
    steady "step $step, s$i reloaded"
  done
done
for i in 1 2 3; do keys_are "$i" "$ID2" || fail "(d) s$i does not sign with the new key $ID2 alone"; done
# A bad key file is an invalid reload: nothing changes, the old key stays.
printf 'abcd\n' >"$RUN/s1.key"
vctl 1 reload >/dev/null 2>&1 && fail "(d) a reload with a 2-byte key was accepted"
keys_are 1 "$ID2" || fail "(d) the refused reload changed s1's keys"
set_keys 1 "$K2"
steady "after a refused reload"
log "(d) key rotation $ID1 -> $ID1,$ID2 -> $ID2,$ID1 -> $ID2 over 9 reloads (vanectl reload and SIGHUP): every server saw every other at each step, no table change, no session reset; a bad key file was refused"
log PASS
