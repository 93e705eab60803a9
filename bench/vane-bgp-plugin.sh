# vane as a DUT of ../shared/bench/bgp-baseline.sh: sourced by it (DUT_PLUGINS), defines
# vane_recv_start, vane_recv_count, vane_send_start, vane_send_load, vane_send_count, vane_stop.
# Counts come from vaned's Prometheus endpoint on the DUT namespace's loopback.
#
#   DUT_PLUGINS=$PWD/bench/vane-bgp-plugin.sh RECEIVERS="vane bird" SENDERS="vane bird" \
#     ../shared/bench/bgp-baseline.sh
VANE_ROOT=${VANE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
VANE_VANED=${VANE_VANED:-$VANE_ROOT/build/src/vaned}

vane_conf() {  # vane_conf MODE(recv|send) PREFIXES -> writes $WORK/dut-vane/vaned.conf
  local d=$WORK/dut-vane
  mkdir -p "$d"
  {
    cat <<EOF
node { name: "dut" router_id: "$DUT_IP" asn: $DUT_AS address: "$DUT_IP" interface: "$IF_DUT" }
neighbor {
  name: "peer" address: "$PEER_IP" remote_asn: $PEER_AS passive: true hold_time_s: 90
  keep_received_routes: $([[ $1 == recv ]] && echo true || echo false)
  max_prefixes { limit: 4000000 action: WARN }  # above the 100,000 routes held by default
}
site { server { name: "dut" address: "$DUT_IP" } }
control { socket: "$d/vaned.sock" }
metrics { listen: "127.0.0.1:9179" }
log { level: "warn" }
EOF
    if (($2 > 0)); then
      echo 'service { name: "bulk"'
      gen_prefixes "$2" '  announce { prefix: "%s/24" }'
      echo '}'
    fi
  } >"$d/vaned.conf.new"
  mv "$d/vaned.conf.new" "$d/vaned.conf"
}

vane_start() {
  local d=$WORK/dut-vane
  ip netns exec "$NS_DUT" "$VANE_VANED" --config "$d/vaned.conf" >"$d/vaned.log" 2>&1 &
  DUT_PID=$!
  wait_until 10 vane_metric vane_up || return 1
}

vane_metric() {  # vane_metric NAME [LABEL-MATCH]: the value of one sample, or fail
  local out
  out=$(ip netns exec "$NS_DUT" curl -s --max-time 2 http://127.0.0.1:9179/metrics) || return 1
  awk -v n="$1" -v m="${2:-}" '$1 ~ "^"n"([{]|$)" && index($1, m) {printf "%d\n", $2; found=1; exit} END{exit !found}' <<<"$out"
}

vane_recv_start() { vane_conf recv 0 && vane_start; }
vane_recv_count() { vane_metric vane_bgp_prefixes_received 'neighbor="peer"'; }
vane_send_start() { vane_conf send 0 && vane_start; }
vane_send_load() { vane_conf send "$1" && kill -HUP "$DUT_PID"; }
vane_send_count() { vane_metric vane_bgp_prefixes_exported; }
vane_stop() { stop_pid "$DUT_PID"; rm -rf "$WORK/dut-vane"; }
