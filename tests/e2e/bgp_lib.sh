# Topology and config helpers for BGP end-to-end tests; source after lib.sh.
#
# One router namespace R with a bridge br0 (192.0.2.1/24, 2001:db8::1/64) and N server
# namespaces S[i] whose eth0 (192.0.2.1i/24, 2001:db8::1i/64) is a port of that bridge.

bgp_topology() {  # bgp_topology N
  local n=$1 i
  ns_add R r
  ip -n "$R" link add br0 type bridge
  ip -n "$R" addr add 192.0.2.1/24 dev br0
  ip -n "$R" addr add 2001:db8::1/64 dev br0 nodad
  ip -n "$R" link set br0 up
  ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  S=()
  for ((i = 1; i <= n; i++)); do
    local s
    ns_add s "s$i"
    S[i]=$s
    ip link add eth0 netns "$s" type veth peer name "r-s$i" netns "$R"
    ip -n "$R" link set "r-s$i" master br0 up
    ip -n "$s" addr add "192.0.2.1$i/24" dev eth0
    ip -n "$s" addr add "2001:db8::1$i/64" dev eth0 nodad
    ip -n "$s" link set eth0 up
  done
}

# bird_ecmp_tor N [LOG] [EXTRA]: writes $RUN/bird.conf for BIRD as the ToR of servers s1..sN
# (192.0.2.1i, AS 6501i): it takes their IPv4 routes and puts them into its kernel table as one
# ECMP route. LOG: BIRD's log classes (default all); EXTRA: more lines for the session template.
bird_ecmp_tor() {
  local n=$1 logspec=${2:-all} extra=${3:-} i
  {
    cat <<EOF
log "$RUN/bird.log" $logspec;
router id 192.0.2.1;
protocol device { scan time 10; }
protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; merge paths on limit 16; }
template bgp srv {
  local as 65000;
  ipv4 { import all; export none; };
  hold time 9; keepalive time 3; connect retry time 1;
$extra
}
EOF
    for ((i = 1; i <= n; i++)); do echo "protocol bgp s$i from srv { neighbor 192.0.2.1$i as 6501$i; }"; done
  } >"$RUN/bird.conf"
}

# vaned_conf I ASN BODY...: writes $RUN/s$I.conf with the node block, the given body (neighbors,
# services) and the site; prints its path.
vaned_conf() {
  local i=$1 asn=$2; shift 2
  local f="$RUN/s$i.conf"
  {
    cat <<CONF
node {
  name: "s$i"
  router_id: "192.0.2.1$i"
  asn: $asn
  address: "192.0.2.1$i"
  address6: "2001:db8::1$i"
  interface: "eth0"
}
site {
  server { name: "s1" address: "192.0.2.11" }
  server { name: "s2" address: "192.0.2.12" }
  server { name: "s3" address: "192.0.2.13" }
}
control { socket: "$RUN/s$i.sock" }
CONF
    printf '%s\n' "$@"
  } >"$f"
  echo "$f"
}

# dual_stack_gr_neighbors KEYFILE: the interop tests' two sessions to the router, IPv4 (with TCP MD5
# from KEYFILE) and IPv6, both keeping received routes and restarting gracefully.
dual_stack_gr_neighbors() {
  cat <<EOF
neighbor {
  name: "tor1" address: "192.0.2.1" remote_asn: 65000 hold_time_s: 9 md5_key_file: "$1"
  keep_received_routes: true
  graceful_restart { restart_time_s: 30 }
}
neighbor {
  name: "tor1v6" address: "2001:db8::1" remote_asn: 65000 hold_time_s: 9
  keep_received_routes: true
  graceful_restart { restart_time_s: 30 }
}
EOF
}

# web_service FLAG [v6]: the interop tests' service. It announces 203.0.113.10/32 (and with "v6"
# 2001:db8:10::/48) with every attribute kind the routers must show, while FLAG exists, so a test
# withdraws by removing the file.
web_service() {
  cat <<EOF
service {
  name: "web"
  vip { address: "203.0.113.10" port: 80 protocol: TCP }
  announce {
    prefix: "203.0.113.10/32"
    community: "65000:100" community: "no-export"
    large_community: "4200000011:1:2"
    med: 50
    prepend: 2
  }
EOF
  [[ ${2:-} == v6 ]] &&
    echo '  announce { prefix: "2001:db8:10::/48" community: "65000:100" large_community: "4200000011:1:2" med: 50 prepend: 2 }'
  cat <<EOF
  check { name: "flag" exec { command: "test -f $1" } interval_ms: 100 timeout_ms: 90 rise: 1 fall: 1 }
}
EOF
}

