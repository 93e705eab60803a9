#!/usr/bin/env bash
# The sending vaned with 100,000 configured prefixes (issue 16, "Footprint"): its RSS (peak and
# steady) and its start-up time to the first UPDATE and to the last, seen at a real BGP peer.
#
# Topology: namespace R runs BIRD (AS 65000, 192.0.2.1/24, passive, `import all`, no kernel
# protocol: nothing reaches a FIB); namespace S runs vaned (AS 65011, 192.0.2.11/24) with one
# active neighbour (BIRD) and SERVICES services that together announce PREFIXES prefixes. The
# announced prefixes are data inside BGP only, never installed in any FIB (BIRD has no kernel
# protocol; vaned installs nothing for what it announces): consecutive /24s from 10.0.0.0/24, the
# shape of the BGP baseline in bench/RESULTS.md (10.0.0.0/8 holds 65,536 of them; 100,000 end at
# 11.134.159.0/24). A service needs neither a VIP nor a check (none: healthy while vaned runs), so
# the cheapest valid shape is that: services with many `announce` blocks and nothing else.
#
# Times are from vaned's exec (t0) to BIRD's own log (`debug { states, packets }`; stamps to the
# microsecond, taken once per turn of BIRD's event loop): the session Established, its first
# "Got UPDATE", its "Got END-OF-RIB" (vaned sends End-of-RIB once the whole table is out); then
# `birdc` checks that every prefix was imported. RSS: VmHWM (peak) and VmRSS sampled each second
# over SECS seconds after End-of-RIB plus WARMUP (steady), and where it is at that point
# (/proc/PID/smaps: [heap], other anonymous mappings, files). Also, to split "the config" from
# "the rest": the peak RSS and time of `vaned --check` on the same config (parse and validate only).
#
# Baseline in the same run: the same vaned and neighbour with one prefix (BASE_PREFIXES).
#
# Usage: bench/prefixes-100k.sh [SECS]   (default 10; writes bench/prefixes-100k-results.txt, or $OUT)
#   env: VANED (default build/src/vaned), PREFIXES (100000), SERVICES (1), BASE_PREFIXES (1; 0
#        skips the baseline), WARMUP (3 s), VANED_ENV (environment for vaned in the measured runs,
#        e.g. "GLIBC_TUNABLES=glibc.malloc.arena_max=1"),
#        HEAPTRACK (set: the measured run under heaptrack's preload library, killed in the steady
#        state; its live set and peak by call stack go to $HT_OUT, default
#        bench/prefixes-100k-heaptrack.txt; its RSS and times are then not vaned's alone),
#        MALLOC_PROBE (set: at the end of each run, gdb calls malloc_stats() and malloc_trim(0) in
#        vaned: the live heap against what glibc holds)
# Needs root (network namespaces). Everything it starts is stopped by pid, its namespaces deleted.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-${SECS:-10}}
OUT=${OUT:-bench/prefixes-100k-results.txt}
PREFIXES=${PREFIXES:-100000}
SERVICES=${SERVICES:-1}
BASE_PREFIXES=${BASE_PREFIXES:-1}
WARMUP=${WARMUP:-3}
VANED_ENV=${VANED_ENV:-}
E2E_NAME=pfx100k
source tests/e2e/lib.sh
((PREFIXES >= 1 && PREFIXES <= 1000000)) || fail "PREFIXES must be 1..1000000"
((SERVICES >= 1 && SERVICES <= PREFIXES)) || fail "SERVICES must be 1..PREFIXES"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

ns_add R r
ns_add S s
link "$R" eth0 192.0.2.1/24 "$S" eth0 192.0.2.11/24

# BIRD's log stamps in epoch seconds with microseconds, comparable with $EPOCHREALTIME.
cat >"$RUN/bird.conf" <<EOF
log "$RUN/bird-trace.log" all;
timeformat log "%s.%6f";
router id 192.0.2.1;
protocol device { scan time 10; }
protocol bgp s1 {
  local as 65000;
  neighbor 192.0.2.11 as 65011;
  passive on;
  hold time 90;
  ipv4 { import all; export none; };
  debug { states, packets };
}
EOF
start_bird "$R" "$RUN/bird.conf"

# conf N FILE: vaned's config announcing N prefixes over min(SERVICES, N) services.
conf() {
  local n=$1 f=$2 svcs=$((SERVICES < $1 ? SERVICES : $1))
  {
    echo 'node { name: "s1" router_id: "192.0.2.11" asn: 65011 address: "192.0.2.11" interface: "eth0" }'
    echo 'neighbor { name: "tor" address: "192.0.2.1" remote_asn: 65000 hold_time_s: 90 }'
    echo 'site { server { name: "s1" address: "192.0.2.11" } }'
    echo "control { socket: \"$RUN/vaned.sock\" }"
    echo 'log { level: "info" }'
    # Service k gets prefixes k, k + svcs, k + 2 svcs, ... (each on its own line: one announce block).
    awk -v n="$n" -v s="$svcs" 'BEGIN {
      for (k = 0; k < s; k++) {
        printf "service { name: \"bulk%d\"\n", k
        for (i = k; i < n; i += s) {
          a = 10 * 65536 + i
          printf "  announce { prefix: \"%d.%d.%d.0/24\" }\n", int(a / 65536), int(a / 256) % 256, a % 256
        }
        print "}"
      } }'
  } >"$f"
}

