#!/usr/bin/env bash
# The log viewer's list at a million records: how long `/admin` and `/admin/api/calls`
# take to answer, with each filter, on SQLite and (RUN_POSTGRES=1) PostgreSQL.
#
#   bash benches/log_list.sh
#
# Builds ON_REV (default HEAD) in a `git worktree` under /tmp with its own
# CARGO_TARGET_DIR (release): the `lookout` binary and the `fill_log` bench
# (benches/fill_log.rs), then removes the worktree. fill_log writes ROWS realistic calls
# (6 KB drybulk estimates with unique ids over 200 vessels, real answers and traces of
# rules/default, a mix of rule sets, statuses, rule errors and timeouts, times spread over
# DAYS days) through the library (`store::open`, `Row::encode`, `Backend::write`, 4,000
# rows per transaction) into
#   - SQLite: LIST_DATA/lookout.db (default target/log-list/sqlite-<ROWS>); with KEEP_DB=1
#     (default) an existing file that already holds ROWS calls is reused, so reruns skip
#     the fill (the schema is migrated by whatever opens it first; KEEP_DB=0 refills);
#   - PostgreSQL (RUN_POSTGRES=1): a throw-away server (Debian's /usr/lib/postgresql/<newest>/bin,
#     initdb into a temp folder as the `postgres` user when root, 127.0.0.1 only, default
#     settings), filled the same way, deleted at the end.
# Then it serves that log: `LOOKOUT_ADMIN_TOKEN=<random> lookout serve --data <folder>`
# (`--store postgres://...` for PostgreSQL) with a lookout.toml whose [store] turns
# retention off (max_age_days = 0, max_size_mb = 0: the records must stay however old the
# kept file gets), and times with curl (`-w '%{time_total}'`, a new TLS connection each,
# `Authorization: Bearer <token>`), each query REPEAT times:
#   - warm: after one untimed request; median, min and max of REPEAT;
#   - cold-ish: before each request the log's files are dropped from the OS page cache
#     (posix_fadvise DONTNEED on every file of the SQLite folder or the PostgreSQL data
#     folder; the server and its connections stay up, so SQLite's per-connection page
#     cache and PostgreSQL's shared_buffers stay warm: "-ish").
# Queries, each as the HTML page (`/admin?...`) and the JSON API (`/admin/api/calls?...`):
# first page; ruleset=grain (8 % of calls); status=401 (2 %); problems=on (~7 %);
# ruleset=grain&status=503 (~0.02 %: two filters, one sparse); a deep page
# (before=<the id in the middle>); a day in the middle (since/until). Text search (q=) is
# timed separately: a rare vessel name (10 calls in the log) and one estimate id, each with
# its first page's `searched_to` and the number of pages a search of the whole log takes.
#
# Knobs (environment): ROWS (1000000), DAYS (30), ON_REV (HEAD; `working`: the checkout as
# it is), KEEP_DB (1), LIST_DATA (target/log-list/sqlite-<ROWS>), RUN_SQLITE (1),
# RUN_POSTGRES (0), REPEAT (10), COLD (1), SEARCH_PAGES (3: pages of each text search to
# time), BUILD_DIR (target/bench-rev), WAIT_FOR_QUIET (1: before each query, wait up to
# 10 min until the 1-minute load average is below LOAD_MAX=0.8; the machine is shared).
# Only 127.0.0.1 is used; servers, worktree and temp folders are removed on exit (the
# SQLite log under target/ stays when KEEP_DB=1).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
ROWS=${ROWS:-1000000}
DAYS=${DAYS:-30}
ON_REV=${ON_REV:-HEAD}
KEEP_DB=${KEEP_DB:-1}
LIST_DATA=${LIST_DATA:-$ROOT/target/log-list/sqlite-$ROWS}
RUN_SQLITE=${RUN_SQLITE:-1}
RUN_POSTGRES=${RUN_POSTGRES:-0}
REPEAT=${REPEAT:-10}
COLD=${COLD:-1}
SEARCH_PAGES=${SEARCH_PAGES:-3}
BUILD_DIR=${BUILD_DIR:-$ROOT/target/bench-rev}
WAIT_FOR_QUIET=${WAIT_FOR_QUIET:-1}
LOAD_MAX=${LOAD_MAX:-0.8}

