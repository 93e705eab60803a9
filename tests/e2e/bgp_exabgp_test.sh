#!/usr/bin/env bash
# vane's BGP speaker against a real ExaBGP 4.2 as the router. ExaBGP has no RIB to query: an API
# process appends every message it hands over (JSON: neighbour state, OPEN, UPDATE, NOTIFICATION)
# to a file, and the checks read that file.
#  - sessions over IPv4 (TCP MD5) and IPv6 (no MD5) come up; vaned's OPEN carries AS_TRANS and
#    the 4-byte AS capability 4200000011;
#  - an IPv4 and an IPv6 prefix arrive with the configured communities, large communities, MED
#    and AS path; a failing check withdraws both;
#  - routes ExaBGP announces (static routes in its config: 2 IPv4, 1 IPv6) are received, counted
#    and kept by vaned (vanectl show neighbors / show received);
#  - graceful restart: ExaBGP has no RIB or FIB to keep routes in, so only the wire is checked:
#    vaned's OPEN carries the GR capability (restart time 30, forwarding bit), and after a SIGKILL
#    the restarted vaned's OPEN has the Restart State bit, re-announces both prefixes and then
#    sends End-of-RIB for each family;
#  - SIGTERM: ExaBGP receives NOTIFICATION 6/2 (Cease / Administrative Shutdown) on both sessions.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bgp_lib.sh"

command -v exabgp >/dev/null || skip "ExaBGP not installed"
# The system interpreter: a pyenv shim in PATH costs ~0.2 s per call, and this test polls.
PY=$(command -v /usr/bin/python3 || command -v python3) || skip "python3 needed to read ExaBGP's JSON"

bgp_topology 1
key=$(key_file tor1 "e2e-secret")

MSGS="$RUN/exabgp-recv.json"
: >"$MSGS"
# No exec: the shell keeps the process's stdout (a pipe ExaBGP reads commands from) open; at
# EOF on it ExaBGP counts the process as dead and respawns it.
printf '#!/bin/sh\ncat >>%q\n' "$MSGS" >"$RUN/recv.sh"
chmod 755 "$RUN/recv.sh"
cat >"$RUN/exabgp.conf" <<EOF
process recv {
  run $RUN/recv.sh;
  encoder json;
}
template {
  neighbor tor {
    router-id 192.0.2.1;
    local-as 65000;
    peer-as 4200000011;
    hold-time 9;
    capability { graceful-restart 30; }
    api {
      processes [ recv ];
      neighbor-changes;
      # packets: raw bytes too, handed over before ExaBGP parses a message (see SIGTERM)
      receive { parsed; packets; open; update; notification; }
    }
  }
}
neighbor 192.0.2.11 {
  inherit tor;
  local-address 192.0.2.1;
  md5-password e2e-secret;
  family { ipv4 unicast; }
  static {
    route 198.51.100.0/28 next-hop 192.0.2.1 community [ 65000:7 ];
    route 198.51.100.16/28 next-hop 192.0.2.1 community [ 65000:7 ];
  }
}
neighbor 2001:db8::11 {
  inherit tor;
  local-address 2001:db8::1;
  family { ipv6 unicast; }
  static {
    route 2001:db8:ff::/48 next-hop 2001:db8::1 community [ 65000:7 ];
  }
}
EOF
# Runs as root (it must write into the run folder). The named pipes only serve ExaBGP's own CLI,
# which this test does not use: the CLI is off, so no pipes are needed outside the run folder.
# ExaBGP listens too (by default it only calls out): vaned calls first, and a refused call sends it
# to Idle with a growing IdleHold during which it also refuses ExaBGP's calls, so without a
# listener the IPv6 session (no MD5: the SYN is answered with RST at once) may not come up for
# tens of seconds.
EXA_ENV=(exabgp.daemon.user=root exabgp.daemon.daemonize=false exabgp.api.cli=false
  exabgp.log.destination=stdout exabgp.log.level=INFO "exabgp.tcp.bind=192.0.2.1 2001:db8::1")
ip netns exec "$R" env "${EXA_ENV[@]}" exabgp --test "$RUN/exabgp.conf" >"$RUN/exabgp-validate.log" 2>&1 ||
  fail "exabgp.conf invalid: $(tail -5 "$RUN/exabgp-validate.log")"
bg "$R" exabgp env "${EXA_ENV[@]}" exabgp "$RUN/exabgp.conf"

