#!/usr/bin/env bash
# The request/response log under load: does recording keep up with zero loss, and what
# does it cost? HTTPS on loopback with wrk and benches/load.lua, as benches/load.sh.
#
#   bash benches/log_load.sh
#
# Builds two lookouts, each from a commit in its own `git worktree` under /tmp with its
# own CARGO_TARGET_DIR (release), then removes the worktrees:
#   - "on":  ON_REV (default HEAD), which records every call;
#   - "off": OFF_REV (default d96b936, the last commit before the log existed). There is
#     no switch to turn recording off, so this is the "recording off" baseline. Changes
#     made since that are not part of the log are applied to it so that the two builds
#     differ by the log alone: OFF_PATCHES lists commits whose src/ diff is applied in the
#     off worktree (default: cbc23be, TCP_NODELAY on accepted connections, when ON_REV
#     contains it).
# Rules and samples come from RULES_REV (default ON_REV; `git archive`), so both serve the
# same rules/default. Rules that read port events (issue 5) cost a store look-up per call in
# a build that has them and an instant "unknown function" error in one that does not, so to
# measure the log alone set RULES_REV to a commit before them (e.g. 26a547e).
# (requiring a signature: a random 48-character key in LOOKOUT_KEY_LOAD).
#
# Then ROUNDS rounds of, in this order (interleaved, to see the drift of a shared VM):
#   off      the "off" build, data in a fresh temp folder;
#   sqlite   the "on" build with its default store, a fresh <data>/lookout.db;
#   pg       the "on" build with `--store postgres://...` on a throw-away PostgreSQL
#            server (Debian's /usr/lib/postgresql/<newest>/bin; initdb into a temp folder
#            as the `postgres` user when run as root; 127.0.0.1 only; default durability
#            settings unless PG_FAST=1; a fresh database per run; stopped and deleted at
#            the end).
# Each run: start the server, check 3 signed calls get 200 with a JSON array and a wrong
# signature gets 401, wait until the 1-minute load average is below LOAD_MAX, then
#   wrk -t2 -c16 -d60s --timeout 10s --latency -s benches/load.lua https://127.0.0.1:PORT/hooks/default
# with multiport-100k.json, polling /metrics every second (log queue depth, written).
# With EDITS=1 (the default) the calls are not one body sent again and again but
# estimates as analysts edit them: benches/edits.py makes EDIT_ESTIMATES (8) estimates
# from the sample, each through EDIT_STEPS (64) successive edits (a bunker price; port
# days, which shift every later port call's dates; the daily cost; the voyage results
# change with each), each signed with `lookout sign`, and benches/edits.lua sends them,
# each wrk thread its own estimates in turn, one edit further each time. The log stores
# a request body as a difference from an earlier body of the same estimate
# (src/store/delta.rs), so a body sent again unchanged would flatter it. EDITS=0 sends
# the sample unchanged with benches/load.lua.
# After wrk, for the recording runs: wait (at most DRAIN_TIMEOUT s) until /metrics shows
# lookout_log_queue_depth 0 and written + dropped = accepted, then check zero loss:
#   lookout_log_dropped_total{reason="queue_full"} 0 and {reason="store_error"} 0,
#   lookout_log_written_total = sum of lookout_calls_total (the check calls included),
#   and the rows in the database (python3's sqlite3 module; psql) = that number.
# Also per run: server CPU per call, CPU by thread name (the recorder's thread alone),
# PostgreSQL's CPU, the log's queue depth (max, and at the end of wrk), the database size.
#
# Knobs (environment): DURATION (60s), ROUNDS (2), RUN_OFF (1), RUN_SQLITE (1),
# RUN_POSTGRES (1), EDITS (1), EDIT_ESTIMATES (8), EDIT_STEPS (64), ON_REV (HEAD; `working` builds the checkout as it is, uncommitted
# changes included), OFF_REV (d96b936), OFF_PATCHES (see above), OFF_BIN (a lookout already
# built from OFF_REV: used instead of building it; e.g. for a before/after of two commits
# that both record, OFF_REV=<before> OFF_PATCHES= OFF_BIN=<its release binary>), BUILD_DIR (target/bench-rev: the target dirs,
# kept between runs so rebuilds are incremental), SAMPLE (rules/samples/multiport-100k.json),
# THREADS (2), CONNECTIONS (16), DRAIN_TIMEOUT (120), PG_FAST (0: fsync etc. as shipped;
# 1: fsync=off, synchronous_commit=off as the tests run it), WAIT_FOR_QUIET (1: before each
# wrk run, wait up to 10 min until the 1-minute load average is below LOAD_MAX=0.8; the
# machine is shared). Only 127.0.0.1 is used. Everything it starts is stopped and its
# temp folders, worktrees and databases removed on exit (Ctrl-C included). Exit 1 when a
# recording run lost a call.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-60s}
ROUNDS=${ROUNDS:-2}
RUN_OFF=${RUN_OFF:-1}
RUN_SQLITE=${RUN_SQLITE:-1}
RUN_POSTGRES=${RUN_POSTGRES:-1}
ON_REV=${ON_REV:-HEAD}
OFF_REV=${OFF_REV:-d96b936}
BUILD_DIR=${BUILD_DIR:-$ROOT/target/bench-rev}
SAMPLE=${SAMPLE:-rules/samples/multiport-100k.json}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-16}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-120}
PG_FAST=${PG_FAST:-0}
WAIT_FOR_QUIET=${WAIT_FOR_QUIET:-1}
LOAD_MAX=${LOAD_MAX:-0.8}
EDITS=${EDITS:-1}
EDIT_ESTIMATES=${EDIT_ESTIMATES:-8}
EDIT_STEPS=${EDIT_STEPS:-64}

