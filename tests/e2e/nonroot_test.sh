#!/usr/bin/env bash
# vaned as an unprivileged user with only the capabilities it needs, through a real forwarding
# scenario (docs/operations.md, "Running as an unprivileged user"):
#
#   client C 198.51.100.10 -- r-c | router R (BIRD, kernel ECMP, L4 hash) | br0 -- s1, s2
#   servers s1, s2 (192.0.2.11-12): vaned as user $VUSER (setpriv: real and effective uid and gid,
#   no supplementary groups, inheritable/ambient/bounding sets exactly the minimal set), BGP to R,
#   forwarding on (native XDP on the veth), VIP 203.0.113.10 on lo with a TCP server on :80.
#   s1's exec check runs as "nobody" (s1 also has CAP_SETUID/CAP_SETGID/CAP_KILL for that); s2's runs as
#   vaned's own user (s2 has exactly the minimal set).
#
# Checks:
#  (a) each vaned runs with that uid and exactly those effective capabilities, its pins live in a
#      bpffs owned by its user, it listens on port 179, its BGP session (TCP MD5 and GTSM, key file
#      owned by its user) is up and the router has the ECMP route;
#  (b) the exec checks ran as the configured users (the uid each wrote);
#  (c) the sysctls vaned changes on eth0 (forwarding v4/v6, accept_local, accept_ra 1 -> 2);
#  (d) 400 TCP connections from the client all complete, both servers serve, and flows are
#      GUE-forwarded to and from each server (forwarded and decap counters);
#  (e) `vanectl show neighbors` against the non-root daemon's socket: as root and as vaned's own
#      user; any other user is refused;
#  (f) s2's check fails -> s2 withdraws; it passes again -> back;
#  (g) s2's vaned SIGKILLed and started again: it takes over the pinned maps and does not take its
#      predecessor's values as the originals;
#  (h) s1 reloaded with forwarding off: detached and its sysctls restored, vaned running on;
#  (i) SIGTERM: both withdraw, the programs are detached and every sysctl is back where it was;
#  (j) vaned started as root keeps only the needed capabilities (bounding set too) and still works.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bgp_lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
BUILD=$(cd "$(dirname "$VANED")/.." && pwd)
XDP_PASS_OBJ=${XDP_PASS_OBJ:-$BUILD/bpf/xdp_pass.bpf.o}
VIP=203.0.113.10
CLIENT=198.51.100.10
N=400
# The minimal set (docs/operations.md says why each): BPF programs and maps, XDP attach and the
# uplink's sysctls, BGP's port 179.
CAPS=bpf,perfmon,net_admin,net_bind_service
CAPS_SWITCH=$CAPS,setuid,setgid,kill   # and exec checks as another user
VUSER=daemon                      # an existing system account stands in for a `vane` user

[[ -x $PY ]] || skip "needs $PY"
command -v bird >/dev/null || skip "needs bird"
command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"
id "$VUSER" >/dev/null 2>&1 || skip "needs a user $VUSER"
[[ -f $XDP_PASS_OBJ ]] || fail "XDP_PASS object not found at $XDP_PASS_OBJ (build the bpf targets)"
VUID=$(id -u "$VUSER")
VGID=$(id -g "$VUSER")
NOBODY_UID=$(id -u nobody)

# ---- topology ------------------------------------------------------------------------------------
bgp_topology 2
ns_add C c
link "$C" eth0 "$CLIENT/24" "$R" r-c 198.51.100.1/24
ip -n "$C" route add default via 198.51.100.1
ip netns exec "$C" sysctl -qw net.core.txrehash=0
ip netns exec "$C" "$PY" "$VANE_SOURCE_DIR/scripts/lib/tx-csum-off" eth0 || fail "cannot turn TX checksum offload off on the client"
ip netns exec "$R" sysctl -qw net.ipv4.fib_multipath_hash_policy=1
for i in 1 2; do
  ip -n "${S[i]}" route add default via 192.0.2.1
  ip -n "${S[i]}" addr add "$VIP/32" dev lo
  ip -n "$R" link set dev "r-s$i" xdpdrv obj "$XDP_PASS_OBJ" sec xdp || fail "XDP_PASS on r-s$i"
  # The values vaned finds; accept_ra 1 (the kernel default) is the case it must turn into 2.
  ip netns exec "${S[i]}" sysctl -qw net.ipv4.conf.eth0.forwarding=0 net.ipv6.conf.eth0.forwarding=0 \
    net.ipv4.conf.eth0.accept_local=0 net.ipv6.conf.eth0.accept_ra=1