touch "$RUN/s1-up"
c1=$(vaned_conf 1 4200000011 "$(dual_stack_gr_neighbors "$key")" "$(web_service "$RUN/s1-up" v6)")
"$VANED" --check "$c1" >/dev/null || fail "s1 config invalid"
listening() { [[ $(ip netns exec "$R" ss -Hltn 'sport = :179' | grep -c '192.0.2.1:179\|\[2001:db8::1\]:179') == 2 ]]; }
wait_for 10 "ExaBGP listening on 192.0.2.1 and 2001:db8::1" listening
start_vaned "${S[1]}" vaned-s1 "$c1"; P1=$VANED_PID

# q PEER EXPR: evaluate a Python expression over the messages ExaBGP received from PEER
# (ms = list of decoded JSON objects, oldest first; lines not yet complete are skipped; with
# SINCE=N in the environment, only lines after the file's first N).
q() {
  "$PY" - "$MSGS" "$1" "$2" <<'PY'
import json, os, sys
ms = []
since = int(os.environ.get("SINCE", "0"))
for k, line in enumerate(open(sys.argv[1])):
    if k < since:
        continue
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("neighbor", {}).get("address", {}).get("peer") == sys.argv[2]:
        ms.append(m)
def updates(kind):  # (index, nlri) for every announced / withdrawn prefix
    out = []
    for i, m in enumerate(ms):
        u = m.get("neighbor", {}).get("message", {}).get("update", {})
        for fam, v in u.get(kind, {}).items():
            if kind == "announce":
                for nh, ns in v.items():
                    out += [(i, n["nlri"], nh, u.get("attribute", {})) for n in ns]
            else:
                out += [(i, n["nlri"], None, None) for n in v]
    return out
def first(category):  # index of the first raw message of that type (0 if none)
    return next((i for i, m in enumerate(ms) if m["neighbor"].get("message", {}).get("category") == category), 0)
def last(pfx):  # "announce" / "withdraw" / None: the latest fate of pfx
    ev = [(i, "announce") for i, n, _, _ in updates("announce") if n == pfx]
    ev += [(i, "withdraw") for i, n, _, _ in updates("withdraw") if n == pfx]
    return max(ev)[1] if ev else None
def eors():  # (index, "afi safi") for every End-of-RIB
    return [(i, "%s %s" % (e["afi"], e["safi"])) for i, m in enumerate(ms)
            for e in [m["neighbor"].get("message", {}).get("eor")] if e]
def opens():  # (index, raw body hex, parsed capabilities) of every OPEN received, from the raw copy
    out = []
    for i, m in enumerate(ms):
        msg = m["neighbor"].get("message", {})
        if m["type"] == "open" and m["neighbor"].get("direction") == "receive" and msg.get("category") == 1:
            nxt = ms[i + 1]["neighbor"].get("open", {}) if i + 1 < len(ms) else {}
            out.append((i, msg["body"][2:], nxt.get("capabilities", {})))
    return out
def gr_cap(body):  # the GR capability (RFC 4724) in a raw OPEN body: {R, time, families: {afi/safi: F}}
    b = bytes.fromhex(body)
    params, k = b[10:10 + b[9]], 0
    while k < len(params):
        ptype, plen = params[k], params[k + 1]
        caps, k = params[k + 2:k + 2 + plen], k + 2 + plen
        j = 0
        while ptype == 2 and j < len(caps):
            code, clen = caps[j], caps[j + 1]
            data, j = caps[j + 2:j + 2 + clen], j + 2 + clen
            if code == 64:
                head = int.from_bytes(data[:2], "big")
                fams = {"%d/%d" % (int.from_bytes(data[t:t + 2], "big"), data[t + 2]): bool(data[t + 3] & 0x80)
                        for t in range(2, len(data), 4)}
                return {"R": bool(head & 0x8000), "time": head & 0x0FFF, "families": fams}
    return None
print(eval(sys.argv[3]))
PY
}
is() { [[ $(q "$1" "$2") == "$3" ]]; }
up() { is "$1" '[m["neighbor"]["state"] for m in ms if m["type"] == "state"][-1:] == ["up"]' True; }
wait_for 25 "IPv4 session (MD5) up in ExaBGP" up 192.0.2.11
wait_for 25 "IPv6 session up in ExaBGP" up 2001:db8::11
for a in 192.0.2.11 2001:db8::11; do
  o=$(q $a 'json.dumps([m["neighbor"]["open"] for m in ms if "open" in m["neighbor"] and m["neighbor"]["direction"] == "receive"][-1])')
  "$PY" - "$o" <<'PY' || fail "$a: vaned's OPEN as ExaBGP parsed it: $o"
