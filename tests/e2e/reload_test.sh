#!/usr/bin/env bash
# Reload as a transaction, with a real BIRD 2 as the router and vaned's data path loaded (generic
# XDP on s1's eth0):
#  - a reload that fails part-way (its new metrics address is bound by another process) answers
#    ERROR_CODE_RELOAD_FAILED and leaves the session (BIRD's "since" time), the route's attributes
#    in BIRD, the XDP program (its id) and the tables (their generation) as they were, the old
#    metrics endpoint serving; the next reload, once the port is free, applies;
#  - `vanectl reload --dry-run -o json` predicts the real reload: the sessions it resets are the
#    ones BIRD sees re-established, the prefixes it re-attributes are the ones whose MED BIRD
#    sees change, tables move (generation) exactly when it says buckets move;
#  - `--dry-run FILE` plans against another file and changes nothing;
#  - `--confirm-within` rolls back (BIRD sees the old MED again) unless `--confirm` comes in time.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bgp_lib.sh"
[[ -x $VANECTL ]] || fail "vanectl not found at $VANECTL"
command -v jq >/dev/null || skip "jq needed to read vanectl's JSON"

bgp_topology 1
bird_ecmp_tor 1
start_bird "$R" "$RUN/bird.conf"
BC=$BIRD_CTL
touch "$RUN/up"