done
# TCP MD5 and GTSM on the sessions: socket options a non-root vaned sets without any capability.
bird_ecmp_tor 2 all '  password "nonroot-secret";
  ttl security on;'
start_bird "$R" "$RUN/bird.conf"

sysctls() {  # sysctls I -> "forwarding4 forwarding6 accept_local accept_ra" on s I's eth0
  ip netns exec "${S[$1]}" sh -c 'cat /proc/sys/net/ipv4/conf/eth0/forwarding /proc/sys/net/ipv6/conf/eth0/forwarding \
    /proc/sys/net/ipv4/conf/eth0/accept_local /proc/sys/net/ipv6/conf/eth0/accept_ra' | tr '\n' ' ' | sed 's/ $//'
}
BEFORE="0 0 0 1"
for i in 1 2; do [[ $(sysctls "$i") == "$BEFORE" ]] || fail "s$i sysctls before start: $(sysctls "$i")"; done

# ---- servers -------------------------------------------------------------------------------------
# The exec checks write the uid they ran as into a folder anyone may write to; a server is healthy
# while its flag file exists.
CHK=$RUN/checks
mkdir -p "$CHK" && chmod 1777 "$CHK"
touch "$CHK/s1.up" "$CHK/s2.up"
CHECK_USER=(x nobody "$VUSER")
for i in 1 2; do
  # vaned's runtime folder (control socket, sysctl record), its own, as systemd's RuntimeDirectory is.
  install -d -o "$VUID" -g "$VGID" -m 0700 "$RUN/run-s$i"
  key=$(key_file "tor-s$i" nonroot-secret)
  chown "$VUID:$VGID" "$key"
  cat >"$RUN/s$i.conf" <<EOF
node { name: "s$i" router_id: "192.0.2.1$i" asn: 6501$i address: "192.0.2.1$i" interface: "eth0" }
neighbor {
  name: "tor" address: "192.0.2.1" remote_asn: 65000 hold_time_s: 9 connect_retry_s: 1
  md5_key_file: "$key" ttl_security: true
}
service {
  name: "web"
  vip { address: "$VIP" port: 80 protocol: TCP }
  announce { prefix: "$VIP/32" }
  check {
    name: "web"
    exec { command: "id -u > $CHK/uid-s$i.new && mv -f $CHK/uid-s$i.new $CHK/uid-s$i && test -e $CHK/s$i.up" user: "${CHECK_USER[i]}" }
    interval_ms: 200 timeout_ms: 150 rise: 2 fall: 2
  }
}
site {
  server { name: "s1" address: "192.0.2.11" }
  server { name: "s2" address: "192.0.2.12" }
}
forwarding { enabled: true gue_port: 6080 hash_seed: 2654435761 }
control { socket: "$RUN/run-s$i/vaned.sock" }
EOF
  chmod 644 "$RUN/s$i.conf"
  # As the user it will run as: key files must be owned by root or by that user.
  chk=(setpriv --reuid="$VUID" --regid="$VGID" --clear-groups "$VANED" --check "$RUN/s$i.conf")
  "${chk[@]}" >/dev/null || fail "s$i config invalid: $("${chk[@]}" 2>&1)"
  bg "${S[i]}" "tcp-s$i" "$PY" "$HERE/xdp_server.py" "s$i" "$VIP:80"
  # A bpffs of the test's own per server, owned by vaned's user: the pins outlive a vaned (g).
  bpffs_add "$RUN/bpffs-s$i"
  chown "$VUID:$VGID" "$RUN/bpffs-s$i"
done
for i in 1 2; do wait_for 10 "TCP server on s$i" grep -q ready "$RUN/tcp-s$i.log"; done

