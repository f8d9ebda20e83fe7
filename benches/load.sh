#!/usr/bin/env bash
# HTTPS load test of `lookout serve` on loopback, with wrk and benches/load.lua.
#
#   bash benches/load.sh
#
# Builds release, makes a development CA in a temp folder, serves a copy of rules/
# whose `default` rule set requires a signature (a random 48-character key in
# LOOKOUT_KEY_LOAD), checks a few answers with curl, then runs
#   wrk -t2 -c16 -d30s --latency -s benches/load.lua https://127.0.0.1:PORT/hooks/default
# with rules/samples/large-100k.json (and, unless RUN_1M=0, 15 s with large-1m.json),
# recording the server's resident memory idle and at peak. Only 127.0.0.1 is targeted.
#
# Knobs (environment): DURATION (30s), DURATION_1M (15s), RUN_1M (1), THREADS (2),
# CONNECTIONS (16), WAIT_FOR_QUIET (1: before each wrk run wait, up to 10 min, until the
# 1-minute load average is below LOAD_MAX=0.8; the machine is shared).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-30s}
DURATION_1M=${DURATION_1M:-15s}
RUN_1M=${RUN_1M:-1}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-16}
WAIT_FOR_QUIET=${WAIT_FOR_QUIET:-1}
LOAD_MAX=${LOAD_MAX:-0.8}

log() { printf '[load] %s\n' "$*" >&2; }

if ! command -v wrk >/dev/null; then
    log "wrk is missing; installing the Debian package"
    if [ "$(id -u)" = 0 ]; then apt-get install -y wrk; else sudo apt-get install -y wrk; fi
fi
for tool in curl awk; do
    command -v "$tool" >/dev/null || { log "$tool is required"; exit 2; }
done

log "building release"
cargo build --release
BIN=$ROOT/target/release/lookout

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lookout-load.XXXXXX")
SERVER=""
POLLER=""
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

# A free loopback port: bind port 0 and read what the kernel picked.
free_port() {
    if command -v python3 >/dev/null; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    else
        local p
        for _ in $(seq 1 50); do
            p=$((20000 + RANDOM % 20000))
            if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
        done
        return 1
    fi
}

# kB from /proc/<pid>/status, e.g. `status_kb VmRSS`.
status_kb() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$SERVER/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

wait_for_quiet() {
    [ "$WAIT_FOR_QUIET" = 1 ] || return 0
    local waited=0 load
    while :; do
        load=$(awk '{ print $1 }' /proc/loadavg)
        if awk -v l="$load" -v m="$LOAD_MAX" 'BEGIN { exit !(l < m) }'; then break; fi
        if [ "$waited" -ge 600 ]; then log "load average still $load after 10 min; measuring anyway"; break; fi
        log "1-minute load average $load >= $LOAD_MAX (machine shared); waiting 20 s"
        sleep 20
        waited=$((waited + 20))
    done
}

# --- server -------------------------------------------------------------------
"$BIN" certs --out "$TMP/certs" >/dev/null
cp -r "$ROOT/rules" "$TMP/rules"
printf '\napi_keys = ["env:LOOKOUT_KEY_LOAD"]\n' >> "$TMP/rules/default/ruleset.toml"
LOOKOUT_KEY_LOAD=$(head -c 36 /dev/urandom | base64 | tr '+/' '-_')
export LOOKOUT_KEY_LOAD
[ "${#LOOKOUT_KEY_LOAD}" = 48 ] || { log "key is not 48 characters"; exit 2; }

PORT=$(free_port)
URL=https://127.0.0.1:$PORT
RUST_LOG=warn "$BIN" serve --listen "127.0.0.1:$PORT" --rules "$TMP/rules" --certs "$TMP/certs" --data "$TMP/data" \
    >"$TMP/server.log" 2>&1 &
SERVER=$!
log "server pid $SERVER on $URL"

CURL=(curl -sS --max-time 15 --cacert "$TMP/certs/ca.pem")
ready=0
for _ in $(seq 1 80); do   # 80 x 0.25 s = 20 s at most
    kill -0 "$SERVER" 2>/dev/null || { log "server exited"; exit 1; }
    if "${CURL[@]}" -f -o /dev/null "$URL/healthz" 2>/dev/null; then ready=1; break; fi
    sleep 0.25
done
[ "$ready" = 1 ] || { log "server did not answer /healthz within 20 s"; exit 1; }

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
code=$(post "$ROOT/rules/samples/large-100k.json" "$(printf '0%.0s' $(seq 1 64))")
[ "$code" = 401 ] || { log "a wrong signature got HTTP $code, expected 401"; exit 1; }
log "checked: a wrong signature gets 401"

RESULTS=()
run_wrk() { # label sample duration
    local label=$1 file=$ROOT/$2 duration=$3 sig out idle_rss idle_hwm peak hwm load result
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
    log "[$label] wrk -t$THREADS -c$CONNECTIONS -d$duration --timeout 10s --latency -s benches/load.lua $URL/hooks/default  (body: $2)"
    out=$TMP/wrk-$label.txt
    LOOKOUT_LOAD_BODY=$file LOOKOUT_LOAD_SIGNATURE=$sig \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"$duration" --timeout 10s --latency -s "$ROOT/benches/load.lua" "$URL/hooks/default" | tee "$out"
    sleep 1
    status_kb VmRSS >>"$TMP/rss-$label"
    kill "$POLLER" 2>/dev/null || true
    wait "$POLLER" 2>/dev/null || true
    POLLER=""
    peak=$(sort -n "$TMP/rss-$label" | tail -n 1)
    hwm=$(status_kb VmHWM)
    result=$(grep '^LOOKOUT_RESULT' "$out" | sed 's/^LOOKOUT_RESULT //')
    [ -n "$result" ] || { log "wrk printed no result"; exit 1; }
    RESULTS+=("$label $result idle_rss_kb=$idle_rss peak_rss_kb=$peak hwm_kb=$hwm load=${load// /,}")
}

run_wrk 100k rules/samples/large-100k.json "$DURATION"
if [ "$RUN_1M" = 1 ]; then
    run_wrk 1m rules/samples/large-1m.json "$DURATION_1M"
fi

grep -iE 'error|panic' "$TMP/server.log" >&2 && log "(the server logged the lines above)" || true

# --- summary --------------------------------------------------------------------
field() { # "k=v k=v" key
    tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'
}
echo
echo "lookout HTTPS load test — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, wrk -t$THREADS -c$CONNECTIONS, loopback"
printf '%-6s %10s %10s %10s %10s %8s %14s %14s %14s  %s\n' sample calls/s p50_ms p99_ms max_ms non-2xx idle_RSS_MiB peak_RSS_MiB VmHWM_MiB "load(1,5,15)"
for row in "${RESULTS[@]}"; do
    label=${row%% *}
    rest=${row#* }
    printf '%-6s %10s %10s %10s %10s %8s %14s %14s %14s  %s\n' "$label" \
        "$(field "$rest" rps)" "$(field "$rest" p50_ms)" "$(field "$rest" p99_ms)" "$(field "$rest" max_ms)" \
        "$(field "$rest" non2xx)" "$(mib "$(field "$rest" idle_rss_kb)")" "$(mib "$(field "$rest" peak_rss_kb)")" \
        "$(mib "$(field "$rest" hwm_kb)")" "$(field "$rest" load)"
    echo "  raw: $row"
done