# conf MED HOLD METRICS_PORT S3_WEIGHT: s1's config.
conf() {
  vaned_conf 1 65011 \
    "neighbor { name: \"tor1\" address: \"192.0.2.1\" remote_asn: 65000 hold_time_s: $2 }" \
    "service {
  name: \"web\"
  vip { address: \"203.0.113.10\" port: 80 protocol: TCP }
  announce { prefix: \"203.0.113.10/32\" med: $1 }
  check { name: \"flag\" exec { command: \"test -f $RUN/up\" } interval_ms: 100 timeout_ms: 90 rise: 1 fall: 1 }
}" \
    "forwarding { enabled: true generic_xdp: true }" \
    "metrics { listen: \"127.0.0.1:$3\" }" >/dev/null
  # Site health off: s2 and s3 do not run, and their being found unreachable would move tables.
  sed -i -e "s/server { name: \"s3\" address: \"192.0.2.13\" }/server { name: \"s3\" address: \"192.0.2.13\" weight: $4 }/" \
    -e "s/^site {/site {\n  health { port: 0 }/" "$RUN/s1.conf"
}
CONF=$RUN/s1.conf
conf 10 9 9181 100
"$VANED" --check "$CONF" >/dev/null || fail "config invalid"
start_vaned "${S[1]}" vaned-s1 "$CONF"
P1=$VANED_PID
ctl() { "$VANECTL" --socket "$RUN/s1.sock" "$@"; }

established() { birdc -s "$BC" show protocols s1 | grep -q Established; }
since() { birdc -s "$BC" show protocols s1 | awk '/^s1 / {print $4, $5}'; }
# BIRD converts a session's start from its monotonic clock at each call: an untouched session's
# time may differ by 1 ms between calls.
ms() { awk -F'[ :.]' '{print (($2 * 60 + $3) * 60 + $4) * 1000 + $5}' <<<"$1"; }
same_since() { local d=$(($(ms "$1") - $(ms "$2"))); [[ $1 == "${2%% *} "* ]] && ((d >= -1 && d <= 1)); }
med() { birdc -s "$BC" show route all 203.0.113.10/32 | sed -n 's/.*BGP.med: \([0-9]*\).*/\1/p'; }
has_med() { [[ $(med) == "$1" ]]; }
prog_id() { ip -n "${S[1]}" link show eth0 | sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p'; }
generation() { ctl -o json show site | jq -r '.site.table_generation'; }
scrape() { ip netns exec "${S[1]}" curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$1/metrics"; }

wait_for 20 "s1 Established" established
wait_for 10 "the route with MED 10" has_med 10
wait_for 5 "metrics on 9181" scrape 9181
sleep 1.1  # BIRD's since time has one-second resolution
SINCE0=$(since)
PROG0=$(prog_id)
GEN0=$(generation)
[[ -n $PROG0 && -n $GEN0 ]] || fail "no XDP program ($PROG0) or generation ($GEN0)"
log "start: since '$SINCE0', program $PROG0, generation $GEN0"

# 1. A reload that fails part-way: hold time (a session reset), MED, s3's weight (buckets) and the
#    metrics address all change; the new metrics port is held by another process.
bg "${S[1]}" squatter /usr/bin/python3 -c 'import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 9182)); s.listen(1); time.sleep(600)'
SQUAT=$LAST_PID
squatting() { ip netns exec "${S[1]}" ss -ltn | grep -q '127.0.0.1:9182'; }
wait_for 5 "the squatter on 9182" squatting
conf 20 12 9182 300
ctl -o json reload >"$RUN/failed.json" 2>"$RUN/failed.err" && fail "a reload onto a bound port succeeded: $(cat "$RUN/failed.json")"
jq -e '.code == "ERROR_CODE_RELOAD_FAILED"' "$RUN/failed.json" >/dev/null || fail "not RELOAD_FAILED: $(cat "$RUN/failed.json")"
jq -e '.error | test("metrics endpoint")' "$RUN/failed.json" >/dev/null || fail "the failed step is not named: $(cat "$RUN/failed.json")"
sleep 1.5
same_since "$(since)" "$SINCE0" || fail "the session was reset by a failed reload: $(since) != $SINCE0"
has_med 10 || fail "BIRD's route changed after a failed reload: MED $(med)"
[[ $(prog_id) == "$PROG0" ]] || fail "the XDP program changed after a failed reload: $(prog_id) != $PROG0"
[[ $(generation) == "$GEN0" ]] || fail "the tables changed after a failed reload: generation $(generation) != $GEN0"
scrape 9181 || fail "the old metrics endpoint stopped serving after a failed reload"
log "failed reload: session, route, program, tables and metrics as they were"

# The previous config stays current: the same file still plans the same changes.
ctl -o json reload --dry-run >"$RUN/dry.json" || fail "dry run failed: $(cat "$RUN/dry.json")"
jq -e '.action.plan.dry_run and (.action.changes | length > 0)' "$RUN/dry.json" >/dev/null ||
  fail "after a failed reload the dry run sees no change: $(cat "$RUN/dry.json")"
same_since "$(since)" "$SINCE0" && [[ $(generation) == "$GEN0" ]] || fail "a dry run changed something"

# --dry-run FILE plans against another file without applying it.
conf 30 9 9181 100
cp "$CONF" "$RUN/other.conf"
conf 20 12 9182 300
ctl -o json reload --dry-run "$RUN/other.conf" >"$RUN/other.json" || fail "dry run FILE failed: $(cat "$RUN/other.json")"
jq -e '[.action.plan.prefixes[] | select(.prefix == "203.0.113.10/32" and .action == "attributes")] | length == 1' \
  "$RUN/other.json" >/dev/null || fail "dry run FILE does not see the MED change: $(cat "$RUN/other.json")"
jq -e '.action.plan.neighbors | length == 0' "$RUN/other.json" >/dev/null || fail "dry run FILE: $(cat "$RUN/other.json")"
has_med 10 || fail "a dry run of another file changed the route"

# 2. Free the port: the dry run's plan, then the real reload; compare what happened.
stop_pid "$SQUAT"
wait_for 5 "port 9182 free" bash -c "! ip netns exec ${S[1]} ss -ltn | grep -q 127.0.0.1:9182"
ctl -o json reload --dry-run >"$RUN/plan.json" || fail "dry run failed"
ctl -o json reload >"$RUN/applied.json" || fail "the retried reload failed: $(cat "$RUN/applied.json")"
log "plan: $(jq -c .action.plan "$RUN/plan.json")"
# The real reload reports the plan it applied: the same as the dry run's.
[[ "$(jq -c '.action.plan | del(.dry_run)' "$RUN/plan.json")" == "$(jq -c '.action.plan | del(.dry_run)' "$RUN/applied.json")" ]] ||
  fail "the applied plan differs from the dry run's: $(jq -c .action.plan "$RUN/applied.json")"
jq -e '[.action.plan.neighbors[] | select(.name == "tor1" and .action == "reset")] | length == 1' "$RUN/plan.json" >/dev/null ||
  fail "the plan does not reset tor1 (hold time): $(jq -c .action.plan "$RUN/plan.json")"
wait_for 20 "s1 Established again" established
wait_for 10 "the route with MED 20" has_med 20
same_since "$(since)" "$SINCE0" && fail "the plan said reset but BIRD's session was not reset"
MOVED=$(jq '[.action.plan.services[] | select(.service == "web") | .buckets_moved] | add // 0' "$RUN/plan.json")
GEN1=$(generation)
if ((MOVED > 0)); then
  ((GEN1 > GEN0)) || fail "the plan moves $MOVED buckets but the tables stayed at generation $GEN1"
  jq -e '[.action.plan.services[] | select(.service == "web") | .servers[] | select(.server == "s3" and (.buckets_delta | tonumber) > 0)] | length == 1' \
    "$RUN/plan.json" >/dev/null || fail "s3's weight tripled but the plan gives it no buckets"
else
  fail "s3's weight tripled but the plan moves no bucket: $(jq -c .action.plan "$RUN/plan.json")"
fi
wait_for 5 "metrics on 9182" scrape 9182
scrape 9181 && fail "the old metrics endpoint still serves"
[[ $(prog_id) == "$PROG0" ]] || fail "a table change reloaded the program"
log "retried reload applied: tor1 reset, MED 20, $MOVED buckets moved (generation $GEN0 -> $GEN1), metrics moved"

# A reload with nothing changed plans nothing and touches nothing.
SINCE1=$(since)
ctl -o json reload >"$RUN/same.json" || fail "reload of an unchanged file failed"
jq -e '.action.message == "configuration unchanged"' "$RUN/same.json" >/dev/null || fail "$(cat "$RUN/same.json")"

# 3. --confirm-within: not confirmed, it rolls back by itself.
conf 40 12 9182 300
ctl -o json reload --confirm-within 3 >"$RUN/confirm.json" || fail "confirm-within reload failed: $(cat "$RUN/confirm.json")"
jq -e '.action.plan.confirm_within_s == 3' "$RUN/confirm.json" >/dev/null || fail "$(cat "$RUN/confirm.json")"
wait_for 5 "the route with MED 40" has_med 40
ctl reload >/dev/null 2>&1 && fail "a second reload was accepted while one awaits confirmation"
wait_for 10 "the route back at MED 20 (rolled back)" has_med 20
grep -q "not confirmed in time; rolling back" "$RUN/vaned-s1.log" || fail "no rollback in vaned's log"
same_since "$(since)" "$SINCE1" || fail "the rollback of a MED change reset the session: $(since) != $SINCE1"

# Confirmed in time: it stays.
ctl reload --confirm-within 3 >/dev/null || fail "confirm-within reload failed"
wait_for 5 "the route with MED 40" has_med 40
ctl reload --confirm >/dev/null || fail "confirm failed"
sleep 4
has_med 40 || fail "a confirmed reload rolled back: MED $(med)"
ctl reload --confirm >/dev/null 2>&1 && fail "a confirm with nothing pending succeeded"

vaned_stop "$P1"
log "PASS"
