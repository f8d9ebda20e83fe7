#!/usr/bin/env bash
# Port event intake under load (issue 5): how many PortConnect events per second does
# `POST /events/portconnect` take in batches of 100, with zero loss? HTTPS on loopback with
# wrk and benches/events.lua.
#
#   bash benches/events_load.sh
#
# Builds the release binary once: REV=working (default) runs `cargo build --release` in the
# checkout as it is; REV=<commit> builds that commit in a `git worktree` under /tmp with
# its own target folder ($BUILD_DIR/on, the one log_load.sh builds its "on" commit in, so
# the two share compiled dependencies), then removes the worktree. Makes a development
# CA (`lookout certs`), a random 48-character PortConnect token (LOOKOUT_PORTCONNECT_TOKEN
# for the server, X-WebhookToken for wrk), and measures once how long an fdatasync of 4 KB
# takes on the temp folder's disk (the floor of a durable commit).
#
# Then ROUNDS rounds of, in this order:
#   sqlite   `lookout serve` with its default store, a fresh <data>/lookout.db;
#   pg       `--store postgres://...` on a throw-away PostgreSQL server (benches/lib.sh:
#            Debian's binaries, a temp folder, 127.0.0.1 only, default durability settings
#            unless PG_FAST=1; a fresh database per run; stopped and deleted at the end).
# Each run: start the server on a free 127.0.0.1 port and check it: no token and a wrong
# token get 401; tests/data/portconnect-doc-example.json gets 200 {"stored":3,
# "duplicates":0} and then {"stored":0,"duplicates":3}; one batch made by events.lua gets
# {"stored":BATCH,...} and then all duplicates. Wait until the 1-minute load average is
# below LOAD_MAX, then
#   wrk -t2 -c8 -d30s --timeout 10s --latency -s benches/events.lua https://127.0.0.1:PORT/events/portconnect
# where every request is a new batch of BATCH (100) container visit events (≈ 77 KB).
# Measured over the wrk run:
#   - requests/s, events/s (= BATCH × 2xx/s), p50/p99, non-2xx (wrk, events.lua);
#   - events/s over the first and the last 10 s (lookout_events_total polled once a
#     second): does intake slow down as the tables grow?
#   - server CPU per event, and by thread name; PostgreSQL's CPU per event (its backends,
#     the ones that exited included: lookout's pool opens and closes connections);
#   - syncs per batch: SQLite, with COUNT_FSYNC=1, from `perf record` of the fsync and
#     fdatasync tracepoints (system-wide, counted for the server's process); PostgreSQL from
#     pg_stat_wal.wal_sync; for PostgreSQL also WAL bytes and commits per batch and the
#     sessions opened (pg_stat_wal, pg_stat_database);
#   - file bytes the server read and wrote per batch (/proc/<pid>/io rchar/wchar; tokio's
#     sockets are not counted there, so this is SQLite's I/O, and 0 with PostgreSQL).
# After wrk the server is stopped (so that requests wrk gave up on at its deadline have
# finished), then zero loss is checked in the database (python3's sqlite3; psql):
#   - every batch is all there: the events grouped by subscriptionEventId are BATCH each;
#   - batches stored >= 2xx answers wrk saw + 1 (the checked batch), and at most
#     CONNECTIONS more (requests in flight when wrk stopped, committed after it hung up);
#   - rows = 3 + BATCH × batches stored (the documented example's 3 events);
#   - the answers wrk saw said stored = BATCH × 2xx and duplicates = 0, and none was non-2xx.
# lookout_events_total{outcome="stored"} is printed next to the rows: it misses the batches
# whose answer wrk cut off (the handler is dropped with the connection; the commit, on a
# blocking thread, still happens).
#
# Knobs (environment): DURATION (30s), ROUNDS (2), RUN_SQLITE (1), RUN_POSTGRES (1),
# REV (working), BUILD_DIR (target/bench-rev), THREADS (2), CONNECTIONS (8), BATCH (100),
# PG_FAST (0), COUNT_FSYNC (1; needs perf and the syscalls tracepoints, else skipped),
# WAIT_FOR_QUIET (1: before each wrk run, wait up to 10 min until the 1-minute load average
# is below LOAD_MAX=0.8; the machine is shared). Only 127.0.0.1 is used. Everything it
# starts is stopped and its temp folders and databases removed on exit (Ctrl-C included).
# Exit 1 when a run lost an event or got a non-2xx answer.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-30s}
ROUNDS=${ROUNDS:-2}
RUN_SQLITE=${RUN_SQLITE:-1}
RUN_POSTGRES=${RUN_POSTGRES:-1}
REV=${REV:-working}
BUILD_DIR=${BUILD_DIR:-$ROOT/target/bench-rev}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-8}
BATCH=${BATCH:-100}
PG_FAST=${PG_FAST:-0}
COUNT_FSYNC=${COUNT_FSYNC:-1}
WAIT_FOR_QUIET=${WAIT_FOR_QUIET:-1}
LOAD_MAX=${LOAD_MAX:-0.8}