log() { printf '[log_load] %s\n' "$*" >&2; }
# free_port, ensure_wrk, ticks_of, thread_ticks, wait_for_quiet, the throw-away PostgreSQL
# (pg_start, pg_stop, psql_do, pg_ticks).
# shellcheck source=benches/lib.sh
. "$ROOT/benches/lib.sh"

ensure_wrk
for tool in curl awk git python3; do
    command -v "$tool" >/dev/null || { log "$tool is required"; exit 2; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lookout-log-load.XXXXXX")
SERVER=""
POLLER=""
WORKTREES=()
PG_ROOT=""
PG_PID=""
cleanup() {
    local code=$?
    [ -n "$POLLER" ] && kill "$POLLER" 2>/dev/null || true
    if [ -n "$SERVER" ] && kill -0 "$SERVER" 2>/dev/null; then
        kill "$SERVER" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$SERVER" 2>/dev/null || true
    fi
    if declare -F pg_stop >/dev/null; then pg_stop; fi
    for w in "${WORKTREES[@]}"; do
        git -C "$ROOT" worktree remove --force "$w" 2>/dev/null || rm -rf "$w"
    done
    git -C "$ROOT" worktree prune 2>/dev/null || true
    if [ "$code" != 0 ] && [ -f "$TMP/server.log" ]; then
        log "server log (last lines):"
        tail -n 20 "$TMP/server.log" >&2 || true
    fi
    rm -rf "$TMP"
    exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- builds -------------------------------------------------------------------------
resolve() { git -C "$ROOT" rev-parse --verify --quiet "$1^{commit}" || { log "no commit $1"; exit 2; }; }
ON_COMMIT=$( [ "$ON_REV" = working ] && git -C "$ROOT" rev-parse HEAD || resolve "$ON_REV")
OFF_COMMIT=$(resolve "$OFF_REV")

build_rev() { # name commit [patch commits...] -> $TMP/lookout-<name>
    local name=$1 commit=$2 tree p
    shift 2
    tree=$(mktemp -d "${TMPDIR:-/tmp}/lookout-bench-$name.XXXXXX")
    rmdir "$tree"
    git -C "$ROOT" worktree add --detach --quiet "$tree" "$commit"
    WORKTREES+=("$tree")
    for p in "$@"; do
        git -C "$ROOT" diff "$p~1" "$p" -- src | git -C "$tree" apply \
            || { log "the src/ changes of $p do not apply to $name ($commit)"; exit 2; }
        log "applied to $name: $(git -C "$ROOT" log -1 --format='%h %s' "$p" | cut -c1-90)"
    done
    log "building $name = $(git -C "$ROOT" log -1 --format='%h %s' "$commit" | cut -c1-90) (worktree $tree, target $BUILD_DIR/$name)"
    (cd "$tree" && CARGO_TARGET_DIR=$BUILD_DIR/$name cargo build --release --locked --quiet --bin lookout)
    cp "$BUILD_DIR/$name/release/lookout" "$TMP/lookout-$name"
    git -C "$ROOT" worktree remove --force "$tree"
}
if [ "$ON_REV" = working ]; then
    log "building on = the checkout as it is ($(git status --porcelain src Cargo.toml Cargo.lock | wc -l) changed files in src/ and the manifest)"
    cargo build --release --quiet --bin lookout
    cp target/release/lookout "$TMP/lookout-on"
    ON_LABEL="$(git rev-parse --short HEAD)+working"
else
    build_rev on "$ON_COMMIT"
    ON_LABEL=$(git rev-parse --short "$ON_COMMIT")
fi
if [ -z "${OFF_PATCHES+set}" ]; then
    OFF_PATCHES=""
    if git merge-base --is-ancestor cbc23be "$ON_COMMIT" 2>/dev/null; then OFF_PATCHES=cbc23be; fi
fi
OFF_LABEL=$(git rev-parse --short "$OFF_COMMIT")
for p in $OFF_PATCHES; do OFF_LABEL="$OFF_LABEL+$(git rev-parse --short "$p")"; done
# shellcheck disable=SC2086
if [ "$RUN_OFF" = 1 ] && [ -n "${OFF_BIN:-}" ]; then
    cp "$OFF_BIN" "$TMP/lookout-off"   # built already from OFF_REV (and OFF_PATCHES)
    log "off = $OFF_BIN (given as built from $OFF_LABEL)"
elif [ "$RUN_OFF" = 1 ]; then build_rev off "$OFF_COMMIT" $OFF_PATCHES; fi

git -C "$ROOT" archive "${RULES_REV:-$ON_COMMIT}" rules | tar -x -C "$TMP"
printf '\napi_keys = ["env:LOOKOUT_KEY_LOAD"]\n' >> "$TMP/rules/default/ruleset.toml"
LOOKOUT_KEY_LOAD=$(head -c 36 /dev/urandom | base64 | tr '+/' '-_')
export LOOKOUT_KEY_LOAD
[ "${#LOOKOUT_KEY_LOAD}" = 48 ] || { log "key is not 48 characters"; exit 2; }
BODY=$TMP/$SAMPLE
[ -f "$BODY" ] || { log "$SAMPLE is not in $ON_REV"; exit 2; }
"$TMP/lookout-on" certs --out "$TMP/certs" >/dev/null
SIG=$("$TMP/lookout-on" sign --key-env LOOKOUT_KEY_LOAD "$BODY")
# EDITS=1: the calls are estimates as analysts edit them (benches/edits.py, edits.lua).
LUA=$ROOT/benches/load.lua
if [ "$EDITS" = 1 ]; then
    python3 "$ROOT/benches/edits.py" "$BODY" "$TMP/edits" "$EDIT_ESTIMATES" "$EDIT_STEPS"
    edits_manifest "$TMP/edits" "$TMP/lookout-on" LOOKOUT_KEY_LOAD >"$TMP/edits.manifest"
    LUA=$ROOT/benches/edits.lua
    log "EDITS=1: $EDIT_ESTIMATES estimates x $EDIT_STEPS edits from $SAMPLE ($(du -sh "$TMP/edits" | cut -f1))"
fi
# /metrics needs the admin token (its labels name rule sets); the server reads this one.
LOOKOUT_ADMIN_TOKEN=${LOOKOUT_ADMIN_TOKEN:-$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')}
export LOOKOUT_ADMIN_TOKEN
CURL=(curl -sS --max-time 15 --cacert "$TMP/certs/ca.pem" -H "Authorization: Bearer $LOOKOUT_ADMIN_TOKEN")

# --- one run ------------------------------------------------------------------------
metric() { # name (with labels, as printed) -> value, or 0
    awk -v n="$1" '$1 == n { print $2; found = 1 } END { if (!found) print 0 }' "$TMP/metrics"
}
fetch_metrics() { "${CURL[@]}" -o "$TMP/metrics" "$URL/metrics"; }
calls_total() { awk '$1 ~ /^lookout_calls_total\{/ { s += $2 } END { print s + 0 }' "$TMP/metrics"; }

start_server() { # bin data-dir [extra args...]
    local bin=$1 data=$2
    shift 2
    PORT=$(free_port)
    URL=https://127.0.0.1:$PORT
    RUST_LOG=warn "$bin" serve --listen "127.0.0.1:$PORT" --rules "$TMP/rules" --certs "$TMP/certs" \
        --data "$data" "$@" >>"$TMP/server.log" 2>&1 &
    SERVER=$!
    local ready=0
    for _ in $(seq 1 80); do
        kill -0 "$SERVER" 2>/dev/null || { log "server exited"; exit 1; }
        if "${CURL[@]}" -f -o /dev/null "$URL/healthz" 2>/dev/null; then ready=1; break; fi
        sleep 0.25
    done
    [ "$ready" = 1 ] || { log "server did not answer /healthz within 20 s"; exit 1; }
    local code i
    code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' -H "Veson-Webhook-Signature: $(printf '0%.0s' $(seq 1 64))" \
        -H 'Content-Type: application/json' --data-binary "@$BODY" "$URL/hooks/default")
    [ "$code" = 401 ] || { log "a wrong signature got HTTP $code, expected 401"; exit 1; }
    for i in 1 2 3; do
        code=$("${CURL[@]}" -o "$TMP/answer" -w '%{http_code}' -H "Veson-Webhook-Signature: $SIG" \
            -H 'Content-Type: application/json' --data-binary "@$BODY" "$URL/hooks/default")
        if [ "$code" != 200 ] || ! python3 -c 'import json,sys; sys.exit(0 if isinstance(json.load(open(sys.argv[1])), list) else 1)' "$TMP/answer"; then
            log "check $i: HTTP $code, body: $(head -c 300 "$TMP/answer")"; exit 1
        fi
    done
}
stop_server() {
    kill "$SERVER" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    SERVER=""
}

RESULTS=()
LOST=0
run() { # label kind(off|sqlite|pg) round
    local label=$1 kind=$2 bin=$TMP/lookout-on data=$TMP/data-$1 store=() db=""
    local commit=$ON_LABEL
    if [ "$kind" = off ]; then bin=$TMP/lookout-off; commit=$OFF_LABEL; fi
    if [ "$kind" = pg ]; then
        db=lookout_${label//-/_}
        psql_do -c "CREATE DATABASE $db" postgres
        store=(--store "postgres://postgres@127.0.0.1:$PG_PORT/$db")
    fi
    start_server "$bin" "$data" "${store[@]}"
    wait_for_quiet
    local load t0 t1 cpu0 cpu1 pg0=0 pg1=0 out=$TMP/wrk-$label.txt
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    log "[$label] $kind, commit $commit, load average $load: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --timeout 10s --latency -s ${LUA##*/} $URL/hooks/default (body $SAMPLE, EDITS=$EDITS)"
    : >"$TMP/depth-$label"
    if [ "$kind" != off ]; then
        ( while kill -0 "$SERVER" 2>/dev/null; do
              "${CURL[@]}" "$URL/metrics" 2>/dev/null \
                  | awk -v t="$(date +%s.%N)" '$1 == "lookout_log_queue_depth" { d = $2 } $1 == "lookout_log_written_total" { w = $2 } END { printf "%.1f %s %s\n", t, d, w }' \
                  >>"$TMP/depth-$label" || true
              sleep 1
          done ) &
        POLLER=$!
    fi
    thread_ticks >"$TMP/threads0-$label"
    if [ "$kind" = pg ]; then pg0=$(pg_ticks); fi
    cpu0=$(ticks_of "$SERVER")
    t0=$(date +%s.%N)
    LOOKOUT_LOAD_BODY=$BODY LOOKOUT_LOAD_SIGNATURE=$SIG LOOKOUT_LOAD_MANIFEST=$TMP/edits.manifest LOOKOUT_LOAD_THREADS=$THREADS \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 10s --latency -s "$LUA" "$URL/hooks/default" >"$out"
    t1=$(date +%s.%N)
    cpu1=$(ticks_of "$SERVER")
    if [ "$kind" = pg ]; then pg1=$(pg_ticks); fi
    thread_ticks >"$TMP/threads1-$label"
    local result
    result=$(grep '^LOOKOUT_RESULT' "$out" | sed 's/^LOOKOUT_RESULT //')
    [ -n "$result" ] || { cat "$out" >&2; log "wrk printed no result"; exit 1; }
    local requests
    requests=$(tr ' ' '\n' <<<"$result" | awk -F= '$1 == "requests" { print $2 }')
    local cpu
    cpu=$(awk -v t=$((cpu1 - cpu0)) -v p=$((pg1 - pg0)) -v hz="$CLK_TCK" -v n="$requests" -v s="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" 'BEGIN {
        printf "server_cpu_ms_per_call=%.3f server_cpu_pct=%.0f pg_cpu_ms_per_call=%.3f pg_cpu_pct=%.0f", t / hz * 1000 / n, t / hz / s * 100, p / hz * 1000 / n, p / hz / s * 100 }')
    # CPU per call by thread name over the wrk run (only names that used any).
    local threads
    threads=$(join -a1 -e0 -o 0,1.2,2.2 "$TMP/threads1-$label" "$TMP/threads0-$label" \
        | awk -v hz="$CLK_TCK" -v n="$requests" '$2 - $3 > 0 { printf "%s%s:%.3f", sep, $1, ($2 - $3) / hz * 1000 / n; sep = "," }')
    local loss="" rows="" drained="" depth_max="" depth_end="" size=""
    if [ "$kind" != off ]; then
        local waited=0 depth written accepted dropped
        while :; do
            fetch_metrics
            depth=$(metric lookout_log_queue_depth)
            written=$(metric lookout_log_written_total)
            accepted=$(metric lookout_log_accepted_total)
            dropped=$(( $(metric 'lookout_log_dropped_total{reason="queue_full"}') + $(metric 'lookout_log_dropped_total{reason="store_error"}') ))
            if [ "$depth" = 0 ] && [ $((written + dropped)) -ge "$accepted" ]; then break; fi
            if [ "$waited" -ge "$((DRAIN_TIMEOUT * 10))" ]; then log "[$label] the log did not drain in $DRAIN_TIMEOUT s (depth $depth)"; break; fi
            sleep 0.1
            waited=$((waited + 1))
        done
        drained=$(awk -v a="$t1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
        kill "$POLLER" 2>/dev/null || true
        wait "$POLLER" 2>/dev/null || true
        POLLER=""
        local calls full failed
        calls=$(calls_total)
        full=$(metric 'lookout_log_dropped_total{reason="queue_full"}')
        failed=$(metric 'lookout_log_dropped_total{reason="store_error"}')
        if [ "$kind" = sqlite ]; then
            rows=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True).execute("select count(*) from calls").fetchone()[0])' "$data/lookout.db")
            size=$(du -sk "$data" | awk '{ printf "%.0f", $1 / 1024 }')
        else
            rows=$(psql_do -c 'select count(*) from calls' "$db")
            size=$(psql_do -c "select pg_database_size('$db') / 1048576" postgres)
        fi
        depth_max=$(awk -v a="$t0" -v b="$t1" '$1 >= a && $1 <= b && $2 > m { m = $2 } END { print m + 0 }' "$TMP/depth-$label")
        depth_end=$(awk -v b="$t1" '$1 <= b { d = $2 } END { print d + 0 }' "$TMP/depth-$label")
        loss="calls=$calls written=$written rows=$rows dropped_queue_full=$full dropped_store_error=$failed write_errors=$(metric lookout_log_write_errors_total) drain_s=$drained depth_max=$depth_max depth_at_end=$depth_end db_mib=$size"
        if [ "$full" = 0 ] && [ "$failed" = 0 ] && [ "$written" = "$calls" ] && [ "$rows" = "$calls" ]; then
            loss="$loss zero_loss=yes"
            log "[$label] zero loss: $calls calls, $written written, $rows rows, nothing dropped (drained $drained s after wrk; queue depth max $depth_max)"
        else
            loss="$loss zero_loss=NO"
            LOST=1
            log "[$label] LOSS: $calls calls, $written written, $rows rows, dropped $full (queue full) + $failed (store error)"
        fi
    fi
    stop_server
    rm -rf "$data"
    if [ "$kind" = pg ]; then psql_do -c "DROP DATABASE $db" postgres; fi
    log "[$label] $(tr ' ' '\n' <<<"$result" | grep -E '^(rps|p50_ms|p99_ms|non2xx)=' | tr '\n' ' ')$cpu"
    RESULTS+=("$label kind=$kind commit=$commit $result $cpu $loss threads_ms_per_call=$threads load=${load// /,}")
}

if [ "$RUN_POSTGRES" = 1 ]; then pg_start; fi
for round in $(seq 1 "$ROUNDS"); do
    if [ "$RUN_OFF" = 1 ]; then run "off-$round" off "$round"; fi
    if [ "$RUN_SQLITE" = 1 ]; then run "sqlite-$round" sqlite "$round"; fi
    if [ "$RUN_POSTGRES" = 1 ]; then run "pg-$round" pg "$round"; fi
done
pg_stop

grep -iE 'error|panic' "$TMP/server.log" >&2 && log "(the servers logged the lines above)" || true

# --- summary ----------------------------------------------------------------------------
echo
echo "lookout log load test — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), loopback; wrk -t$THREADS -c$CONNECTIONS -d$DURATION, body $SAMPLE"
echo "on = $ON_LABEL, off = $OFF_LABEL$([ "$PG_FAST" = 1 ] && echo ', PostgreSQL with fsync=off')"
printf '%-9s %-12s %9s %8s %8s %7s %8s %7s %8s %9s %9s %9s %6s %6s %5s  %s\n' run commit calls/s p50_ms p99_ms non2xx cpu_ms pg_ms calls written rows dropped depth dbMiB loss "load(1,5,15)"
for row in "${RESULTS[@]}"; do
    label=${row%% *}
    rest=${row#* }
    printf '%-9s %-12s %9s %8s %8s %7s %8s %7s %8s %9s %9s %9s %6s %6s %5s  %s\n' "$label" "$(field "$rest" commit)" \
        "$(field "$rest" rps)" "$(field "$rest" p50_ms)" "$(field "$rest" p99_ms)" "$(field "$rest" non2xx)" \
        "$(field "$rest" server_cpu_ms_per_call)" "$(field "$rest" pg_cpu_ms_per_call)" "$(field "$rest" calls)" \
        "$(field "$rest" written)" "$(field "$rest" rows)" \
        "$(awk -v a="$(field "$rest" dropped_queue_full)" -v b="$(field "$rest" dropped_store_error)" 'BEGIN { if (a == "" && b == "") print "-"; else print a + b }')" \
        "$(field "$rest" depth_max)" "$(field "$rest" db_mib)" "$(field "$rest" zero_loss)" "$(field "$rest" load)"
    echo "  raw: $row"
done
# Recording on as a share of off: mean calls/s of each kind.
awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } n[v["kind"]]++; s[v["kind"]] += v["rps"] }
     END { if (n["off"]) for (k in n) if (k != "off") printf "%s: %.0f calls/s mean of %d runs = %.1f %% of off (%.0f calls/s mean of %d runs)\n", k, s[k] / n[k], n[k], 100 * (s[k] / n[k]) / (s["off"] / n["off"]), s["off"] / n["off"], n["off"] }' \
    < <(printf '%s\n' "${RESULTS[@]}")
exit "$LOST"