key_file() {  # key_file NAME SECRET -> path, mode 0600
  printf '%s\n' "$2" >"$RUN/$1.key"
  chmod 600 "$RUN/$1.key"
  echo "$RUN/$1.key"
}

kernel_nexthops() {  # kernel_nexthops NS PREFIX: the next hops of the kernel route, sorted
  ip -n "$1" route show "$2" 2>/dev/null | grep -o 'via [0-9a-f.:]*' | awk '{print $2}' | sort | tr '\n' ' '
  ip -n "$1" -6 route show "$2" 2>/dev/null | grep -o 'via [0-9a-f.:]*' | awk '{print $2}' | sort | tr '\n' ' '
}

# vaned_stop PID: SIGTERM and wait (bounded); sets STOP_RC
vaned_stop() {
  local pid=$1 i
  kill -TERM "$pid"
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$pid" 2>/dev/null && fail "vaned $pid did not exit within 5 s of SIGTERM"
  STOP_RC=0
  wait "$pid" || STOP_RC=$?
}

# received_ok NEIGHBOR NEXTHOP PREFIXES...: vanectl show received lists exactly PREFIXES, each with
# AS path 65000, community 65000:7 and NEXTHOP (when not "-"); prints the first one's attributes.
# Needs $PY (a python3 that runs inside namespaces).
received_ok() {
  local nb=$1 nh=$2 out; shift 2
  out=$("$VANECTL" --socket "$RUN/s1.sock" -o json show received "$nb") || { echo "vanectl show received failed: $out"; return 1; }
  "$PY" - "$out" "$nh" "$@" 2>&1 <<'PY'
import json, re, sys
d = json.loads(sys.argv[1])["received"]
nh, want = sys.argv[2], sys.argv[3:]
errs = []
if int(d["total"]) != len(want) or d.get("count_only"): errs.append("total %s, count_only %s" % (d["total"], d.get("count_only")))
rs = d.get("routes", [])
if [r["prefix"] for r in rs] != want: errs.append("prefixes %r" % [r["prefix"] for r in rs])
for r in rs:
    a = r.get("attributes", "")
    path = re.search(r"as-path((?: \d+)*)", a)
    if (not path or path.group(1).split() != ["65000"] or " community 65000:7" not in a
            or (nh != "-" and " next-hop %s " % nh not in a + " ")):
        errs.append("%s: attributes %r (AS path 65000, next hop %s, community 65000:7 expected)" % (r["prefix"], a, nh))
    if r.get("stale"): errs.append("%s: stale" % r["prefix"])
if errs: sys.exit("; ".join(errs) + ": " + sys.argv[1])
print(rs[0]["attributes"])
PY
}

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# anycast_clients VIP: a client namespace C (198.51.100.10, behind R on r-c) and, on every server
# S[i], VIP on lo, a default route back through R and a TCP server on VIP:80 that answers its name
# (xdp_server.py; pid in TCP_PID[i]). R hashes flows on L4, so one client address spreads over the
# ECMP next hops. Needs $PY.
anycast_clients() {
  local vip=$1 i
  ns_add C c
  link "$C" eth0 198.51.100.10/24 "$R" r-c 198.51.100.1/24
  ip -n "$C" route add default via 198.51.100.1
  ip netns exec "$R" sysctl -qw net.ipv4.fib_multipath_hash_policy=1
  TCP_PID=()
  for ((i = 1; i <= ${#S[@]}; i++)); do
    ip -n "${S[i]}" addr add "$vip/32" dev lo
    ip -n "${S[i]}" route add default via 192.0.2.1
    bg "${S[i]}" "tcp-s$i" "$PY" "$E2E_DIR/xdp_server.py" "s$i" "$vip:80"
    TCP_PID[i]=$LAST_PID
    wait_for 10 "TCP server on s$i" grep -q ready "$RUN/tcp-s$i.log"
  done
}

# client_round VIP FIRST_PORT COUNT: COUNT connections from the client (distinct source ports),
# each reading the server's name; prints xdp_client.py's JSON ({"total", "ok", "counts", ...}).
client_round() {
  ip netns exec "$C" "$PY" "$E2E_DIR/xdp_client.py" bulk 198.51.100.10 "$1:80" "$2" "$3" \
    --concurrency 16 --timeout 2
}

# proc_status PID FIELD: a field of /proc/PID/status (VmRSS in kB, Threads, ...), the number only
proc_status() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }
fd_count() { ls "/proc/$1/fd" | wc -l; }  # fd_count PID: open descriptors of PID