import json, sys
o = json.loads(sys.argv[1])
caps = {c.get("name"): c for c in o["capabilities"].values()}
assert o["asn"] == 23456, "2-byte My AS must be AS_TRANS (RFC 6793)"
assert caps["asn4"]["asn4"] == 4200000011, caps.get("asn4")
assert o["router_id"] == "192.0.2.11" and o["hold_time"] == 9, o
PY
done
log "sessions up over IPv4 with MD5 and over IPv6; vaned's OPEN: My AS 23456 (AS_TRANS), 4-byte AS capability 4200000011, hold 9"

wait_for 15 "203.0.113.10/32 announced to ExaBGP" is 192.0.2.11 'last("203.0.113.10/32")' announce
wait_for 15 "2001:db8:10::/48 announced to ExaBGP" is 2001:db8::11 'last("2001:db8:10::/48")' announce
check_attrs() {  # check_attrs PEER PREFIX NEXTHOP COMMUNITY...   (community as [a, b] JSON)
  local peer=$1 pfx=$2 nh=$3; shift 3
  local out
  out=$(q "$peer" "json.dumps([(nh, a) for i, n, nh, a in updates('announce') if n == '$pfx'][-1])")
  "$PY" - "$out" "$nh" "$@" <<'PY' || fail "$pfx from $peer: attributes wrong: $out"
import json, sys
nh, a = json.loads(sys.argv[1])
want_nh, comms = sys.argv[2], [json.loads(c) for c in sys.argv[3:]]
errs = []
if a.get("origin") != "igp": errs.append("origin igp")
if a.get("as-path") != [4200000011] * 3: errs.append("AS path 4200000011 x3 (prepend 2)")
if a.get("med") != 50: errs.append("MED 50")
if sorted(a.get("community", [])) != sorted(comms): errs.append("communities %r" % comms)
if a.get("large-community") != [[4200000011, 1, 2]]: errs.append("large community")
if nh != want_nh: errs.append("next hop %s" % want_nh)
if errs: print("\n".join(errs), file=sys.stderr); sys.exit(1)
PY
}
check_attrs 192.0.2.11 203.0.113.10/32 192.0.2.11 '[65000, 100]' '[65535, 65281]'
check_attrs 2001:db8::11 2001:db8:10::/48 2001:db8::11 '[65000, 100]'
log "IPv4 and IPv6 prefixes in ExaBGP's JSON: AS path 4200000011 x3 (prepend 2), MED 50, origin igp, communities 65000:100 (+no-export on IPv4), large community 4200000011:1:2, next hops 192.0.2.11 / 2001:db8::11"

# Routes ExaBGP announces (static): counted and kept by vaned with their attributes.
counts_ok() {  # vanectl show neighbors: tor1 and tor1v6 Established with 2 and 1 prefixes received
  local out
  out=$("$VANECTL" --socket "$RUN/s1.sock" -o json show neighbors) || return 1
  "$PY" - "$out" <<'PY'
import json, sys
n = {x["name"]: x for x in json.loads(sys.argv[1])["neighbors"]["neighbors"]}
ok = all(n[k]["state"] == "Established" and int(n[k]["prefixes_received"]) == c for k, c in (("tor1", 2), ("tor1v6", 1)))
sys.exit(0 if ok else sys.argv[1])
PY
}
check_received() {  # check_received WHEN
  wait_for 10 "vaned s1 counting ExaBGP's 2 IPv4 and 1 IPv6 routes$1" counts_ok
  a4=$(received_ok tor1 192.0.2.1 198.51.100.0/28 198.51.100.16/28) || fail "vanectl show received tor1$1: $a4"
  # No IPv6 next hop: vaned keeps a received route's attributes without MP_REACH_NLRI.
  a6=$(received_ok tor1v6 - 2001:db8:ff::/48) || fail "vanectl show received tor1v6$1: $a6"
}
check_received ""
log "vanectl: s1 counts and keeps the routes ExaBGP announces (198.51.100.0/28 $a4; 2001:db8:ff::/48 $a6)"
[[ $a6 == *next-hop* ]] ||
  log "not checked: the IPv6 next hop of received routes (vaned's show received drops MP_REACH_NLRI, so it has none)"