declare -A VPID
vaned_up() {  # vaned_up I LOGNAME CAPS: bpffs bind-mounted as root, then vaned as $VUSER with CAPS only
  local caps=$3 c=""
  for x in ${caps//,/ }; do c+=",+$x"; done
  bg "${S[$1]}" "$2" sh -c 'mount --bind "$0" /sys/fs/bpf && exec "$@"' "$RUN/bpffs-s$1" \
    setpriv --reuid="$VUID" --regid="$VGID" --clear-groups \
    --inh-caps="-all$c" --ambient-caps="-all$c" --bounding-set="-all$c" -- \
    "$VANED" --config "$RUN/s$1.conf" --log-level info
  VPID[$1]=$LAST_PID
}
vctl() { "$VANECTL" --socket "$RUN/run-s$1/vaned.sock" "${@:2}"; }
vaned_up 1 vaned-s1 "$CAPS_SWITCH"
vaned_up 2 vaned-s2 "$CAPS"

ecmp_both() { [[ $(ip -n "$R" route show $VIP | grep -c 'nexthop via') == 2 ]]; }
for ((t = 0; ; t++)); do
  for i in 1 2; do kill -0 "${VPID[$i]}" 2>/dev/null || fail "vaned on s$i exited: $(tail -n 5 "$RUN/vaned-s$i.log")"; done
  ecmp_both && break
  ((t < 300)) || fail "timed out after 30s waiting for the ECMP route over both servers"
  sleep 0.1
done

# ---- (a) who vaned is ----------------------------------------------------------------------------
capmask() {  # capmask a,b,c -> the /proc status hex mask of those capabilities
  "$PY" -c '
import sys
bits = {"kill": 5, "net_bind_service": 10, "net_admin": 12, "net_raw": 13, "setgid": 6, "setuid": 7, "perfmon": 38, "bpf": 39}
m = 0
for c in sys.argv[1].split(","):
    m |= 1 << bits[c]
print("%016x" % m)' "$1"
}
status_of() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
WANT=(x "$(capmask "$CAPS_SWITCH")" "$(capmask "$CAPS")")
for i in 1 2; do
  p=${VPID[$i]}
  [[ $(awk '$1 == "Uid:" { print $2, $3, $4, $5 }' "/proc/$p/status") == "$VUID $VUID $VUID $VUID" ]] ||
    fail "(a) s$i: vaned's uids: $(grep Uid: "/proc/$p/status")"
  [[ $(status_of "$p" Groups) == "" ]] || fail "(a) s$i: vaned has supplementary groups $(status_of "$p" Groups)"
  for k in CapEff CapPrm CapBnd; do
    [[ $(status_of "$p" $k) == "${WANT[i]}" ]] || fail "(a) s$i: $k $(status_of "$p" $k), want ${WANT[i]}"
  done
  # vaned empties these itself: nothing it runs inherits a capability.
  for k in CapInh CapAmb; do [[ $(status_of "$p" $k) == 0000000000000000 ]] || fail "(a) s$i: $k $(status_of "$p" $k)"; done
  ip -n "${S[i]}" link show eth0 | grep -q 'prog/xdp' || fail "(a) s$i: no native XDP program on eth0"
  # Passive BGP: the listener on port 179 is what CAP_NET_BIND_SERVICE is for.
  ip netns exec "${S[i]}" ss -Hltn "sport = :179" | grep -q "192.0.2.1$i:179" ||
    fail "(a) s$i: vaned does not listen on port 179: $(grep -i listen "$RUN/vaned-s$i.log")"
  pins=$(find "$RUN/bpffs-s$i/vane/s$i" -maxdepth 1 -name 'vane_*' -user "$VUID" | wc -l)
  ((pins >= 8)) || fail "(a) s$i: maps not pinned by $VUSER under its bpffs: $(ls -ln "$RUN/bpffs-s$i/vane/s$i" 2>&1)"
done
log "(a) both vaneds run as $VUSER ($VUID) with exactly {$CAPS_SWITCH} (s1) / {$CAPS} (s2), XDP attached, maps pinned, BGP up"

# ---- (b) exec checks as the configured user ------------------------------------------------------
wait_for 5 "s1's check result" test -s "$CHK/uid-s1"
wait_for 5 "s2's check result" test -s "$CHK/uid-s2"
[[ $(cat "$CHK/uid-s1") == "$NOBODY_UID" ]] || fail "(b) s1's check ran as uid $(cat "$CHK/uid-s1"), not nobody ($NOBODY_UID)"
[[ $(cat "$CHK/uid-s2") == "$VUID" ]] || fail "(b) s2's check ran as uid $(cat "$CHK/uid-s2"), not $VUSER ($VUID)"
log "(b) s1's exec check ran as nobody ($NOBODY_UID), s2's as $VUSER ($VUID)"

# ---- (c) sysctls while running -------------------------------------------------------------------
for i in 1 2; do [[ $(sysctls "$i") == "1 1 1 2" ]] || fail "(c) s$i sysctls while running: $(sysctls "$i"), want 1 1 1 2"; done
log "(c) eth0 while running: forwarding 1/1, accept_local 1, accept_ra 2 (was 1)"

# ---- (d) traffic ---------------------------------------------------------------------------------
fwd_all() {  # fwd_all I -> "forwarded decap_syn decap_local" summed over the VIP and global rows
  vctl "$1" -o json show forwarding | "$PY" -c '
import json, sys
t = {}
for v in json.load(sys.stdin)["forwarding"]["vips"]:
    for k, n in v["packets"].items():
        t[k] = t.get(k, 0) + int(n)
print(t.get("forwarded", 0), t.get("decap_syn", 0), t.get("decap_local", 0))'
}
# The router's ECMP route needs only each server's own check; the GUE path needs each server to
# have heard the other one up (a site query after the other's check passed).
site_converged() {
  local i
  for i in 1 2; do
    vctl "$i" -o json show site | "$PY" -c '
import json, sys
s = json.load(sys.stdin)["site"]["servers"]
sys.exit(0 if len(s) == 2 and all(int(x["weight"]) > 0 for v in s for x in v["services"] if x["service"] == "web") else 1)' || return 1
  done
}
wait_for 15 "site health to converge" site_converged
ip netns exec "$C" timeout 90 "$PY" "$HERE/xdp_client.py" bulk "$CLIENT" "$VIP:80" 20000 "$N" \
  --concurrency 32 --timeout 10 >"$RUN/bulk.json" || fail "(d) not every connection completed: $(cat "$RUN/bulk.json")"
"$PY" -c '
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(0 if r["ok"] == r["total"] and r["counts"].get("s1", 0) > 0 and r["counts"].get("s2", 0) > 0 else 1)' \
  "$RUN/bulk.json" || fail "(d) both servers should serve: $(cat "$RUN/bulk.json")"
for i in 1 2; do
  read -r fwd dsyn dloc < <(fwd_all "$i")
  ((fwd > 0 && dsyn > 0 && dloc > 0)) || fail "(d) s$i: GUE path not used both ways: forwarded $fwd decap_syn $dsyn decap_local $dloc"
  log "  s$i: forwarded $fwd, decap_syn $dsyn, decap_local $dloc"
done
log "(d) $N connections through the VIP, all complete: $(cat "$RUN/bulk.json")"

# ---- (e) the control socket ----------------------------------------------------------------------
for i in 1 2; do
  [[ $(stat -c '%u %a' "$RUN/run-s$i/vaned.sock") == "$VUID 600" ]] || fail "(e) s$i socket: $(stat -c '%U %a' "$RUN/run-s$i/vaned.sock")"
  vctl "$i" show neighbors | grep -q Established || fail "(e) root: vanectl show neighbors on s$i: $(vctl "$i" show neighbors 2>&1)"
  setpriv --reuid="$VUID" --regid="$VGID" --clear-groups "$VANECTL" --socket "$RUN/run-s$i/vaned.sock" show neighbors |
    grep -q Established || fail "(e) $VUSER: vanectl show neighbors on s$i"
done
# Another user, let through the mode and the folder on purpose: refused by its credentials.
chmod 0711 "$RUN/run-s1"
chmod 0666 "$RUN/run-s1/vaned.sock"
if out=$(setpriv --reuid="$NOBODY_UID" --regid="$(id -g nobody)" --clear-groups \
  "$VANECTL" --socket "$RUN/run-s1/vaned.sock" show neighbors 2>&1); then
  fail "(e) nobody used s1's control socket: $out"
fi
chmod 0600 "$RUN/run-s1/vaned.sock"
chmod 0700 "$RUN/run-s1"
log "(e) vanectl show neighbors works as root and as $VUSER; nobody is refused even through an open mode"

# ---- (f) health ----------------------------------------------------------------------------------
rm -f "$CHK/s2.up"
wait_for 15 "s2 withdrawn after its check failed" sh -c "! ip -n $R route show $VIP | grep -q 192.0.2.12"
touch "$CHK/s2.up"
wait_for 15 "s2 back after its check passed" ecmp_both
log "(f) s2's exec check failed: withdrawn; passed again: announced again"

# ---- (g) SIGKILL and restart ---------------------------------------------------------------------
kill -KILL "${VPID[2]}"
wait "${VPID[2]}" 2>/dev/null || true
[[ $(sysctls 2) == "1 1 1 2" ]] || fail "(g) s2's sysctls changed by SIGKILL: $(sysctls 2)"
[[ -s $RUN/run-s2/vaned.sock.sysctl ]] || fail "(g) no sysctl record left by the killed vaned"
vaned_up 2 vaned-s2b "$CAPS"
wait_for 15 "the new vaned on s2 took over the pinned maps" grep -q "took over the pinned maps" "$RUN/vaned-s2b.log"
wait_for 5 "the new vaned on s2 read the sysctl record" \
  grep -q "4 sysctl(s) changed by an earlier vaned keep their recorded originals" "$RUN/vaned-s2b.log"
wait_for 30 "s2 announcing again" ecmp_both
log "(g) s2's vaned SIGKILLed: sysctls and record stay; the new one took over the maps and read the record"

# ---- (h) forwarding turned off by a reload ------------------------------------------------------
sed -i 's/forwarding { enabled: true /forwarding { enabled: false /' "$RUN/s1.conf"
kill -HUP "${VPID[1]}"
s1_restored() { [[ $(sysctls 1) == "$BEFORE" ]]; }
wait_for 10 "s1 to restore its sysctls after the reload" s1_restored
ip -n "${S[1]}" link show eth0 | grep -q 'prog/xdp' && fail "(h) s1: XDP program still attached after the reload"
kill -0 "${VPID[1]}" || fail "(h) s1's vaned exited on the reload"
log "(h) s1 reloaded with forwarding off: detached, eth0 back to $BEFORE while vaned runs on"

# ---- (i) SIGTERM ---------------------------------------------------------------------------------
for i in 1 2; do
  vaned_stop "${VPID[$i]}"
  ((STOP_RC == 0)) || fail "(i) s$i: vaned exited $STOP_RC: $(tail -n 5 "$RUN"/vaned-s$i*.log)"
done
wait_for 15 "both withdrawn" sh -c "! ip -n $R route show $VIP | grep -q ."
for i in 1 2; do
  [[ $(sysctls "$i") == "$BEFORE" ]] || fail "(i) s$i sysctls after SIGTERM: $(sysctls "$i"), want $BEFORE"
  ip -n "${S[i]}" link show eth0 | grep -q 'prog/xdp' && fail "(i) s$i: XDP program still attached"
  [[ -e $RUN/run-s$i/vaned.sock.sysctl ]] && fail "(i) s$i: sysctl record left behind"
done
grep -q 'restoring net/ipv6/conf/eth0/accept_ra = 1' "$RUN/vaned-s2b.log" || fail "(i) s2's restore log"
log "(i) SIGTERM: both withdrew, programs detached, eth0 back to $BEFORE, no record left"
# ---- (j) started as root: only the needed capabilities are kept ------------------------------------
sed -i 's/forwarding { enabled: false /forwarding { enabled: true /' "$RUN/s1.conf"
rm -f "$CHK/uid-s1"
# Without CAP_DAC_OVERRIDE, root is just another user to the folders $VUSER made.
chown -R 0:0 "$RUN/bpffs-s1" "$RUN/run-s1" "$RUN/tor-s1.key"
bg "${S[1]}" vaned-s1-root sh -c 'mount --bind "$0" /sys/fs/bpf && exec "$@"' "$RUN/bpffs-s1" \
  "$VANED" --config "$RUN/s1.conf" --log-level info
RPID=$LAST_PID
wait_for 15 "s1 (root) announcing" sh -c "ip -n $R route show $VIP | grep -q 192.0.2.11"
ALL=$(capmask bpf,perfmon,net_admin,net_bind_service,setuid,setgid,kill,net_raw)
for k in CapEff CapPrm CapBnd; do
  [[ $(status_of "$RPID" $k) == "$ALL" ]] || fail "(j) root vaned: $k $(status_of "$RPID" $k), want $ALL"
done
for k in CapInh CapAmb; do [[ $(status_of "$RPID" $k) == 0000000000000000 ]] || fail "(j) root vaned: $k $(status_of "$RPID" $k)"; done
wait_for 5 "s1's check result" test -s "$CHK/uid-s1"
[[ $(cat "$CHK/uid-s1") == "$NOBODY_UID" ]] || fail "(j) root vaned's check ran as uid $(cat "$CHK/uid-s1")"
[[ $(sysctls 1) == "1 1 1 2" ]] || fail "(j) root vaned's sysctls: $(sysctls 1)"
grep -q "running as uid 0 gid 0 with capabilities CAP_BPF CAP_PERFMON CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID CAP_KILL CAP_NET_RAW" \
  "$RUN/vaned-s1-root.log" || fail "(j) root vaned's start log: $(head -n 3 "$RUN/vaned-s1-root.log")"
vaned_stop "$RPID"
[[ $(sysctls 1) == "$BEFORE" ]] || fail "(j) root vaned's sysctls after SIGTERM: $(sysctls 1)"
log "(j) vaned started as root keeps only {bpf,perfmon,net_admin,net_bind_service,setuid,setgid,kill} (bounding set too), and works"
log PASS