# ts_of PATTERN: BIRD's stamp (epoch us) of the first trace line at or after T0 matching PATTERN.
ts_of() {
  awk -v p="$1" -v t0="$T0" 'index($0, p) { split($1, a, "."); t = a[1] a[2]; if (t + 0 >= t0 + 0) { print t; exit } }' \
    "$RUN/bird-trace.log"
}
imported() { birdc -s "$BIRD_CTL" show protocols all s1 | awk '/Routes:/ { print $2; f = 1 } END { if (!f) print 0 }'; }
field_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# smaps_split PID: "heap_kib anon_other_kib file_kib" (Rss of [heap]; other anonymous mappings, stack
# included; file-backed mappings: the binary and its libraries).
smaps_split() {
  awk '/^[0-9a-f]+-[0-9a-f]+ / { kind = ($6 == "[heap]") ? "heap" : ($6 ~ /^\// ? "file" : "anon"); next }
       $1 == "Rss:" { r[kind] += $2 }
       END { printf "%d %d %d\n", r["heap"], r["anon"], r["file"] }' "/proc/$1/smaps"
}

# smaps_top PID: the mappings holding the most RSS, grouped by name (anonymous ones as [anon]).
smaps_top() {
  awk '/^[0-9a-f]+-[0-9a-f]+ / { name = ($6 == "") ? "[anon]" : $6; next }
       $1 == "Rss:" { r[name] += $2 }
       END { for (n in r) if (r[n] >= 256) printf "%8.1f MiB  %s\n", r[n] / 1024, n }' "/proc/$1/smaps" | sort -rn | head -n 8
}