# Withdraw on failing health: both withdrawn, sessions stay up.
rm -f "$RUN/s1-up"
wait_for 10 "203.0.113.10/32 withdrawn" is 192.0.2.11 'last("203.0.113.10/32")' withdraw
wait_for 10 "2001:db8:10::/48 withdrawn" is 2001:db8::11 'last("2001:db8:10::/48")' withdraw
up 192.0.2.11 && up 2001:db8::11 || fail "the withdraw must not reset the sessions"
log "failing check: ExaBGP received the withdraw of both prefixes, sessions untouched"
touch "$RUN/s1-up"
wait_for 10 "203.0.113.10/32 re-announced" is 192.0.2.11 'last("203.0.113.10/32")' announce
wait_for 10 "2001:db8:10::/48 re-announced" is 2001:db8::11 'last("2001:db8:10::/48")' announce
log "recovery re-announces both prefixes"

# Graceful restart. ExaBGP keeps no routes (no RIB, no FIB) and does not act as a helper, so what
# is checked is what vaned puts on the wire, from the raw OPEN ExaBGP hands over (ExaBGP's own JSON
# for capability 64 swaps the names: it calls the R bit "forwarding" and the F bit "restart").
for pair in "192.0.2.11 1/1" "2001:db8::11 2/1"; do
  read -r a fam <<<"$pair"
  cap=$(q $a 'json.dumps(gr_cap(opens()[-1][1]))')
  [[ $cap == "{\"R\": false, \"time\": 30, \"families\": {\"$fam\": true}}" ]] ||
    fail "$a: vaned's first OPEN should carry GR: R clear, restart time 30, forwarding bit for $fam; got $cap"
done
log "vaned's OPEN carries graceful restart on both sessions: restart time 30, forwarding bit set, R bit clear (fresh start)"
VLOG=$RUN/vaned-s1b.log
export SINCE
SINCE=$(wc -l <"$MSGS")
kill -KILL "$P1"
wait "$P1" 2>/dev/null || true
down() { is "$1" '[m["neighbor"]["state"] for m in ms if m["type"] == "state"][-1:] == ["down"]' True; }
wait_for 10 "ExaBGP seeing the IPv4 session go down" down 192.0.2.11
wait_for 10 "ExaBGP seeing the IPv6 session go down" down 2001:db8::11
start_vaned "${S[1]}" vaned-s1b "$c1"; P1=$VANED_PID
wait_for 20 "IPv4 session up again in ExaBGP" up 192.0.2.11
wait_for 20 "IPv6 session up again in ExaBGP" up 2001:db8::11
grep -q "restarting after an unclean exit" "$VLOG" || fail "vaned did not notice its unclean exit"
for t in "192.0.2.11 1/1 ipv4 203.0.113.10/32" "2001:db8::11 2/1 ipv6 2001:db8:10::/48"; do
  read -r a fam afi pfx <<<"$t"
  caps=$(q $a 'json.dumps([gr_cap(b) for i, b, c in opens()])')
  "$PY" - "$caps" "$fam" <<'PY' || fail "$a: every OPEN of the restarted vaned should carry GR with R set, time 30, F for $fam: $caps"
import json, sys
caps, fam = json.loads(sys.argv[1]), sys.argv[2]
assert caps and all(c == {"R": True, "time": 30, "families": {fam: True}} for c in caps)
PY
  parsed=$(q $a 'json.dumps(opens()[-1][2].get("64"))')
  [[ $parsed == *'"restart-flags": ["forwarding"]'* ]] ||
    fail "$a: ExaBGP's parsed OPEN should show the R bit (its label: forwarding): $parsed"
  order="(lambda o, a, e: bool(o and a and e and o[0] < a[0] < e[0]))([i for i, b, c in opens()], [i for i, n, _, _ in updates('announce') if n == '$pfx'], [i for i, f in eors() if f == '$afi unicast'])"
  wait_for 10 "$a: $pfx re-announced after the new OPEN, then End-of-RIB $afi unicast" is $a "$order" True
  [[ $(q $a "[n for i, n, _, _ in updates('withdraw')]") == "[]" ]] || fail "$a: something withdrawn across the restart"
  [[ $(q $a 'len(eors())') == 1 ]] || fail "$a: expected exactly one End-of-RIB after the restart: $(q $a 'eors()')"
done
log "vaned restarted: R bit set in every new OPEN (raw and as ExaBGP parsed it), both prefixes re-announced, then one End-of-RIB per family, nothing withdrawn"
log "not checked: route retention across the restart (ExaBGP has no RIB/FIB and is no GR helper; BIRD, FRR and GoBGP tests cover it)"
check_received " after the restart"
log "the restarted vaned holds ExaBGP's routes again"
SINCE=$(wc -l <"$MSGS")  # the SIGTERM checks look at what follows only

