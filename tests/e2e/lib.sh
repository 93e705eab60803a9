# Shared helpers for end-to-end tests. Source it; it makes a run folder, tracks every namespace
# and process the test starts, and removes them (by pid, never by name) when the test exits.
# Exit code 77 means skipped (ctest SKIP_RETURN_CODE).
set -Eeuo pipefail

E2E_NAME=${E2E_NAME:-$(basename "${BASH_SOURCE[1]:-e2e}" .sh)}
# Short, unique per run: namespace and veth names are limited to 15 characters.
E2E_ID=${E2E_ID:-$(printf '%04x' $(( ($$ + RANDOM) % 65536 )))}
RUN=$(mktemp -d "/tmp/vane-e2e-${E2E_NAME}.XXXXXX")
chmod 755 "$RUN"
E2E_NS=()
E2E_PIDS=()
E2E_FRR=()
E2E_MOUNTS=()

log() { printf '[%(%T)T] %s\n' -1 "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
skip() { log "SKIP: $*"; exit 77; }

VANED=${VANED:-$(pwd)/build/src/vaned}
VANECTL=${VANECTL:-$(pwd)/build/src/vanectl}
[[ -x $VANED ]] || fail "vaned binary not found at $VANED"
[[ $(id -u) -eq 0 ]] || skip "needs root for network namespaces"

stop_pid() {  # TERM, wait up to 5 s, then KILL; only pids this test started
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  set +e
  for ((i = ${#E2E_PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${E2E_PIDS[i]}"; done
  for ns in "${E2E_FRR[@]}"; do
    for f in /var/run/frr/"$ns"/*.pid; do [[ -f $f ]] && stop_pid "$(cat "$f")"; done
    rm -rf "/var/run/frr/$ns"
  done
  for ns in "${E2E_NS[@]}"; do ip netns del "$ns" 2>/dev/null; done
  for m in "${E2E_MOUNTS[@]}"; do umount "$m" 2>/dev/null; done
  if ((rc != 0 && rc != 77)); then
    log "logs kept in $RUN"
    for f in "$RUN"/*.log; do [[ -f $f ]] && { echo "---- $f (tail)"; tail -n 40 "$f"; }; done >&2
  else
    [[ -n ${E2E_KEEP:-} ]] && log "run folder kept: $RUN" || rm -rf "$RUN"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ns_add() {  # ns_add VAR SHORTNAME: makes a namespace, stores its real name in VAR
  local ns="v${E2E_ID}$2"
  ip netns add "$ns"
  E2E_NS+=("$ns")
  ip -n "$ns" link set lo up
  printf -v "$1" '%s' "$ns"
}

# bpffs_add DIR: a bpffs of the test's own at DIR (under $RUN), unmounted at exit. A vaned that
# bind-mounts it on /sys/fs/bpf keeps its pinned maps there across restarts (a bpffs mounted inside
# `ip netns exec` is gone with the process).
bpffs_add() {
  mkdir -p "$1"
  mount -t bpf bpf "$1"
  E2E_MOUNTS+=("$1")
}

# link NS_A IF_A ADDR_A NS_B IF_B ADDR_B: a veth between two namespaces (addresses with /len)
link() {
  ip link add "$2" netns "$1" type veth peer name "$5" netns "$4"
  [[ -n $3 ]] && ip -n "$1" addr add "$3" dev "$2"
  [[ -n $6 ]] && ip -n "$4" addr add "$6" dev "$5"
  ip -n "$1" link set "$2" up
  ip -n "$4" link set "$5" up
}

bg() {  # bg NS LOGNAME CMD...: start a process in a namespace, track its pid in $!
  local ns=$1 name=$2; shift 2
  ip netns exec "$ns" "$@" >"$RUN/$name.log" 2>&1 &
  E2E_PIDS+=($!)
  LAST_PID=$!
}

# wait_for SECONDS DESCRIPTION CMD...: poll CMD every 0.1 s until it succeeds; bounded. SECONDS may
# be fractional. The deadline is kept in microseconds: bash's $SECONDS ticks on whole wall-clock
# seconds, so "SECONDS + 1" ended anywhere from 0 to 1 s after the call.
wait_for() {
  local secs=$1 what=$2; shift 2
  local whole=${secs%%.*} frac=${secs#*.}
  [[ $secs == *.* ]] || frac=""
  frac=${frac}000000
  local deadline=$((${EPOCHREALTIME/./} + ${whole:-0} * 1000000 + 10#${frac:0:6}))
  while :; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    ((${EPOCHREALTIME/./} < deadline)) || break
    sleep 0.1
  done
  fail "timed out after ${secs}s waiting for: $what"
}

start_bird() {  # start_bird NS CONF -> sets BIRD_CTL; pid tracked
  local ns=$1 conf=$2 name; name=$(basename "$conf" .conf)
  BIRD_CTL="$RUN/$name.ctl"
  bg "$ns" "$name" bird -f -c "$conf" -s "$BIRD_CTL" -P "$RUN/$name.pid"
  wait_for 10 "bird $name control socket" birdc -s "$BIRD_CTL" show status
}

birdc_q() { birdc -s "$1" "${@:2}"; }

# frr_pathspace: an FRR pathspace of this test's own in FRRNS (sockets and pid files under
# /var/run/frr/$FRRNS, removed at exit); `vty CMD...` runs a vtysh command in it.
frr_pathspace() {
  FRRNS="vane${E2E_ID}"
  mkdir -p "/var/run/frr/$FRRNS"
  chown frr:frr "/var/run/frr/$FRRNS"
  E2E_FRR+=("$FRRNS")
  mkdir -p "$RUN/$FRRNS"
  : >"$RUN/$FRRNS/vtysh.conf"  # vtysh -N looks for CONFIG_DIR/PATHSPACE/vtysh.conf
}
vty() { vtysh -N "$FRRNS" --config_dir "$RUN" -c "$*"; }

# start_frr NS: zebra (hostname tor) and bgpd on $RUN/bgpd.conf in namespace NS and FRRNS; waits
# for both vtys. In the foreground (no -d) through bg, so their pids are tracked; they drop to
# user frr.
start_frr() {
  local ns=$1
  printf 'hostname tor\n' >"$RUN/zebra.conf"
  chmod 644 "$RUN/zebra.conf" "$RUN/bgpd.conf"
  bg "$ns" zebra /usr/lib/frr/zebra -N "$FRRNS" -f "$RUN/zebra.conf" -P 0 \
    -i "/var/run/frr/$FRRNS/zebra.pid" --log stdout
  wait_for 10 "zebra's vty" vtysh -N "$FRRNS" --config_dir "$RUN" -d zebra -c 'show version'
  bg "$ns" bgpd /usr/lib/frr/bgpd -N "$FRRNS" -f "$RUN/bgpd.conf" -P 0 \
    -i "/var/run/frr/$FRRNS/bgpd.pid" --log stdout
  wait_for 10 "bgpd's vty" vtysh -N "$FRRNS" --config_dir "$RUN" -d bgpd -c 'show bgp summary json'
}

# start_vaned NS NAME CONF: vaned in a namespace, pid tracked in VANED_PID
start_vaned() {
  local ns=$1 name=$2 conf=$3
  # `ip netns exec` mounts a fresh sysfs over /sys, where /sys/fs/bpf is no bpffs: a private one
  # (gone when vaned exits) holds the maps of a config with forwarding enabled.
  bg "$ns" "$name" sh -c 'mount -t bpf bpf /sys/fs/bpf && exec "$0" "$@"' "$VANED" --config "$conf" --log-level debug
  VANED_PID=$LAST_PID
}
