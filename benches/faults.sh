#!/usr/bin/env bash
# Faults: `kill -9` under load, KILLS times in a row with restarts, and (unless
# RUN_DISK_FULL=0) the data folder filling up while lookout answers (issue 12).
#
#   bash benches/faults.sh
#
# kill -9: serves a copy of rules/ (the `default` rule set requires a signature) on
# 127.0.0.1 and keeps an edit stream going with examples/soak_client.rs at RATE calls a
# second, which logs the call id and time of every 200 answer. KILLS times: wait a random
# 2-5 s, `kill -9` the server, check that the SQLite file opens clean (PRAGMA
# integrity_check = ok, with the WAL recovered), start it again on the same port. Then a
# graceful stop, and the check: every call answered more than a second before the kill
# that followed it (and every call answered after the last kill) is in the log.
#
# Disk full: a 48 MiB tmpfs mounted as the data folder (needs root; skipped otherwise).
# The server answers the stream while the log fills the disk: answers must stay 200,
# the records that could not be written must be counted (lookout_log_dropped_total) and
# /readyz must say so; then room is made (the filler file removed) and recording must
# resume by itself: new calls are written again and /readyz is 200.
#
# Knobs: KILLS (20), RATE (100), RUN_DISK_FULL (1), FREE_KB (256: room left beside the
# filler), KEEP (0: remove the temp folder).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
KILLS=${KILLS:-20}
RATE=${RATE:-100}
RUN_DISK_FULL=${RUN_DISK_FULL:-1}
KEEP=${KEEP:-0}

log() { printf '[faults] %s\n' "$*" >&2; }
. "$ROOT/benches/lib.sh"

log "building release (server and examples/soak_client.rs)"
cargo build --release --quiet --bin lookout --example soak_client
BIN=$ROOT/target/release/lookout
CLIENT=$ROOT/target/release/examples/soak_client

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lookout-faults.XXXXXX")
SERVER=""
LOADER=""
MOUNTED=""
cleanup() {
    local code=$?
    [ -n "$LOADER" ] && kill "$LOADER" 2>/dev/null || true
    if [ -n "$SERVER" ]; then kill -9 "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
    [ -n "$MOUNTED" ] && umount "$MOUNTED" 2>/dev/null || true
    if [ "$KEEP" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
    exit "$code"
}
trap cleanup EXIT INT TERM

cp -r "$ROOT/rules" "$TMP/rules"
printf '\napi_keys = ["env:LOOKOUT_KEY_FAULTS"]\n' >>"$TMP/rules/default/ruleset.toml"
LOOKOUT_KEY_FAULTS=$(head -c 36 /dev/urandom | base64 | tr '+/' '-_')
export LOOKOUT_KEY_FAULTS
"$BIN" certs --out "$TMP/certs" >/dev/null
python3 "$ROOT/benches/edits.py" "$ROOT/rules/samples/multiport-100k.json" "$TMP/edits" 4 32
PORT=$(free_port)
URL=https://127.0.0.1:$PORT
# /metrics needs the admin token (its labels name rule sets); the server reads this one.
LOOKOUT_ADMIN_TOKEN=${LOOKOUT_ADMIN_TOKEN:-$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')}
export LOOKOUT_ADMIN_TOKEN
CURL=(curl -sS --max-time 15 --cacert "$TMP/certs/ca.pem" -H "Authorization: Bearer $LOOKOUT_ADMIN_TOKEN")

start_server() { # data-dir
    RUST_LOG=warn "$BIN" serve --listen "127.0.0.1:$PORT" --rules "$TMP/rules" --certs "$TMP/certs" \
        --data "$1" >>"$TMP/server.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 1 120); do
        kill -0 "$SERVER" 2>/dev/null || { log "server exited:"; tail "$TMP/server.log" >&2; exit 1; }
        "${CURL[@]}" -f -o /dev/null "$URL/healthz" 2>/dev/null && return 0
        sleep 0.1
    done
    log "server did not answer within 12 s"; exit 1
}
integrity() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("pragma integrity_check").fetchone()[0])' "$1"; }
now_ms() { date +%s%3N; }

# --- kill -9, KILLS times -------------------------------------------------------------
DATA=$TMP/data
start_server "$DATA"
: >"$TMP/answered"
SOAK_CACERT=$TMP/certs/ca.pem "$CLIENT" "$URL/hooks/default" "$TMP/edits" LOOKOUT_KEY_FAULTS "$RATE" 100000 "$TMP/answered" \
    >"$TMP/client.log" 2>&1 &
LOADER=$!
: >"$TMP/kills"
for k in $(seq 1 "$KILLS"); do
    sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 2 + 3 * r / 32767 }')"
    at=$(now_ms)
    kill -9 "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
    echo "$at" >>"$TMP/kills"
    check=$(integrity "$DATA/lookout.db")
    [ "$check" = ok ] || { log "kill $k: integrity_check says: $check"; exit 1; }
    log "kill $k at $at: $(wc -l <"$TMP/answered") answered so far; database opens clean"
    start_server "$DATA"