# SIGTERM: NOTIFICATION 6/2 on both sessions; the routes die with the sessions.
# ExaBGP 4.2.21 on Python 3 cannot parse a Cease 6/2 (or 6/4) that carries an RFC 8203/9003
# Shutdown Communication: Notification.__init__ formats bytes with a str (TypeError), so it
# reports 'can not decode update message of type "3"', sends 1/0 back and hands the API no parsed
# notification (fixed upstream: Exa-Networks/exabgp PR #1302). The raw packet, handed to the API
# before parsing, is what vaned sent; a parsed notification is checked too when there is one.
vaned_stop "$P1"
((STOP_RC == 0)) || fail "vaned exited with $STOP_RC"
notes() {  # JSON {"raw": [body hex...], "parsed": [[code, subcode, data]...], "down": reason of the first down after it}
  q "$1" 'json.dumps({
  "raw": [m["neighbor"]["message"]["body"] for m in ms if m["neighbor"].get("message", {}).get("category") == 3],
  "parsed": [[n["code"], n["subcode"], n.get("data", "")] for m in ms for n in [m["neighbor"].get("notification")] if isinstance(n, dict)],
  "down": ([m["neighbor"].get("reason", "") for m in ms[first(3):] if m["type"] == "state" and m["neighbor"].get("state") == "down"] or [""])[0]})'
}
any_notification='[m["neighbor"].get("message", {}).get("category") for m in ms].count(3) + sum(1 for m in ms if isinstance(m["neighbor"].get("notification"), dict)) > 0'
unparsed=()
for a in 192.0.2.11 2001:db8::11; do
  wait_for 5 "$a: NOTIFICATION received by ExaBGP" is $a "$any_notification" True
  wait_for 5 "$a: session down in ExaBGP" is $a '[m["neighbor"]["state"] for m in ms if m["type"] == "state"][-1]' down
  out=$(notes $a)
  verdict=$("$PY" - "$out" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
raw, parsed, down = d["raw"], d["parsed"], d["down"]
if len(raw) != 1:
    sys.exit("expected exactly one raw NOTIFICATION, got %r" % raw)
b = bytes.fromhex(raw[0][2:] if raw[0].startswith("0x") else raw[0])
if b[:2] != b"\x06\x02":
    sys.exit("NOTIFICATION %d/%d, expected 6/2" % (b[0], b[1]))
text = ""
if len(b) > 2:  # RFC 9003: a length octet, then that many octets of UTF-8
    n = b[2]
    if len(b) != 3 + n:
        sys.exit("malformed Shutdown Communication: length %d, %d octets follow" % (n, len(b) - 3))
    text = b[3:].decode("utf-8")
if parsed:
    if [p[:2] for p in parsed] != [[6, 2]]:
        sys.exit("ExaBGP parsed %r, expected one 6/2" % parsed)
    print("parsed 6/2 and raw 6/2, Shutdown Communication %r" % text)
elif 'message of type "3"' in down:
    print("raw 6/2, Shutdown Communication %r; ExaBGP itself could not parse it (%s)" % (text, down))
else:
    sys.exit("raw 6/2 but no parsed notification, and not the known ExaBGP decode failure: %r" % down)
PY
) || fail "$a: NOTIFICATION on SIGTERM: $verdict; ExaBGP saw $out"
  log "$a: $verdict"
  [[ $verdict == raw* ]] && unparsed+=("$a")
done
# vaned withdraws explicitly before the Cease (it logs "withdrew N prefix(es)"); what it logs
# must be what ExaBGP got.
for pair in "tor1 192.0.2.11 203.0.113.10/32" "tor1v6 2001:db8::11 2001:db8:10::/48"; do
  read -r nb a pfx <<<"$pair"
  fate=$(q $a "last('$pfx')")
  if grep -q "bgp $nb: withdrew 1 prefix(es)" "$VLOG"; then
    [[ $fate == withdraw ]] || fail "vaned logged a withdraw of $pfx on SIGTERM, ExaBGP's last word on it is: $fate"
    log "SIGTERM: $pfx explicitly withdrawn before the NOTIFICATION"
  else
    log "SIGTERM: no explicit withdraw of $pfx (implicit with the session close; ExaBGP: $fate)"
  fi
done
((${#unparsed[@]} == 0)) ||
  log "not checked: ExaBGP's parsed notification for ${unparsed[*]} (ExaBGP 4.2.21 cannot decode a 6/2 with a Shutdown Communication; the raw NOTIFICATION was checked instead)"
log "SIGTERM: NOTIFICATION 6/2 (Cease / Administrative Shutdown) received by ExaBGP on both sessions, exit 0"
log PASS
