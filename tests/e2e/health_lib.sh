# Shared pieces of the health end-to-end tests (health_bird_test.sh, health_frr_test.sh); source
# after lib.sh and bgp_lib.sh.
#
# Topology (bgp_topology 2): router R, servers S[1] (192.0.2.11, AS 65011) and S[2] (192.0.2.12,
# AS 65012). On each server's lo:
#   203.0.113.10  "web": a real HTTP server (python3 http.server) and an http check on it; both
#                 servers announce 203.0.113.10/32, so the router has a kernel ECMP route.
#   203.0.113.20  "flap" on s1: an exec check `test -f FLAP_FLAG` (50 ms, rise 2, fall 2: one check
#                 timing out on a busy machine, a fork + exec slower than its 50 ms, moves nothing) WITH
#                 dampening, announcing 203.0.113.20/32;
#   203.0.113.21  "flap" on s2: the same check on the same flag WITHOUT dampening, announcing
#                 203.0.113.21/32: the undampened reference, flapped in the same run.
# The router-specific parts (config, counters, path details) live in each test.

# The system interpreter: a pyenv shim in PATH costs ~0.2 s per call, and the tests poll.
PY=$(command -v /usr/bin/python3 || command -v python3) || skip "python3 needed"

WEB=203.0.113.10
FLAP1=203.0.113.20   # s1, dampened
FLAP2=203.0.113.21   # s2, not dampened
FLAP_FLAG=$RUN/flap-up
WEB_DRAIN_S=3        # web's service.drain_time_s on s1 (the BIRD test drains with vanectl)
NODE_DRAIN_S=3       # node.drain_time_s (the FRR test drains the whole node with SIGUSR1)
DRAIN_PREPEND=1      # node.drain_prepend

# Dampening of s1's flap service. The values are chosen so that (a) the undampened rate (one
# withdraw + one announce per 400 ms) is far above what they allow and (b) once suppressed the
# prefix stays suppressed for the rest of the 10 s flap (T * log2(S / R) = 20 s), which keeps the
# bound below simple; flap_bound checks (b).
DAMP_HOLD_MS=500 DAMP_PENALTY=1000 DAMP_SUPPRESS=2000 DAMP_REUSE=500 DAMP_HALF_LIFE_S=10

health_topology() {
  bgp_topology 2
  local i
  for i in 1 2; do
    ip -n "${S[i]}" addr add "$WEB/32" dev lo
  done
  ip -n "${S[1]}" addr add "$FLAP1/32" dev lo
  ip -n "${S[2]}" addr add "$FLAP2/32" dev lo
  mkdir -p "$RUN/www"
  echo "vane e2e" >"$RUN/www/index.html"
  touch "$FLAP_FLAG"
}

# http_start I / http_stop I: the real HTTP service of server I on $WEB:80 (pid in HTTP_PID[I]).
declare -A HTTP_PID=()
http_start() {
  local i=$1
  bg "${S[i]}" "http-s$i" "$PY" -m http.server 80 --bind "$WEB" --directory "$RUN/www"
  HTTP_PID[$i]=$LAST_PID
  wait_for 10 "HTTP server on s$i" ip netns exec "${S[i]}" "$PY" -c "
import socket; socket.create_connection(('$WEB', 80), timeout=0.5).close()"
}
http_stop() {
  stop_pid "${HTTP_PID[$1]}"
  wait "${HTTP_PID[$1]}" 2>/dev/null || true
}