log() { printf '[events_load] %s\n' "$*" >&2; }
# shellcheck source=benches/lib.sh
. "$ROOT/benches/lib.sh"

ensure_wrk
for tool in curl awk git python3; do
    command -v "$tool" >/dev/null || { log "$tool is required"; exit 2; }
done
if [ "$COUNT_FSYNC" = 1 ] && ! perf stat -e syscalls:sys_enter_fsync -e syscalls:sys_enter_fdatasync true >/dev/null 2>&1; then
    log "perf or the syscalls tracepoints are not available: not counting fsyncs"
    COUNT_FSYNC=0
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lookout-events-load.XXXXXX")
SERVER=""
PERF=""
POLLER=""
WORKTREE=""
cleanup() {
    local code=$?
    [ -n "$POLLER" ] && kill "$POLLER" 2>/dev/null || true
    if [ -n "$PERF" ] && kill -0 "$PERF" 2>/dev/null; then
        kill -INT "$PERF" 2>/dev/null || true
        wait "$PERF" 2>/dev/null || true
    fi
    if [ -n "$SERVER" ] && kill -0 "$SERVER" 2>/dev/null; then
        kill "$SERVER" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$SERVER" 2>/dev/null || true
    fi
    pg_stop
    if [ -n "$WORKTREE" ]; then
        git -C "$ROOT" worktree remove --force "$WORKTREE" 2>/dev/null || rm -rf "$WORKTREE"
        git -C "$ROOT" worktree prune 2>/dev/null || true
    fi
    if [ "$code" != 0 ] && [ -f "$TMP/server.log" ]; then
        log "server log (last lines):"
        tail -n 20 "$TMP/server.log" >&2 || true
    fi
    rm -rf "$TMP"
    exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build --------------------------------------------------------------------------
if [ "$REV" = working ]; then
    log "building the checkout as it is ($(git status --porcelain src Cargo.toml Cargo.lock | wc -l) changed files in src/ and the manifest): cargo build --release"
    cargo build --release --quiet --bin lookout
    cp target/release/lookout "$TMP/lookout"
    LABEL=$(git rev-parse --short HEAD)
    if [ -n "$(git status --porcelain src Cargo.toml Cargo.lock)" ]; then LABEL="$LABEL+working"; fi
else
    COMMIT=$(git rev-parse --verify --quiet "$REV^{commit}") || { log "no commit $REV"; exit 2; }
    WORKTREE=$(mktemp -d "${TMPDIR:-/tmp}/lookout-bench-events.XXXXXX")
    rmdir "$WORKTREE"
    git worktree add --detach --quiet "$WORKTREE" "$COMMIT"
    log "building $(git log -1 --format='%h %s' "$COMMIT" | cut -c1-90) (worktree $WORKTREE, target $BUILD_DIR/on)"
    (cd "$WORKTREE" && CARGO_TARGET_DIR=$BUILD_DIR/on cargo build --release --locked --quiet --bin lookout)
    cp "$BUILD_DIR/on/release/lookout" "$TMP/lookout"
    git worktree remove --force "$WORKTREE"
    WORKTREE=""
    LABEL=$(git rev-parse --short "$COMMIT")
fi
BIN=$TMP/lookout

# --- certificates, token, rules, the sample batch -------------------------------------
"$BIN" certs --out "$TMP/certs" >/dev/null
cp -r "$ROOT/rules" "$TMP/rules"   # serve wants a rules folder; the event intake does not use it
LOOKOUT_PORTCONNECT_TOKEN=$(head -c 36 /dev/urandom | base64 | tr '+/' '-_')
export LOOKOUT_PORTCONNECT_TOKEN
[ "${#LOOKOUT_PORTCONNECT_TOKEN}" = 48 ] || { log "token is not 48 characters"; exit 2; }
# /metrics needs the admin token (its labels name rule sets); the server reads this one.
LOOKOUT_ADMIN_TOKEN=${LOOKOUT_ADMIN_TOKEN:-$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')}
export LOOKOUT_ADMIN_TOKEN
CURL=(curl -sS --max-time 15 --cacert "$TMP/certs/ca.pem" -H "Authorization: Bearer $LOOKOUT_ADMIN_TOKEN")
SEED=$(date +%s)
# events.lua writes one batch (of a wrk thread number no run uses) when it is loaded; wrk
# is pointed at a closed port for a second so that it loads the script and sends nothing.
LOOKOUT_EVENTS_TOKEN=x LOOKOUT_EVENTS_BATCH=$BATCH LOOKOUT_EVENTS_SEED=$SEED LOOKOUT_EVENTS_SAMPLE=$TMP/sample.json \
    wrk -t1 -c1 -d1s -s "$ROOT/benches/events.lua" "https://127.0.0.1:$(free_port)/" >/dev/null 2>&1 || true
python3 - "$TMP/sample.json" "$BATCH" <<'EOF' || { log "events.lua did not write a valid batch"; exit 1; }
import json, sys
items = json.load(open(sys.argv[1]))
assert isinstance(items, list) and len(items) == int(sys.argv[2]), len(items)
assert len({json.dumps(i, sort_keys=True) for i in items}) == len(items), "items repeat"
assert all(len(i["containerNumber"]) == 11 for i in items)
EOF
SAMPLE_BYTES=$(wc -c <"$TMP/sample.json")
log "a batch of $BATCH events is $SAMPLE_BYTES bytes ($(python3 -c 'import json,sys; i=json.load(open(sys.argv[1])); print(", ".join(sorted({e["containerVisitEventTypeCode"] for e in i})))' "$TMP/sample.json"))"

# --- the disk: one fdatasync of 4 KB, as a durable commit needs at least one ------------
DISK=$(python3 - "$TMP" <<'EOF'
import os, sys, time
path = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
times = []
for i in range(200):
    os.pwrite(fd, os.urandom(4096), (i % 64) * 4096)
    t = time.perf_counter()
    os.fdatasync(fd)
    times.append((time.perf_counter() - t) * 1000)
os.close(fd)
os.unlink(path)
times.sort()
print("fdatasync_p50_ms=%.3f fdatasync_p90_ms=%.3f fdatasync_max_ms=%.3f" % (times[100], times[180], times[-1]))
EOF
)
log "disk of $TMP (4 KB write + fdatasync, 200 times): $DISK"

# --- one run ------------------------------------------------------------------------
# "rchar wchar" of a process: bytes read and written by its read/write-family system calls;
# tokio's sockets use recvfrom/sendto, which are not counted, so this is file I/O.
io_of() { awk '$1 == "rchar:" { r = $2 } $1 == "wchar:" { w = $2 } END { printf "%.0f %.0f\n", r, w }' "/proc/$1/io" 2>/dev/null || echo "0 0"; }
metric() { # name (with labels, as printed) -> value, or 0
    awk -v n="$1" '$1 == n { print $2; found = 1 } END { if (!found) print 0 }' "$TMP/metrics"
}
post() { # file [token] -> writes $TMP/answer, prints the status code
    # HTTP/1.1 as wrk speaks it (over HTTP/2 a 401, answered before the body is read, ends
    # the stream with RST_STREAM, which curl 7.88 reports as error 92).
    local auth=()
    [ -n "${2:-}" ] && auth=(-H "X-WebhookToken: $2")
    "${CURL[@]}" --http1.1 -o "$TMP/answer" -w '%{http_code}' "${auth[@]}" -H 'Content-Type: application/json' \
        --data-binary "@$1" "$URL/events/portconnect"
}
expect() { # what file token code stored duplicates
    local code
    code=$(post "$2" "$3")
    if [ "$code" != "$4" ]; then log "$1: HTTP $code, expected $4: $(head -c 300 "$TMP/answer")"; exit 1; fi
    if [ -n "${5:-}" ] && ! python3 -c 'import json, sys; a = json.load(open(sys.argv[1])); sys.exit(0 if (a["stored"], a["duplicates"]) == (int(sys.argv[2]), int(sys.argv[3])) else 1)' "$TMP/answer" "$5" "$6"; then
        log "$1: answered $(head -c 300 "$TMP/answer"), expected stored $5, duplicates $6"; exit 1
    fi
}

start_server() { # data-dir [extra args...]
    local data=$1
    shift
    PORT=$(free_port)
    URL=https://127.0.0.1:$PORT
    RUST_LOG=warn "$BIN" serve --listen "127.0.0.1:$PORT" --rules "$TMP/rules" --certs "$TMP/certs" \
        --data "$data" "$@" >>"$TMP/server.log" 2>&1 &
    SERVER=$!
    local ready=0
    for _ in $(seq 1 80); do
        kill -0 "$SERVER" 2>/dev/null || { log "server exited"; exit 1; }
        if "${CURL[@]}" -f -o /dev/null "$URL/healthz" 2>/dev/null; then ready=1; break; fi
        sleep 0.25
    done
    [ "$ready" = 1 ] || { log "server did not answer /healthz within 20 s"; exit 1; }
    expect "no token" "$ROOT/tests/data/portconnect-doc-example.json" "" 401
    expect "a wrong token" "$ROOT/tests/data/portconnect-doc-example.json" "${LOOKOUT_PORTCONNECT_TOKEN}x" 401
    expect "the documented example" "$ROOT/tests/data/portconnect-doc-example.json" "$LOOKOUT_PORTCONNECT_TOKEN" 200 3 0
    expect "the documented example again" "$ROOT/tests/data/portconnect-doc-example.json" "$LOOKOUT_PORTCONNECT_TOKEN" 200 0 3
    expect "a batch from events.lua" "$TMP/sample.json" "$LOOKOUT_PORTCONNECT_TOKEN" 200 "$BATCH" 0
    expect "the same batch again" "$TMP/sample.json" "$LOOKOUT_PORTCONNECT_TOKEN" 200 0 "$BATCH"
}
stop_server() {
    kill "$SERVER" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    SERVER=""
}

# Counts fsync/fdatasync calls of the given processes from a system-wide perf record.
start_fsync_count() { # label
    [ "$COUNT_FSYNC" = 1 ] || return 0
    perf record -q -a -e syscalls:sys_enter_fsync -e syscalls:sys_enter_fdatasync \
        -o "$TMP/perf-$1.data" >/dev/null 2>"$TMP/perf-$1.log" &
    PERF=$!
    sleep 0.5
}
stop_fsync_count() { # label pids... -> SYNCS = fsync+fdatasync calls of those processes, or -
    SYNCS=-
    [ "$COUNT_FSYNC" = 1 ] || return 0
    local label=$1
    shift
    kill -INT "$PERF" 2>/dev/null || true
    wait "$PERF" 2>/dev/null || true
    PERF=""
    SYNCS=$(perf script -i "$TMP/perf-$label.data" -F pid,event 2>/dev/null \
        | awk -v pids=" $* " 'index(pids, " " $1 " ") { n++ } END { print n + 0 }')
    rm -f "$TMP/perf-$label.data"
}

RESULTS=()
FAILED=0
run() { # label kind(sqlite|pg)
    local label=$1 kind=$2 data=$TMP/data-$1 store=() db=""
    if [ "$kind" = pg ]; then
        db=lookout_${label//-/_}
        psql_do -c "CREATE DATABASE $db" postgres
        store=(--store "postgres://postgres@127.0.0.1:$PG_PORT/$db")
    fi
    start_server "$data" "${store[@]}"
    wait_for_quiet
    local load t0 t1 cpu0 cpu1 io0 io1 pg0=0 pg1=0 out=$TMP/wrk-$label.txt
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    log "[$label] $kind, $LABEL, load average $load: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --timeout 10s --latency -s benches/events.lua $URL/events/portconnect (batches of $BATCH)"
    thread_ticks >"$TMP/threads0-$label"
    local wal0="0 0 0 0 0" wal1="0 0 0 0 0"
    if [ "$kind" = pg ]; then
        pg0=$(pg_ticks_all)
        wal0=$(psql_do -F ' ' -c "select wal_sync, wal_write, wal_bytes, d.xact_commit, d.sessions from pg_stat_wal, pg_stat_database d where d.datname = '$db'" postgres)
    fi
    # Events stored so far, once a second (lookout_events_total), for the rate at the start
    # and at the end of the run.
    ( while kill -0 "$SERVER" 2>/dev/null; do
          "${CURL[@]}" "$URL/metrics" 2>/dev/null \
              | awk -v t="$(date +%s.%N)" '$1 == "lookout_events_total{source=\"portconnect\",outcome=\"stored\"}" { s = $2 } END { printf "%.2f %d\n", t, s }' \
              >>"$TMP/stored-$label" || true
          sleep 1
      done ) &
    POLLER=$!
    if [ "$kind" = sqlite ]; then start_fsync_count "$label"; fi
    cpu0=$(ticks_of "$SERVER")
    io0=$(io_of "$SERVER")
    t0=$(date +%s.%N)
    LOOKOUT_EVENTS_TOKEN=$LOOKOUT_PORTCONNECT_TOKEN LOOKOUT_EVENTS_BATCH=$BATCH LOOKOUT_EVENTS_SEED=$SEED \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 10s --latency -s "$ROOT/benches/events.lua" \
        "$URL/events/portconnect" >"$out"
    t1=$(date +%s.%N)
    cpu1=$(ticks_of "$SERVER")
    io1=$(io_of "$SERVER")
    kill "$POLLER" 2>/dev/null || true
    wait "$POLLER" 2>/dev/null || true
    POLLER=""
    local syncs=-
    if [ "$kind" = pg ]; then
        pg1=$(pg_ticks_all)
        wal1=$(psql_do -F ' ' -c "select wal_sync, wal_write, wal_bytes, d.xact_commit, d.sessions from pg_stat_wal, pg_stat_database d where d.datname = '$db'" postgres)
        syncs=$(( $(cut -d' ' -f1 <<<"$wal1") - $(cut -d' ' -f1 <<<"$wal0") ))
    else
        stop_fsync_count "$label" "$SERVER"
        syncs=$SYNCS
    fi
    thread_ticks >"$TMP/threads1-$label"
    local result
    result=$(grep '^LOOKOUT_RESULT' "$out" | sed 's/^LOOKOUT_RESULT //')
    [ -n "$result" ] || { cat "$out" >&2; log "wrk printed no result"; exit 1; }
    v() { tr ' ' '\n' <<<"$result" | awk -F= -v k="$1" '$1 == k { print $2 }'; }
    local ok
    ok=$(v ok)
    [ "$ok" -gt 0 ] || { cat "$out" >&2; log "[$label] no 2xx answer"; exit 1; }
    local seconds cpu threads
    seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
    cpu=$(awk -v t=$((cpu1 - cpu0)) -v p=$((pg1 - pg0)) -v hz="$CLK_TCK" -v n="$((ok * BATCH))" -v s="$seconds" -v y="$syncs" -v b="$ok" 'BEGIN {
        printf "server_cpu_us_per_event=%.1f server_cpu_pct=%.0f pg_cpu_us_per_event=%.1f pg_cpu_pct=%.0f syncs=%s syncs_per_batch=%s",
            t / hz * 1e6 / n, t / hz / s * 100, p / hz * 1e6 / n, p / hz / s * 100, y, (y == "-" ? "-" : sprintf("%.2f", y / b)) }')
    # Events/s over the first and the last 10 s of the run (from the polled metric).
    local rates
    rates=$(awk -v a="$t0" -v b="$t1" '{ t[NR] = $1; s[NR] = $2 }
        function at(x,   i) { for (i = 1; i <= NR; i++) if (t[i] >= x) return i; return NR }
        function rate(x, y,   i, j) { i = at(x); j = at(y); return (t[j] > t[i]) ? (s[j] - s[i]) / (t[j] - t[i]) : 0 }
        END { printf "events_per_s_first10=%.0f events_per_s_last10=%.0f", rate(a, a + 10), rate(b - 11, b - 1) }' "$TMP/stored-$label")
    # Bytes the server read and wrote in files, per batch: SQLite's WAL and database (pages
    # read back that its cache no longer held; frames appended to the WAL; checkpoints).
    local io
    io=$(awk -v x="$io0" -v y="$io1" -v b="$ok" 'BEGIN { split(x, p, " "); split(y, q, " ");
        printf "read_kib_per_batch=%.0f written_kib_per_batch=%.0f", (q[1] - p[1]) / 1024 / b, (q[2] - p[2]) / 1024 / b }')
    # PostgreSQL: WAL flushes (pg_stat_wal.wal_sync) and bytes, and commits, per batch.
    local wal
    wal=$(awk -v x="$wal0" -v y="$wal1" -v b="$ok" 'BEGIN { split(x, p, " "); split(y, q, " ");
        if (q[1] == 0) { print "wal_syncs_per_batch=- wal_kib_per_batch=- commits_per_batch=- sessions=-"; exit }
        printf "wal_syncs_per_batch=%.2f wal_kib_per_batch=%.0f commits_per_batch=%.2f sessions=%d", (q[1] - p[1]) / b, (q[3] - p[3]) / 1024 / b, (q[4] - p[4]) / b, q[5] - p[5] }')
    # CPU per event by thread name over the wrk run (only names that used any).
    threads=$(join -a1 -e0 -o 0,1.2,2.2 "$TMP/threads1-$label" "$TMP/threads0-$label" \
        | awk -v hz="$CLK_TCK" -v n="$((ok * BATCH))" '$2 - $3 > 0 { printf "%s%s:%.1f", sep, $1, ($2 - $3) / hz * 1e6 / n; sep = "," }')
    "${CURL[@]}" -o "$TMP/metrics" "$URL/metrics"
    stop_server
    local stored_metric rows batches complete smin smax size
    stored_metric=$(metric 'lookout_events_total{source="portconnect",outcome="stored"}')
    if [ "$kind" = sqlite ]; then
        read -r rows batches complete smin smax < <(python3 - "$data/lookout.db" "$BATCH" <<'EOF'
import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
rows = db.execute("select count(*) from events").fetchone()[0]
b, full, lo, hi = db.execute("""
    select count(*), coalesce(sum(n = ?), 0), coalesce(min(n), 0), coalesce(max(n), 0) from (
      select json_extract(payload, '$.subscriptionEventId') as s, count(*) as n
      from events where source = 'portconnect' and json_extract(payload, '$.subscriptionEventId') >= 100000000
      group by s)""", (int(sys.argv[2]),)).fetchone()
print(rows, b, full, lo, hi)
EOF
)
        size=$(du -sk "$data" | awk '{ printf "%.1f", $1 / 1024 }')
    else
        rows=$(psql_do -c 'select count(*) from events' "$db")
        read -r batches complete smin smax < <(psql_do -F ' ' -c "
            select count(*), coalesce(sum((n = $BATCH)::int), 0), coalesce(min(n), 0), coalesce(max(n), 0) from (
              select payload::jsonb->>'subscriptionEventId' as s, count(*) as n from events
              where source = 'portconnect' and (payload::jsonb->>'subscriptionEventId')::bigint >= 100000000
              group by s) t" "$db")
        size=$(psql_do -c "select round(pg_database_size('$db') / 1048576.0, 1)" postgres)
    fi
    rm -rf "$data"
    if [ "$kind" = pg ]; then psql_do -c "DROP DATABASE $db" postgres; fi
    # Batches wrk saw answered 2xx + the checked one; more may have been committed after wrk
    # hung up at its deadline (at most one per connection).
    local acked=$((ok + 1)) late loss verdict=yes
    late=$((batches - acked))
    loss="rows=$rows batches=$batches complete_batches=$complete batch_min=$smin batch_max=$smax acked_batches=$acked late_batches=$late stored_metric=$stored_metric db_mib=$size"
    if [ "$complete" != "$batches" ] || [ "$smin" != "$BATCH" ] || [ "$smax" != "$BATCH" ]; then verdict=NO; log "[$label] a batch is not all there: $batches batches, $complete complete, sizes $smin..$smax"; fi
    if [ "$late" -lt 0 ] || [ "$late" -gt "$CONNECTIONS" ]; then verdict=NO; log "[$label] $batches batches stored against $acked answered 2xx"; fi
    if [ "$rows" != $((3 + BATCH * batches)) ]; then verdict=NO; log "[$label] $rows rows, expected 3 + $BATCH x $batches"; fi
    if [ "$stored_metric" != "$rows" ]; then log "[$label] note: lookout_events_total stored = $stored_metric, rows = $rows (answers cut off by wrk's deadline are counted in the rows, not always in the metric)"; fi
    if [ "$(v stored)" != $((ok * BATCH)) ] || [ "$(v duplicates)" != 0 ]; then verdict=NO; log "[$label] answers said stored $(v stored), duplicates $(v duplicates) for $ok batches"; fi
    if [ "$(v non2xx)" != 0 ]; then verdict=NO; log "[$label] $(v non2xx) non-2xx answers"; fi
    [ "$verdict" = yes ] || FAILED=1
    loss="$loss zero_loss=$verdict"
    log "[$label] $(v events_per_s) events/s ($(v ok_rps) batches/s), p50 $(v p50_ms) ms, p99 $(v p99_ms) ms, non-2xx $(v non2xx); $cpu; $loss"
    log "[$label] $rates; $io; $wal"
    RESULTS+=("$label kind=$kind commit=$LABEL $result $cpu $rates $io $wal $loss threads_us_per_event=$threads load=${load// /,}")
}

if [ "$RUN_POSTGRES" = 1 ]; then pg_start; fi
for round in $(seq 1 "$ROUNDS"); do
    if [ "$RUN_SQLITE" = 1 ]; then run "sqlite-$round" sqlite; fi
    if [ "$RUN_POSTGRES" = 1 ]; then run "pg-$round" pg; fi
done
pg_stop

grep -iE 'error|panic' "$TMP/server.log" >&2 && log "(the servers logged the lines above)" || true

# --- summary ----------------------------------------------------------------------------
echo
echo "lookout port event intake — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), loopback; wrk -t$THREADS -c$CONNECTIONS -d$DURATION, batches of $BATCH events ($SAMPLE_BYTES bytes), $LABEL$([ "$PG_FAST" = 1 ] && echo ', PostgreSQL with fsync=off')"
echo "disk: $DISK"
printf '%-9s %8s %9s %9s %9s %8s %8s %7s %9s %8s %7s %8s %8s %8s %9s %6s %5s  %s\n' run batch/s events/s ev/s_0-10 ev/s_last10 p50_ms p99_ms non2xx cpu_us/ev pg_us/ev sync/b wKiB/b 2xx batches rows late loss "load(1,5,15)"
for row in "${RESULTS[@]}"; do
    label=${row%% *}
    rest=${row#* }
    printf '%-9s %8s %9s %9s %9s %8s %8s %7s %9s %8s %7s %8s %8s %8s %9s %6s %5s  %s\n' "$label" \
        "$(field "$rest" ok_rps)" "$(field "$rest" events_per_s)" "$(field "$rest" events_per_s_first10)" "$(field "$rest" events_per_s_last10)" \
        "$(field "$rest" p50_ms)" "$(field "$rest" p99_ms)" \
        "$(field "$rest" non2xx)" "$(field "$rest" server_cpu_us_per_event)" "$(field "$rest" pg_cpu_us_per_event)" \
        "$(field "$rest" syncs_per_batch)" "$(field "$rest" written_kib_per_batch)" "$(field "$rest" ok)" "$(field "$rest" batches)" "$(field "$rest" rows)" \
        "$(field "$rest" late_batches)" "$(field "$rest" zero_loss)" "$(field "$rest" load)"
    echo "  raw: $row"
done
exit "$FAILED"