log() { printf '[log_list] %s\n' "$*" >&2; }
# free_port, wait_for_quiet, the throw-away PostgreSQL (pg_start, pg_stop, psql_do).
# shellcheck source=benches/lib.sh
. "$ROOT/benches/lib.sh"
for tool in curl awk git python3; do
    command -v "$tool" >/dev/null || { log "$tool is required"; exit 2; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lookout-log-list.XXXXXX")
SERVER=""
WORKTREE=""
PG_ROOT=""
PG_PID=""
cleanup() {
    local code=$?
    if [ -n "$SERVER" ] && kill -0 "$SERVER" 2>/dev/null; then
        kill "$SERVER" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$SERVER" 2>/dev/null || true
    fi
    pg_stop
    if [ -n "$WORKTREE" ]; then git -C "$ROOT" worktree remove --force "$WORKTREE" 2>/dev/null || rm -rf "$WORKTREE"; fi
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

# --- build --------------------------------------------------------------------------
if [ "$ON_REV" = working ]; then
    COMMIT=$(git rev-parse HEAD)
    LABEL="$(git rev-parse --short HEAD)+working"
    SRC=$ROOT
    TARGET=$ROOT/target
else
    COMMIT=$(git rev-parse --verify --quiet "$ON_REV^{commit}") || { log "no commit $ON_REV"; exit 2; }
    LABEL=$(git rev-parse --short "$COMMIT")
    WORKTREE=$(mktemp -d "${TMPDIR:-/tmp}/lookout-bench-list.XXXXXX")
    rmdir "$WORKTREE"
    git worktree add --detach --quiet "$WORKTREE" "$COMMIT"
    SRC=$WORKTREE
    TARGET=$BUILD_DIR/on
fi
log "building $LABEL ($(git log -1 --format=%s "$COMMIT" | cut -c1-80)) in $SRC, target $TARGET"
(cd "$SRC" && CARGO_TARGET_DIR=$TARGET cargo build --release --locked --bin lookout --bench fill_log \
    --message-format=json-render-diagnostics) >"$TMP/build.json"
FILL=$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "fill_log" and m.get("executable"):
        print(m["executable"])' "$TMP/build.json" | tail -n 1)
[ -x "$FILL" ] || { log "fill_log was not built"; exit 1; }
cp "$TARGET/release/lookout" "$TMP/lookout"
cp "$FILL" "$TMP/fill_log"
git -C "$ROOT" archive "$COMMIT" rules | tar -x -C "$TMP"
if [ -n "$WORKTREE" ]; then git worktree remove --force "$WORKTREE"; WORKTREE=""; fi
BIN=$TMP/lookout
"$BIN" certs --out "$TMP/certs" >/dev/null
# fill_log reads rules/default and the sample from FILL_ROOT: ON_REV's copy in $TMP.
fill() { # store
    (cd "$TMP" && FILL_ROOT=$TMP FILL_STORE=$1 FILL_ROWS=$ROWS FILL_DAYS=$DAYS "$TMP/fill_log" 2>&1) | tee "$TMP/fill.out" | grep -v '^FILL_RESULT' >&2 || true
    grep '^FILL_RESULT' "$TMP/fill.out" | sed 's/^FILL_RESULT //'
}
ADMIN_TOKEN=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
export LOOKOUT_ADMIN_TOKEN=$ADMIN_TOKEN
printf '[store]\nmax_age_days = 0\nmax_size_mb = 0\n' >"$TMP/lookout.toml"
CURL=(curl -sS --max-time 60 --cacert "$TMP/certs/ca.pem" -H "Authorization: Bearer $ADMIN_TOKEN")

start_server() { # data [extra args]
    local data=$1
    shift
    PORT=$(free_port)
    URL=https://127.0.0.1:$PORT
    RUST_LOG=warn "$BIN" serve --config "$TMP/lookout.toml" --listen "127.0.0.1:$PORT" --rules "$TMP/rules" \
        --certs "$TMP/certs" --data "$data" "$@" >>"$TMP/server.log" 2>&1 &
    SERVER=$!
    local t0=$SECONDS
    for _ in $(seq 1 600); do
        kill -0 "$SERVER" 2>/dev/null || { log "server exited"; exit 1; }
        if "${CURL[@]}" -f -o /dev/null "$URL/healthz" 2>/dev/null; then break; fi
        sleep 0.25
    done
    "${CURL[@]}" -f -o /dev/null "$URL/healthz" || { log "server did not answer /healthz"; exit 1; }
    log "server pid $SERVER on $URL (ready after $((SECONDS - t0)) s)"
    local code
    code=$(curl -sS --cacert "$TMP/certs/ca.pem" -o /dev/null -w '%{http_code}' "$URL/admin/api/calls")
    [ "$code" = 401 ] || { log "/admin/api/calls without the token: HTTP $code, expected 401"; exit 1; }
}
stop_server() {
    kill "$SERVER" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    SERVER=""
}

# Drops every file under the folders from the OS page cache.
evict() { python3 - "$@" <<'EOF'
import os, sys
for top in sys.argv[1:]:
    for d, _, files in os.walk(top):
        for f in files:
            try:
                fd = os.open(os.path.join(d, f), os.O_RDONLY)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
EOF
}

# One timed request: prints "total_ms server_ms http_code bytes".
timed() { # path
    "${CURL[@]}" -o "$TMP/body" -w '%{time_total} %{time_pretransfer} %{time_starttransfer} %{http_code} %{size_download}\n' "$URL$1" \
        | awk '{ printf "%.2f %.2f %s %s\n", $1 * 1000, ($3 - $2) * 1000, $4, $5 }'
}
stats() { # file of "total server code bytes" lines -> "median min max server_median"
    python3 -c '
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
t = [float(r[0]) for r in rows]
s = [float(r[1]) for r in rows]
print("%.1f %.1f %.1f %.1f" % (statistics.median(t), min(t), max(t), statistics.median(s)))' "$1"
}

RESULTS=()
measure() { # store-label name path evict-dirs...
    local store=$1 name=$2 path=$3
    shift 3
    wait_for_quiet
    local load warm cold="- - - -" code count
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    read -r _ _ code _ < <(timed "$path")
    [ "$code" = 200 ] || { log "$path: HTTP $code: $(head -c 300 "$TMP/body")"; exit 1; }
    case $path in
        /admin/api/*) count=$(python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); print(len(p["calls"]))' "$TMP/body") ;;
        *) count=$(grep -c 'href="/admin/calls/' "$TMP/body" || true) ;;
    esac
    : >"$TMP/warm"
    for _ in $(seq 1 "$REPEAT"); do timed "$path" >>"$TMP/warm"; done
    warm=$(stats "$TMP/warm")
    if [ "$COLD" = 1 ]; then
        : >"$TMP/cold"
        for _ in $(seq 1 "$REPEAT"); do evict "$@"; timed "$path" >>"$TMP/cold"; done
        cold=$(stats "$TMP/cold")
    fi
    read -r wm wmin wmax ws <<<"$warm"
    read -r cm cmin cmax cs <<<"$cold"
    log "[$store] $name: warm median $wm ms (min $wmin, max $wmax; server $ws), cold-ish median $cm ms (min $cmin, max $cmax; server $cs); $count calls on the page"
    RESULTS+=("$store|$name|$path|$wm|$wmin|$wmax|$ws|$cm|$cmin|$cmax|$cs|$count|${load// /,}")
}

SEARCHES=()
search() { # store-label term evict-dirs...
    local store=$1 term=$2 q path before="" page total_ms=0 found=0 info
    shift 2
    q=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote_plus(sys.argv[1]))' "$term")
    wait_for_quiet
    for page in $(seq 1 "$SEARCH_PAGES"); do
        path="/admin/api/calls?q=$q${before:+&before=$before}"
        : >"$TMP/search"
        for _ in $(seq 1 3); do timed "$path" >>"$TMP/search"; done
        read -r med _ _ srv <<<"$(stats "$TMP/search")"
        info=$(python3 -c '
import json, sys, datetime
p = json.load(open(sys.argv[1]))
t = p.get("searched_to")
print(len(p["calls"]), p.get("next") or "", datetime.datetime.fromtimestamp(t / 1e6, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if t else "-")' "$TMP/body")
        read -r n next to <<<"$info"
        log "[$store] q=$term page $page: median of 3 $med ms (server $srv), $n found, searched_to $to"
        SEARCHES+=("$store|$term|$page|$med|$srv|$n|$to")
        [ -n "$next" ] || break
        before=$next
    done
    # The whole log: how many pages does a search take, and how long in all (one pass).
    local t0 pages=0 hits=0
    before=""
    t0=$(date +%s.%N)
    while :; do
        path="/admin/api/calls?q=$q&limit=500${before:+&before=$before}"
        "${CURL[@]}" -o "$TMP/body" "$URL$path"
        pages=$((pages + 1))
        read -r n next <<<"$(python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); print(len(p["calls"]), p.get("next") or "")' "$TMP/body")"
        hits=$((hits + n))
        [ -n "$next" ] || break
        before=$next
    done
    local all
    all=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    log "[$store] q=$term over the whole log: $pages pages, $hits found, $all s"
    SEARCHES+=("$store|$term|all|$all s|-|$hits|$pages pages")
}

queries() { # store-label fill-result evict-dirs...
    local store=$1 result=$2
    shift 2
    local middle_id middle_us since until
    middle_id=$(tr ' ' '\n' <<<"$result" | awk -F= '$1 == "middle_id" { print $2 }')
    middle_us=$(tr ' ' '\n' <<<"$result" | awk -F= '$1 == "middle_us" { print $2 }')
    since=$(date -u -d "@$((middle_us / 1000000 - 86400))" +%Y-%m-%dT%H:%M:%SZ)
    until=$(date -u -d "@$((middle_us / 1000000))" +%Y-%m-%dT%H:%M:%SZ)
    local name filters
    while IFS='|' read -r name filters; do
        measure "$store" "$name (HTML)" "/admin${filters:+?$filters}" "$@"
        measure "$store" "$name (API)" "/admin/api/calls${filters:+?$filters}" "$@"
    done <<EOF
first page|
ruleset=grain|ruleset=grain
status=401|status=401
problems=on|problems=on
ruleset=grain&status=503|ruleset=grain&status=503
deep page (before=middle id)|before=$middle_id
a day in the middle (since/until)|since=$since&until=$until
EOF
    search "$store" "NORDIC RARITY" "$@"
    search "$store" "$(tr ' ' '\n' <<<"$result" | awk -F= '$1 == "rare_estimate" { print $2 }')" "$@"
}

FILLS=()
if [ "$RUN_SQLITE" = 1 ]; then
    if [ "$KEEP_DB" != 1 ]; then rm -rf "$LIST_DATA"; fi
    mkdir -p "$LIST_DATA"
    wait_for_quiet
    t0=$SECONDS
    if ! result=$(fill "$LIST_DATA/lookout.db") || [ -z "$result" ]; then
        log "the kept log in $LIST_DATA could not be used; filling a new one"
        rm -rf "$LIST_DATA"
        mkdir -p "$LIST_DATA"
        t0=$SECONDS
        result=$(fill "$LIST_DATA/lookout.db")
    fi
    filled=$(grep -c 'calls in' "$TMP/fill.out" || true)
    fill_s=$((SECONDS - t0))
    if [ "$filled" != 0 ]; then echo "$LABEL $(date -u +%Y-%m-%dT%H:%MZ)" >"$LIST_DATA/filled-by"; fi
    size=$(du -sm "$LIST_DATA" | awk '{ print $1 }')
    by=$(cat "$LIST_DATA/filled-by" 2>/dev/null || echo '?')
    if [ "$filled" != 0 ]; then
        how="filled by $by now, in $fill_s s: $(grep 'calls in' "$TMP/fill.out" | tail -n 1 | sed 's/^\[fill\] //')"
    else
        how="filled by $by, kept from an earlier run"
    fi
    log "SQLite log: $result; $size MiB on disk; $how"
    FILLS+=("sqlite: $result; ${size} MiB on disk (folder); $how")
    start_server "$LIST_DATA"
    queries sqlite "$result" "$LIST_DATA"
    stop_server
fi

if [ "$RUN_POSTGRES" = 1 ]; then
    PG_FAST=0   # default settings (no PG_FAST knob here)
    pg_start
    psql_do -c 'CREATE DATABASE lookout' postgres
    PG_URL=postgres://postgres@127.0.0.1:$PG_PORT/lookout
    log "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $NF}') on 127.0.0.1:$PG_PORT; filling $ROWS calls"
    wait_for_quiet
    t0=$SECONDS
    result=$(fill "$PG_URL")
    fill_s=$((SECONDS - t0))
    psql_do -c 'VACUUM ANALYZE calls' lookout
    size=$(psql_do -c "select pg_database_size('lookout') / 1048576" postgres)
    log "PostgreSQL log: $result; $size MiB; filled in $fill_s s"
    FILLS+=("postgres: $result; ${size} MiB (pg_database_size); filled in $fill_s s, $(grep 'calls in' "$TMP/fill.out" | tail -n 1 | sed 's/^\[fill\] //'); then VACUUM ANALYZE")
    mkdir -p "$TMP/pgdata-empty"
    start_server "$TMP/pgdata-empty" --store "$PG_URL"
    queries postgres "$result" "$PG_ROOT/data"
    stop_server
    pg_stop
fi

# --- summary ----------------------------------------------------------------------------
echo
echo "lookout log list timings — $(date -u +%Y-%m-%dT%H:%MZ), commit $LABEL, $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), loopback, curl with a new TLS connection per request; ms; median of $REPEAT (min-max); server = time_starttransfer - time_pretransfer"
for f in "${FILLS[@]}"; do echo "  $f"; done
printf '%-8s %-44s %8s %15s %8s %9s %15s %8s %6s  %s\n' store query warm warm_min-max server cold-ish cold_min-max server calls "load(1,5,15)"
for row in "${RESULTS[@]}"; do
    IFS='|' read -r store name path wm wmin wmax ws cm cmin cmax cs count load <<<"$row"
    printf '%-8s %-44s %8s %15s %8s %9s %15s %8s %6s  %s\n' "$store" "$name" "$wm" "$wmin-$wmax" "$ws" "$cm" "$cmin-$cmax" "$cs" "$count" "$load"
done
echo
echo "text search (API, limit 50; median of 3 per page; 'all' = every page of the whole log with limit=500, one pass):"
printf '%-8s %-20s %5s %10s %8s %6s  %s\n' store term page ms server found searched_to
for row in "${SEARCHES[@]}"; do
    IFS='|' read -r store term page med srv n to <<<"$row"
    printf '%-8s %-20s %5s %10s %8s %6s  %s\n' "$store" "$term" "$page" "$med" "$srv" "$n" "$to"
done