# health_conf I ASN NEIGHBOR_BLOCK: writes s$I's config and prints its path.
health_conf() {
  local i=$1 asn=$2 nbr=$3 flap_pfx damp=""
  if ((i == 1)); then
    flap_pfx=$FLAP1
    damp="dampening { hold_down_ms: $DAMP_HOLD_MS penalty: $DAMP_PENALTY suppress: $DAMP_SUPPRESS reuse: $DAMP_REUSE half_life_s: $DAMP_HALF_LIFE_S }"
  else
    flap_pfx=$FLAP2
  fi
  local f
  f=$(vaned_conf "$i" "$asn" "$nbr
service {
  name: \"web\"
  vip { address: \"$WEB\" port: 80 protocol: TCP }
  announce { prefix: \"$WEB/32\" }
  check { name: \"http\" http { port: 80 path: \"/\" expect_status: 200 } interval_ms: 100 timeout_ms: 100 rise: 2 fall: 2 }
  drain_time_s: $WEB_DRAIN_S
}
service {
  name: \"flap\"
  vip { address: \"$flap_pfx\" port: 80 protocol: TCP }
  announce { prefix: \"$flap_pfx/32\" }
  check { name: \"flag\" exec { command: \"test -f $FLAP_FLAG\" } interval_ms: 50 timeout_ms: 50 rise: 2 fall: 2 }
  $damp
}")
  # Node-wide drain settings go into the node block.
  sed -i "s/^  interface: \"eth0\"$/  interface: \"eth0\"\n  drain_time_s: $NODE_DRAIN_S\n  drain_prepend: $DRAIN_PREPEND/" "$f"
  echo "$f"
}

kernel_has() {  # kernel_has NEXTHOPS...: the router's kernel route to $WEB has exactly these next hops
  [[ $(kernel_nexthops "$R" "$WEB") == "$* " ]]
}

now_ms() { "$PY" -c "print(int($EPOCHREALTIME * 1000))"; }

# flap SECONDS: toggles $FLAP_FLAG every 200 ms (up 200 ms, down 200 ms: one flap every 400 ms)
# for SECONDS, on an absolute schedule so the shell's own delays do not stretch it; leaves it up.
# Sets FLAP_TOGGLES.
flap() {
  local secs=$1 k n t0 due
  n=$((secs * 5))
  t0=${EPOCHREALTIME/./}
  FLAP_TOGGLES=0
  for ((k = 1; k <= n; k++)); do
    if ((k % 2)); then rm -f "$FLAP_FLAG"; else touch "$FLAP_FLAG"; fi
    ((++FLAP_TOGGLES))
    due=$((t0 + k * 200000))
    local left=$((due - ${EPOCHREALTIME/./}))
    ((left > 0)) && sleep "$(printf '0.%06d' "$left")"
  done
  touch "$FLAP_FLAG"
}

# flap_bound WINDOW_S: the most UPDATEs (announces + withdraws) s1 may send for its flap prefix in
# a window of WINDOW_S seconds that starts with the prefix announced and its penalty at 0.
#
# How the decider gates a prefix (src/health/decider.cc): withdraws are immediate; an announce
# waits until hold_down H has passed since the last withdraw and, with dampening, until the prefix
# is not suppressed. Each withdraw adds penalty P to a penalty decaying with half-life T; a
# withdraw that leaves it above suppress S suppresses the prefix until it has decayed to reuse R,
# i.e. for at least T * log2(S / R).
#  - Every withdraw but the first follows an announce, so UPDATEs = A + D <= 2A + 1 (A announces,
#    D withdraws).
#  - Hold-down: each announce comes >= H after a withdraw that came after the previous announce,
#    so announces are >= H apart and the first is >= H into the window: A <= floor(W / H).
#  - Dampening: inside the window no contribution decays by more than 2^(-W/T), so after the k-th
#    withdraw the penalty is >= k * P * 2^(-W/T); it exceeds S by the k*-th withdraw at the latest,
#    k* = floor(S * 2^(W/T) / P) + 1. Suppression then lasts >= T * log2(S / R); when that is
#    longer than W no announce follows in the window: D <= k*, A <= k* - 1, UPDATEs <= 2k* - 1.
# Bound = min(2 * floor(W / H) + 1, 2k* - 1).
flap_bound() {
  "$PY" - "$1" "$DAMP_HOLD_MS" "$DAMP_PENALTY" "$DAMP_SUPPRESS" "$DAMP_REUSE" "$DAMP_HALF_LIFE_S" <<'PY'
import math, sys
W, H_ms, P, S, R, T = (float(x) for x in sys.argv[1:])
H = H_ms / 1000
if T * math.log2(S / R) <= W:
    sys.exit("flap_bound: suppression (%.1f s) must outlast the window (%.1f s) for this bound" % (T * math.log2(S / R), W))
by_hold = 2 * math.floor(W / H) + 1 if H > 0 else math.inf
k = math.floor(S * 2 ** (W / T) / P) + 1
print(min(by_hold, 2 * k - 1))
PY
}

# pos FILE LINE_REGEX TOKEN: "LINE:COLUMN" (1-based) of TOKEN's first occurrence on the first line
# matching LINE_REGEX.
pos() {
  awk -v re="$2" -v tok="$3" '$0 ~ re { c = index($0, tok); if (c) { print NR ":" c; exit } }' "$1"
}

# bad_check_configs: `vaned --check` refuses bad checks with FILE:LINE:COLUMN diagnostics.
bad_check_configs() {
  local good bad1 bad2 out want
  good=$(health_conf 1 65011 'neighbor { name: "tor1" address: "192.0.2.1" remote_asn: 65000 }')
  mv "$good" "$RUN/good.conf"
  good=$RUN/good.conf
  "$VANED" --check "$good" >/dev/null 2>&1 || fail "the test's own config is invalid: $("$VANED" --check "$good" 2>&1)"

  # 1. A kind vaned does not know: a parse error. protobuf's text parser reports it at the token
  #    after the unknown name (here the "{" after "grpc"), as for any unknown field.
  bad1="$RUN/bad-kind.conf"
  sed 's|^  check { name: "http" http {.*|  check { name: "rpc" grpc { port: 80 } interval_ms: 100 }|' "$good" >"$bad1"
  want="$bad1:$(pos "$bad1" 'name: "rpc"' '{ port'): Message type \"vane.config.Check\" has no field named \"grpc\"."
  out=$("$VANED" --check "$bad1" 2>&1) && fail "vaned --check accepted an unknown check kind"
  grep -qxF "$want" <<<"$out" || fail "unknown kind: expected '$want', got: $out"
  log "unknown check kind refused: ${want#"$RUN/"}"

  # 2. Semantic errors, all reported in one run, each at the field (or the block when the field is
  #    missing): port 0, exec without a command, a tcp check without its port, a check with no kind.
  bad2="$RUN/bad-checks.conf"
  sed 's|^  check { name: "http" http {.*|  check { name: "p0" http { port: 0 path: "/" } }\
  check { name: "nocmd" exec { } }\
  check { name: "noport" tcp { } }\
  check { name: "nokind" interval_ms: 100 }|' "$good" >"$bad2"
  out=$("$VANED" --check "$bad2" 2>&1) && fail "vaned --check accepted port 0 / a missing command"
  local expect=(
    "$bad2:$(pos "$bad2" 'name: "p0"' 'port: 0'): port is required (1..65535)"
    "$bad2:$(pos "$bad2" 'name: "nocmd"' 'exec'): command is required"
    "$bad2:$(pos "$bad2" 'name: "noport"' 'tcp'): port is required (1..65535)"
    "$bad2:$(pos "$bad2" 'name: "nokind"' 'check'): check \"nokind\" has no kind (tcp, http, dns, exec or agent)"
    "$bad2: 4 error(s)"
  )
  [[ $out == "$(printf '%s\n' "${expect[@]}")" ]] ||
    fail "bad checks: expected:
$(printf '%s\n' "${expect[@]}")
got:
$out"
  local e
  for e in "${expect[@]}"; do log "refused: ${e#"$RUN/"}"; done
}
