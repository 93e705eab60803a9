# BFD end-to-end helpers; source after lib.sh and bgp_lib.sh.
#
# Topology: bgp_topology 3 (router R, servers s1..s3 on its bridge). Each server's vaned announces
# 203.0.113.10/32; s1 runs BFD with the router, s2 does not (so the router's ECMP route keeps a
# next hop when s1 goes), s3 has BFD configured but the router does not, until the test turns it
# on: its BGP session must wait for it.

command -v nft >/dev/null || skip "nft (nftables) not installed"

# bfd_vaned_conf I ASN BFD_BLOCK: a server's config; BFD_BLOCK is the neighbour's bfd { } or empty.
bfd_vaned_conf() {
  vaned_conf "$1" "$2" "
neighbor { name: \"tor1\" address: \"192.0.2.1\" remote_asn: 65000 hold_time_s: 9 $3 }
service {
  name: \"web\"
  vip { address: \"203.0.113.10\" port: 80 protocol: TCP }
  announce { prefix: \"203.0.113.10/32\" }
  check { name: \"always\" exec { command: \"true\" } interval_ms: 1000 timeout_ms: 900 rise: 1 fall: 1 }
}"
}

# start_bfd_servers BFD_BLOCK: the three servers' vaneds, as the topology above says (s1 and s3
# with BFD_BLOCK, s2 without); each config is checked first. Sets P1 to s1's vaned's pid.
start_bfd_servers() {
  local c1 c2 c3 c
  c1=$(bfd_vaned_conf 1 65011 "$1")
  c2=$(bfd_vaned_conf 2 65012 "")
  c3=$(bfd_vaned_conf 3 65013 "$1")
  for c in "$c1" "$c2" "$c3"; do "$VANED" --check "$c" >/dev/null || fail "$c invalid"; done
  start_vaned "${S[1]}" vaned-s1 "$c1"; P1=$VANED_PID
  start_vaned "${S[2]}" vaned-s2 "$c2"
  start_vaned "${S[3]}" vaned-s3 "$c3"
}

# fib_has I: the router's kernel route to the VIP has server I as a next hop.
fib_has() { ip -n "$R" route show 203.0.113.10 | grep -q "via 192.0.2.1$1 "; }

# drop_from I on|off: every packet server I sends is dropped in its own namespace (output hook),
# so its link stays up and its TCP sessions stay open.
drop_from() {
  if [[ $2 == on ]]; then
    ip netns exec "${S[$1]}" nft -f - <<'NFT'
table inet vane_bfd_test {
  chain out { type filter hook output priority 0; policy drop; }
}
NFT
  else
    ip netns exec "${S[$1]}" nft delete table inet vane_bfd_test
  fi
}

# loss_ms ACTION...: runs ACTION, then prints the milliseconds until the router's FIB has lost
# server $LOSS_OF (default 1), polled every 5 ms (bounded: 30 s, then "timeout" and failure).
loss_ms() {
  local t0 now
  t0=$(date +%s%N)
  "$@"
  while fib_has "${LOSS_OF:-1}"; do
    now=$(date +%s%N)
    if (((now - t0) > 30000000000)); then
      echo timeout
      return 1
    fi
    sleep 0.005
  done
  now=$(date +%s%N)
  echo $(((now - t0) / 1000000))
}

# vanectl_bfd I FIELD: a field of server I's BFD session toward tor1, from vanectl's JSON.
vanectl_bfd() {
  "$VANECTL" --socket "$RUN/s$1.sock" -o json show bfd | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)["bfd"]
s = [x for x in d.get("sessions", []) if x["name"] == "tor1"]
v = s[0].get(sys.argv[1], "") if s else "none"
print(str(v).lower() if isinstance(v, bool) else v)' "$2"
}
vaned_bfd_is() { [[ $(vanectl_bfd "$1" state) == "$2" ]]; }
vaned_bgp_state() {
  "$VANECTL" --socket "$RUN/s$1.sock" -o json show neighbors | /usr/bin/python3 -c '
import json, sys
print(json.load(sys.stdin)["neighbors"]["neighbors"][0]["state"])'
}
vaned_bgp_is() { [[ $(vaned_bgp_state "$1") == "$2" ]]; }
