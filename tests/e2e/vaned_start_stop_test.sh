#!/usr/bin/env bash
# vaned starts on the README's example config (plus the key files the test makes) inside a
# namespace that has the example's interface and address, and exits 0 within 1 s of SIGTERM.
# A config with an error is refused with FILE:LINE:COLUMN.
source "$(dirname "$0")/lib.sh"

ns_add S s1
ns_add R r
link "$S" eth0 192.0.2.11/24 "$R" r-s1 192.0.2.1/24

conf="$RUN/vaned.conf"
sed -e "s#/run/vane/vaned.sock#$RUN/vaned.sock#" \
    -e 's#hold_time_s: 9#hold_time_s: 9\n  md5_key_file: "tor1.key"#' \
    "$VANE_SOURCE_DIR/examples/vaned.conf" >"$conf"
printf 's3cret\n' >"$RUN/tor1.key"
chmod 600 "$RUN/tor1.key"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$RUN/site.key"
chmod 600 "$RUN/site.key"
"$VANED" --check "$conf" || fail "example with key file should be valid"

# A key file others can read is refused, with the place in the file.
chmod 644 "$RUN/tor1.key"
if out=$("$VANED" --check "$conf" 2>&1); then fail "world-readable key accepted"; fi
grep -q "^$conf:[0-9]*:[0-9]*: md5_key_file .* is readable by others" <<<"$out" || fail "unexpected message: $out"
chmod 600 "$RUN/tor1.key"

start_vaned "$S" vaned "$conf"
wait_for 5 "vaned to log start-up" grep -q "vaned .* started" "$RUN/vaned.log"
kill -0 "$VANED_PID" || fail "vaned died at start"

t0=$EPOCHREALTIME
kill -TERM "$VANED_PID"
rc=0
for ((i = 0; i < 100; i++)); do kill -0 "$VANED_PID" 2>/dev/null || break; sleep 0.01; done
kill -0 "$VANED_PID" 2>/dev/null && fail "vaned still running 1 s after SIGTERM"
wait "$VANED_PID" || rc=$?
elapsed=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.3f", b-a}')
((rc == 0)) || fail "vaned exited with $rc"
log "vaned exited 0, ${elapsed}s after SIGTERM"

# Outside the namespace's address plan: the machine check refuses to start.
sed -e 's#192.0.2.11"        \# this#192.0.2.99"        \# this#' -e 's#name: "s1" address: "192.0.2.11"#name: "s1" address: "192.0.2.99"#' "$conf" >"$RUN/bad.conf"
if ip netns exec "$S" "$VANED" --config "$RUN/bad.conf" >"$RUN/bad.log" 2>&1; then fail "started on a machine without its address"; fi
grep -q "node address 192.0.2.99 is not assigned" "$RUN/bad.log" || fail "no machine-check message: $(cat "$RUN/bad.log")"
log "PASS"