# measure LABEL N: one start-up of vaned with N prefixes; prints one result line.
measure() {
  local label=$1 n=$2 conf_f="$RUN/vaned-$1.conf" pid t0 est first eor count i r rss_max=0 rss_sum=0
  conf "$n" "$conf_f"
  local check_kib
  local check_s
  /usr/bin/time -o "$RUN/check.time" -f '%M %e' "$VANED" --check "$conf_f" >/dev/null 2>&1 || true
  read -r check_kib check_s < <(tail -n 1 "$RUN/check.time")
  [[ $check_kib =~ ^[0-9]+$ ]] || fail "$label: config refused by vaned --check"
  birdc -s "$BIRD_CTL" restart s1 >/dev/null  # a fresh table on BIRD's side for every run
  wait_for 10 "$label: BIRD's table empty" test "$(imported)" = 0
  rm -f "$RUN/vaned.sock" "$RUN/vaned.sock.running"
  T0=${EPOCHREALTIME/./} t0=$T0
  local ht_env="" ht_pid=""
  if [[ -n ${HEAPTRACK:-} && $label == vaned ]]; then
    # heaptrack's own script without its wrapper, so that the pid started here is vaned's.
    mkfifo "$RUN/heaptrack.fifo"
    # Not a pipeline: the pid tracked is the reader's own (it blocks opening the fifo until vaned does).
    /usr/lib/heaptrack/libexec/heaptrack_interpret <"$RUN/heaptrack.fifo" >"$RUN/heaptrack.vaned" &
    ht_pid=$!
    E2E_PIDS+=("$ht_pid")
    ht_env="LD_PRELOAD=/usr/lib/heaptrack/libheaptrack_preload.so DUMP_HEAPTRACK_OUTPUT=$RUN/heaptrack.fifo"
  fi
  # shellcheck disable=SC2086  # VANED_ENV and ht_env are lists of NAME=VALUE words
  bg "$S" "vaned-$label" env $VANED_ENV $ht_env "$VANED" --config "$conf_f"
  pid=$LAST_PID
  eor_seen() { [[ -n $(ts_of 'Got END-OF-RIB') ]]; }
  wait_for 300 "$label: BIRD's End-of-RIB" eor_seen
  est=$(ts_of 'State changed to up') first=$(ts_of 'Got UPDATE') eor=$(ts_of 'Got END-OF-RIB')
  count=$(imported)
  ((count == n)) || fail "$label: BIRD imported $count of $n prefixes"
  # env exec()s vaned: the pid is vaned's own.
  kill -0 "$pid" || fail "$label: vaned exited"
  sleep "$WARMUP"
  for ((i = 0; i < SECS; i++)); do
    sleep 1
    r=$(field_kib "$pid" VmRSS)
    rss_sum=$((rss_sum + r))
    ((r > rss_max)) && rss_max=$r
  done
  local hwm threads split cpu
  hwm=$(field_kib "$pid" VmHWM) threads=$(field_kib "$pid" Threads) split=$(smaps_split "$pid")
  cpu=$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$pid/stat")
  [[ -n ${KEEP_SMAPS:-} ]] && cp "/proc/$pid/smaps_rollup" "$RUN/$label.smaps_rollup"
  smaps_top "$pid" >"$RUN/$label.smaps_top"
  local probe=""
  if [[ -n ${MALLOC_PROBE:-} ]]; then
    # How much of the heap is live: glibc's own count (malloc_stats() writes to vaned's stderr, its
    # log), then what RSS is left once malloc_trim(0) hands every free page back. Only after the
    # figures above: the probe changes the process.
    gdb -p "$pid" -batch -ex 'call (void) malloc_stats()' -ex 'call (int) malloc_trim(0)' >/dev/null 2>&1 ||
      fail "$label: gdb could not call malloc_stats/malloc_trim"
    sleep 0.2
    probe=$(awk -v r="$(field_kib "$pid" VmRSS)" '/^Total \(incl. mmap\):/ { t = 1 } t && /system bytes/ { s = $4 } t && /in use bytes/ { u = $5 }
      END { printf "malloc: in use %.1f MiB of %.1f MiB; RSS after malloc_trim(0) %.1f MiB", u / 1048576, s / 1048576, r / 1024 }' \
      "$RUN/vaned-$label.log")
  fi
  if [[ -n $ht_pid ]]; then
    # KILL, not TERM: what heaptrack then counts as "leaked" is what was live in the steady state.
    kill -KILL "$pid"
    wait "$ht_pid" || true
    label="$label(heaptrack)"
    {
      echo "# heaptrack of vaned with $n prefixes (bench/prefixes-100k.sh, HEAPTRACK=1 PREFIXES=$n)."
      echo "# MEMORY LEAKS = live in the steady state (vaned was killed there); PEAK = at the heap's highest point."
      heaptrack_print -f "$RUN/heaptrack.vaned" -p -l -n "${HT_PEAKS:-12}" -s 2 2>&1 |
        awk '/^(MOST CALLS|MOST TEMPORARY)/ { skip = 1 } /^(PEAK MEMORY|MEMORY LEAKS|total runtime)/ { skip = 0 } !skip' |
        grep -v '^[[:space:]]*\(at\|in\) /\|TextFormat::Parser::ParserImpl::Consume\|MergeUsingImpl\|TextFormat::Parser::Parse'
    } >"${HT_OUT:-bench/prefixes-100k-heaptrack.txt}" || true
  else
    stop_pid "$pid"
  fi
  read -r heap anon file <<<"$split"
  awk -v l="$label" -v n="$n" -v t0="$t0" -v est="$est" -v first="$first" -v eor="$eor" -v hwm="$hwm" \
    -v rmax="$rss_max" -v ravg=$((rss_sum / SECS)) -v chk="$check_kib" -v chs="$check_s" -v heap="$heap" -v anon="$anon" \
    -v file="$file" -v th="$threads" -v cpu="$cpu" 'BEGIN {
    printf "%-9s %7d prefixes  established %7.1f ms  first UPDATE %7.1f ms  End-of-RIB %7.1f ms (after first %6.1f)   ",
      l, n, (est - t0) / 1000, (first - t0) / 1000, (eor - t0) / 1000, (eor - first) / 1000
    printf "RSS peak %6.1f MiB  steady %6.1f MiB (max %6.1f)  [heap %6.1f, other anon %5.1f, files %4.1f]  --check peak %6.1f MiB in %.2f s  threads %d  cpu %s s\n",
      hwm / 1024, ravg / 1024, rmax / 1024, heap / 1024, anon / 1024, file / 1024, chk / 1024, chs, th, cpu }'
  if [[ -n $probe ]]; then echo "#   $label: $probe"; fi
}

# Not a pipeline into tee: measure must run in this shell, where lib.sh's exit trap knows its pids.
exec > >(tee "$OUT")
echo "# bench/prefixes-100k.sh $SECS  ($(date -u +%FT%TZ), $(uname -r), $(nproc) CPUs, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), load before: $LOAD0)"
echo "# vaned: $VANED${VANED_ENV:+ (env $VANED_ENV)}; peer: $(bird --version 2>&1); $PREFIXES IPv4 /24s over $SERVICES service(s), no VIPs, no checks; steady RSS = mean over ${SECS}s after End-of-RIB + ${WARMUP}s"
((BASE_PREFIXES > 0)) && measure baseline "$BASE_PREFIXES"
measure vaned "$PREFIXES"
echo "# where vaned's RSS is at the end of the measured run (Rss by mapping, >= 0.25 MiB):"
sed 's/^/#   /' "$RUN/vaned.smaps_top"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