done
sleep 2
kill "$LOADER" 2>/dev/null || true; wait "$LOADER" 2>/dev/null || true; LOADER=""
sleep 1
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
[ "$(integrity "$DATA/lookout.db")" = ok ] || { log "integrity_check failed after the graceful stop"; exit 1; }

python3 - "$DATA/lookout.db" "$TMP/answered" "$TMP/kills" <<'EOF'
import sqlite3, sys, bisect
db, answered, kills = sys.argv[1:]
stored = {row[0] for row in sqlite3.connect(db).execute("select id from calls")}
kills = sorted(int(l) for l in open(kills) if l.strip())
calls = [l.split()[:2] for l in open(answered) if len(l.split()) >= 2]
must, lost, window = 0, [], 0
for ms, cid in calls:
    ms = int(ms)
    i = bisect.bisect_left(kills, ms)          # the first kill at or after this answer
    if i < len(kills) and kills[i] - ms <= 1000:
        window += 1                            # answered within a second of a kill: may be lost
        continue
    must += 1
    if cid not in stored:
        lost.append(cid)
print(f"kill -9 x {len(kills)}: {len(calls)} calls answered 200, {must} more than 1 s before a kill "
      f"(or after the last), {window} within 1 s of one; lost among the {must}: {len(lost)}; "
      f"rows in the log {len(stored)}")
sys.exit(1 if lost else 0)
EOF
awk '$1 == "total" { print "[faults] client: " $0 }' "$TMP/client.log" >&2

# --- the disk fills up ----------------------------------------------------------------
if [ "$RUN_DISK_FULL" != 1 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then log "disk full: skipped (needs root to mount a tmpfs)"; exit 0; fi
SMALL=$TMP/small
mkdir -p "$SMALL"
if ! mount -t tmpfs -o size=48m tmpfs "$SMALL" 2>/dev/null; then
    log "disk full: skipped (mounting a tmpfs failed here)"; exit 0
fi
MOUNTED=$SMALL
start_server "$SMALL/data"
# All the room but FREE_KB (256) goes to a filler file, so the log meets a full disk within
# seconds (records of an edit stream are small deltas: a fixed-size filler left too much).
sleep 1
AVAIL_KB=$(df --output=avail -k "$SMALL" | tail -1)
dd if=/dev/zero of="$SMALL/filler" bs=1K count=$((AVAIL_KB - ${FREE_KB:-256})) status=none 2>/dev/null || true
log "disk full: filler written, $(df --output=avail -k "$SMALL" | tail -1) KiB left"
metric() { "${CURL[@]}" "$URL/metrics" | awk -v n="$1" '$1 == n { print $2; f = 1 } END { if (!f) print 0 }'; }
SOAK_CACERT=$TMP/certs/ca.pem "$CLIENT" "$URL/hooks/default" "$TMP/edits" LOOKOUT_KEY_FAULTS 50 30 \
    >"$TMP/full.log" 2>&1
read -r SENT OK FAILED _ < <(awk '$1 == "total" { print $3, $5, $7, $9 }' "$TMP/full.log")
DROPPED=$(metric 'lookout_log_dropped_total{reason="store_error"}')
READY=$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$URL/readyz")
log "disk full: $SENT calls sent, $OK answered 200, $FAILED failed; records dropped (counted): $DROPPED; /readyz $READY; df: $(df -h "$SMALL" | awk 'NR == 2 { print $3 " used of " $2 }')"
[ "$FAILED" = 0 ] || { log "calls failed while the disk was full"; exit 1; }
[ "$DROPPED" -gt 0 ] || { log "the disk never filled (nothing dropped); make the filler larger"; exit 1; }
rm -f "$SMALL/filler"
WRITTEN0=$(metric lookout_log_written_total)
SOAK_CACERT=$TMP/certs/ca.pem "$CLIENT" "$URL/hooks/default" "$TMP/edits" LOOKOUT_KEY_FAULTS 20 10 >"$TMP/after.log" 2>&1
sleep 2
WRITTEN1=$(metric lookout_log_written_total)
READY=$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$URL/readyz")
log "room made: $((WRITTEN1 - WRITTEN0)) records written since; /readyz $READY"
[ "$((WRITTEN1 - WRITTEN0))" -gt 0 ] && [ "$READY" = 200 ] || { log "recording did not resume by itself"; exit 1; }
log "faults passed"
