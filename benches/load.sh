#!/usr/bin/env bash
# HTTPS load test of `lookout serve` on loopback, with wrk and benches/load.lua.
#
#   bash benches/load.sh
#
# Builds release, makes a development CA in a temp folder, serves a copy of rules/
# whose `default` rule set requires a signature (a random 48-character key in
# LOOKOUT_KEY_LOAD), checks a few answers with curl, then runs
#   wrk -t2 -c16 -d30s --latency -s benches/load.lua https://127.0.0.1:PORT/hooks/default
# with rules/samples/multiport-100k.json (row `100k`), then, unless RUN_PARCELS=0, with
# large-100k.json (row `100k-parcels`: 148 cargo parcels, so the shipped rules' cargo
# loops run 25 times as often), and, unless RUN_1M=0, 15 s with large-1m.json,
# recording the server's resident memory idle and at peak. Only 127.0.0.1 is targeted.
#
# Then, unless RUN_ONE_RULE_THREAD=0, the 100 KB run again on a server started with a
# lookout.toml holding `rule_threads = 1` (row `100k-1rt`). Unless RUN_SINGLE=0, each
# server also gets 10 s of one connection at a time (`wrk -t1 -c1`, rows `*-c1`): the
# latency of a lone call, which is how the Estimator usually calls.
#
# Knobs (environment): DURATION (30s), DURATION_1M (15s), DURATION_SINGLE (10s), RUN_1M (1), RUN_PARCELS (1),
# RUN_SINGLE (1), RUN_ONE_RULE_THREAD (1), THREADS (2), CONNECTIONS (16), WAIT_FOR_QUIET (1:
# before each wrk run, wait up to 10 min until the 1-minute load average is below
# LOAD_MAX=0.8; the machine is shared).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-30s}
DURATION_1M=${DURATION_1M:-15s}
RUN_1M=${RUN_1M:-1}
RUN_PARCELS=${RUN_PARCELS:-1}
RUN_ONE_RULE_THREAD=${RUN_ONE_RULE_THREAD:-1}
RUN_SINGLE=${RUN_SINGLE:-1}
DURATION_SINGLE=${DURATION_SINGLE:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-16}
WAIT_FOR_QUIET=${WAIT_FOR_QUIET:-1}
LOAD_MAX=${LOAD_MAX:-0.8}

log() { printf '[load] %s\n' "$*" >&2; }
# free_port, ensure_wrk, ticks_of, wait_for_quiet (and CLK_TCK).
# shellcheck source=benches/lib.sh
. "$ROOT/benches/lib.sh"

ensure_wrk
for tool in curl awk; do
    command -v "$tool" >/dev/null || { log "$tool is required"; exit 2; }
done

log "building release"
cargo build --release
BIN=$ROOT/target/release/lookout

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lookout-load.XXXXXX")
SERVER=""
POLLER=""
STARTUP_RSS=0
cleanup() {
    local code=$?
    [ -n "$POLLER" ] && kill "$POLLER" 2>/dev/null || true
    if [ -n "$SERVER" ] && kill -0 "$SERVER" 2>/dev/null; then
        kill "$SERVER" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$SERVER" 2>/dev/null || true
    fi
    if [ "$code" != 0 ] && [ -f "$TMP/server.log" ]; then
        log "server log (last lines):"
        tail -n 20 "$TMP/server.log" >&2 || true
    fi
    rm -rf "$TMP"
    exit "$code"
}
trap cleanup EXIT

# kB from /proc/<pid>/status, e.g. `status_kb VmRSS`.
status_kb() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$SERVER/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# --- server -------------------------------------------------------------------
"$BIN" certs --out "$TMP/certs" >/dev/null
cp -r "$ROOT/rules" "$TMP/rules"
printf '\napi_keys = ["env:LOOKOUT_KEY_LOAD"]\n' >> "$TMP/rules/default/ruleset.toml"
LOOKOUT_KEY_LOAD=$(head -c 36 /dev/urandom | base64 | tr '+/' '-_')
export LOOKOUT_KEY_LOAD
[ "${#LOOKOUT_KEY_LOAD}" = 48 ] || { log "key is not 48 characters"; exit 2; }

# --- answers are right before they are fast -------------------------------------
post() { # file signature -> writes $TMP/answer, prints the status code
    "${CURL[@]}" -o "$TMP/answer" -w '%{http_code}' -H "Veson-Webhook-Signature: $2" \
        -H 'Content-Type: application/json' --data-binary "@$1" "$URL/hooks/default"
}
is_json_array() {
    if command -v python3 >/dev/null; then
        python3 -c 'import json, sys; v = json.load(open(sys.argv[1])); sys.exit(0 if isinstance(v, list) else 1)' "$1"
    else
        [ "$(head -c 1 "$1")" = "[" ] && [ "$(tail -c 1 "$1")" = "]" ]
    fi
}
check_sample() { # file signature
    local code
    for i in 1 2 3; do
        code=$(post "$1" "$2")
        if [ "$code" != 200 ] || ! is_json_array "$TMP/answer"; then
            log "check $i of $(basename "$1"): HTTP $code, body: $(head -c 300 "$TMP/answer")"
            exit 1
        fi
    done
    log "checked $(basename "$1"): 3 x HTTP 200 with a JSON array ($(wc -c <"$TMP/answer") bytes)"
}

# /metrics needs the admin token (its labels name rule sets); the server reads this one.
LOOKOUT_ADMIN_TOKEN=${LOOKOUT_ADMIN_TOKEN:-$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')}
export LOOKOUT_ADMIN_TOKEN
CURL=(curl -sS --max-time 15 --cacert "$TMP/certs/ca.pem" -H "Authorization: Bearer $LOOKOUT_ADMIN_TOKEN")

# Starts the server (optionally with a lookout.toml) and waits for /healthz.
start_server() { # [config-file]
    PORT=$(free_port)
    URL=https://127.0.0.1:$PORT
    local config=()
    [ -n "${1:-}" ] && config=(--config "$1")
    RUST_LOG=warn "$BIN" serve "${config[@]}" --listen "127.0.0.1:$PORT" --rules "$TMP/rules" --certs "$TMP/certs" \
        --data "$TMP/data" >>"$TMP/server.log" 2>&1 &
    SERVER=$!
    log "server pid $SERVER on $URL${1:+ with $1: $(tr '\n' ' ' <"$1")}"
    local ready=0
    for _ in $(seq 1 80); do   # 80 x 0.25 s = 20 s at most
        kill -0 "$SERVER" 2>/dev/null || { log "server exited"; exit 1; }
        if "${CURL[@]}" -f -o /dev/null "$URL/healthz" 2>/dev/null; then ready=1; break; fi
        sleep 0.25
    done
    [ "$ready" = 1 ] || { log "server did not answer /healthz within 20 s"; exit 1; }
    STARTUP_RSS=$(status_kb VmRSS)
    log "server RSS right after start: $(mib "$STARTUP_RSS") MiB"
    local code
    code=$(post "$ROOT/rules/samples/multiport-100k.json" "$(printf '0%.0s' $(seq 1 64))")
    [ "$code" = 401 ] || { log "a wrong signature got HTTP $code, expected 401"; exit 1; }
    log "checked: a wrong signature gets 401"
}

stop_server() {
    kill "$SERVER" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    SERVER=""
}


RESULTS=()
run_wrk() { # label sample duration [threads connections]
    local label=$1 file=$ROOT/$2 duration=$3 threads=${4:-$THREADS} connections=${5:-$CONNECTIONS}
    local sig out idle_rss idle_hwm peak hwm load result cpu0 cpu1 cpu
    sig=$("$BIN" sign --key-env LOOKOUT_KEY_LOAD "$file")
    check_sample "$file" "$sig"
    wait_for_quiet
    idle_rss=$(status_kb VmRSS)
    idle_hwm=$(status_kb VmHWM)
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    echo "$idle_rss" >"$TMP/rss-$label"
    ( while kill -0 "$SERVER" 2>/dev/null; do status_kb VmRSS >>"$TMP/rss-$label" 2>/dev/null || true; sleep 1; done ) &
    POLLER=$!
    log "[$label] load average before the run: $load; server RSS idle $(mib "$idle_rss") MiB (HWM $(mib "$idle_hwm") MiB)"
    log "[$label] wrk -t$threads -c$connections -d$duration --timeout 10s --latency -s benches/load.lua $URL/hooks/default  (body: $2)"
    out=$TMP/wrk-$label.txt
    cpu0=$(ticks_of "$SERVER")
    LOOKOUT_LOAD_BODY=$file LOOKOUT_LOAD_SIGNATURE=$sig \
        wrk -t"$threads" -c"$connections" -d"$duration" --timeout 10s --latency -s "$ROOT/benches/load.lua" "$URL/hooks/default" | tee "$out"
    cpu1=$(ticks_of "$SERVER")
    sleep 1
    status_kb VmRSS >>"$TMP/rss-$label"
    kill "$POLLER" 2>/dev/null || true
    wait "$POLLER" 2>/dev/null || true
    POLLER=""
    peak=$(sort -n "$TMP/rss-$label" | tail -n 1)
    hwm=$(status_kb VmHWM)
    result=$(grep '^LOOKOUT_RESULT' "$out" | sed 's/^LOOKOUT_RESULT //')
    [ -n "$result" ] || { log "wrk printed no result"; exit 1; }
    # Server CPU per answered call and as a share of one core, over the wrk run.
    cpu=$(awk -v t=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v r="$result" 'BEGIN {
        n = split(r, kv, " "); for (i = 1; i <= n; i++) { split(kv[i], p, "="); v[p[1]] = p[2] }
        printf "server_cpu_ms_per_call=%.3f server_cpu_pct=%.0f", t / hz * 1000 / v["requests"], t / hz / v["seconds"] * 100 }')
    RESULTS+=("$label $result $cpu wrk=-t$threads,-c$connections,-d$duration startup_rss_kb=$STARTUP_RSS idle_rss_kb=$idle_rss peak_rss_kb=$peak hwm_kb=$hwm load=${load// /,}")
}

start_server
run_wrk 100k rules/samples/multiport-100k.json "$DURATION"
if [ "$RUN_SINGLE" = 1 ]; then
    run_wrk 100k-c1 rules/samples/multiport-100k.json "$DURATION_SINGLE" 1 1
fi
if [ "$RUN_PARCELS" = 1 ]; then
    run_wrk 100k-parcels rules/samples/large-100k.json "$DURATION"
fi
if [ "$RUN_1M" = 1 ]; then
    run_wrk 1m rules/samples/large-1m.json "$DURATION_1M"
fi
stop_server

# The same server with one rule thread (lookout.toml `rule_threads = 1`), to show what
# the second rule thread buys (and, on a build with Rhai's string interner on, to rule
# out its engine-wide lock; see BENCHMARKS.md, "two rule threads").
if [ "$RUN_ONE_RULE_THREAD" = 1 ]; then
    printf 'rule_threads = 1\n' >"$TMP/one-rule-thread.toml"
    start_server "$TMP/one-rule-thread.toml"
    run_wrk 100k-1rt rules/samples/multiport-100k.json "$DURATION"
    if [ "$RUN_SINGLE" = 1 ]; then
        run_wrk 100k-1rt-c1 rules/samples/multiport-100k.json "$DURATION_SINGLE" 1 1
    fi
    stop_server
fi

grep -iE 'error|panic' "$TMP/server.log" >&2 && log "(the server logged the lines above)" || true

# --- summary --------------------------------------------------------------------
echo
echo "lookout HTTPS load test — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, loopback; wrk -t$THREADS -c$CONNECTIONS unless the row ends in -c1 (wrk -t1 -c1)"
printf '%-12s %9s %9s %9s %9s %8s %9s %12s %12s %12s %12s  %s\n' sample calls/s p50_ms p99_ms max_ms non-2xx cpu_ms/call start_RSS_MiB idle_RSS_MiB peak_RSS_MiB VmHWM_MiB "load(1,5,15)"
for row in "${RESULTS[@]}"; do
    label=${row%% *}
    rest=${row#* }
    printf '%-12s %9s %9s %9s %9s %8s %9s %12s %12s %12s %12s  %s\n' "$label" \
        "$(field "$rest" rps)" "$(field "$rest" p50_ms)" "$(field "$rest" p99_ms)" "$(field "$rest" max_ms)" \
        "$(field "$rest" non2xx)" "$(field "$rest" server_cpu_ms_per_call)" "$(mib "$(field "$rest" startup_rss_kb)")" "$(mib "$(field "$rest" idle_rss_kb)")" "$(mib "$(field "$rest" peak_rss_kb)")" \
        "$(mib "$(field "$rest" hwm_kb)")" "$(field "$rest" load)"
    echo "  raw: $row"
done
