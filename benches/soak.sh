#!/usr/bin/env bash
# Soak: a realistic edit stream held at a steady rate, with recording on, watching for
# drift (issue 12).
#
#   bash benches/soak.sh
#
# Builds release (the server and the example examples/soak_client.rs), makes the edit
# stream with benches/edits.py (EDIT_ESTIMATES=8 estimates x EDIT_STEPS=64 edits of
# SAMPLE, each a distinct ~100 KB body), serves a copy of rules/ whose `default` rule set
# requires a signature, and sends the stream with soak_client at RATE calls a second
# (open loop) for DURATION_S seconds. Every 10 s it samples the server's resident memory,
# open file descriptors, the log's queue depth and written count (from /metrics), with
# the client's calls, failures and p50/p99 latency of that window, into samples.tsv.
# At the end: waits for the log to drain, then checks
#   failed calls = 0 (every call sent was answered 200),
#   lost records = 0 (rows in the SQLite file = 200 answers + the start-up checks),
#   RSS drift after warm-up < 10 % (mean RSS of the last WINDOW_S seconds against the
#   mean of the WINDOW_S seconds after WARMUP_S),
# prints the figures and exits 1 when one fails. Only 127.0.0.1 is used; everything it
# starts is stopped and its temp folder removed on exit (KEEP=1 keeps the folder).
#
# Knobs: RATE (300), DURATION_S (1800), WARMUP_S (300), WINDOW_S (300), SAMPLE
# (rules/samples/multiport-100k.json), EDIT_ESTIMATES (8), EDIT_STEPS (64), KEEP (0).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
RATE=${RATE:-300}
DURATION_S=${DURATION_S:-1800}
WARMUP_S=${WARMUP_S:-300}
WINDOW_S=${WINDOW_S:-300}
SAMPLE=${SAMPLE:-rules/samples/multiport-100k.json}
EDIT_ESTIMATES=${EDIT_ESTIMATES:-8}
EDIT_STEPS=${EDIT_STEPS:-64}
KEEP=${KEEP:-0}

log() { printf '[soak] %s\n' "$*" >&2; }
. "$ROOT/benches/lib.sh"

log "building release (server and examples/soak_client.rs)"
cargo build --release --quiet --bin lookout --example soak_client
BIN=$ROOT/target/release/lookout
CLIENT=$ROOT/target/release/examples/soak_client

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lookout-soak.XXXXXX")
SERVER=""
SAMPLER=""
cleanup() {
    local code=$?
    [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null || true
    if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
    if [ "$KEEP" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
    exit "$code"
}
trap cleanup EXIT INT TERM

cp -r "$ROOT/rules" "$TMP/rules"
printf '\napi_keys = ["env:LOOKOUT_KEY_SOAK"]\n' >>"$TMP/rules/default/ruleset.toml"
LOOKOUT_KEY_SOAK=$(head -c 36 /dev/urandom | base64 | tr '+/' '-_')
export LOOKOUT_KEY_SOAK
"$BIN" certs --out "$TMP/certs" >/dev/null
python3 "$ROOT/benches/edits.py" "$ROOT/$SAMPLE" "$TMP/edits" "$EDIT_ESTIMATES" "$EDIT_STEPS"
log "edit stream: $EDIT_ESTIMATES estimates x $EDIT_STEPS edits of $SAMPLE ($(du -sh "$TMP/edits" | cut -f1))"

PORT=$(free_port)
URL=https://127.0.0.1:$PORT
# /metrics needs the admin token (its labels name rule sets); the server reads this one.
LOOKOUT_ADMIN_TOKEN=${LOOKOUT_ADMIN_TOKEN:-$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')}
export LOOKOUT_ADMIN_TOKEN
CURL=(curl -sS --max-time 15 --cacert "$TMP/certs/ca.pem" -H "Authorization: Bearer $LOOKOUT_ADMIN_TOKEN")
RUST_LOG=warn "$BIN" serve --listen "127.0.0.1:$PORT" --rules "$TMP/rules" --certs "$TMP/certs" \
    --data "$TMP/data" >>"$TMP/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 80); do
    kill -0 "$SERVER" 2>/dev/null || { log "server exited:"; tail "$TMP/server.log" >&2; exit 1; }
    "${CURL[@]}" -f -o /dev/null "$URL/healthz" 2>/dev/null && break
    sleep 0.25
done
EDITS=("$TMP"/edits/*.json)
FIRST=${EDITS[0]}
SIG=$("$BIN" sign --key-env LOOKOUT_KEY_SOAK "$FIRST")
code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' -H "Veson-Webhook-Signature: $SIG" --data-binary "@$FIRST" "$URL/hooks/default")
[ "$code" = 200 ] || { log "the check call got HTTP $code"; exit 1; }
CHECKS=1

metric() { awk -v n="$1" '$1 == n { print $2; f = 1 } END { if (!f) print 0 }' "$TMP/metrics"; }
sample() { # t -> one line of samples.tsv (server side)
    "${CURL[@]}" -o "$TMP/metrics" "$URL/metrics" 2>/dev/null || : >"$TMP/metrics"
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" \
        "$(awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER/status")" \
        "$(ls "/proc/$SERVER/fd" | wc -l)" \
        "$(metric lookout_log_queue_depth)" "$(metric lookout_log_written_total)"
}
printf 't_s\trss_kb\tfds\tqueue_depth\twritten\n' >"$TMP/server.tsv"
(
    t=0
    while kill -0 "$SERVER" 2>/dev/null; do
        sample "$t" >>"$TMP/server.tsv"
        sleep 10
        t=$((t + 10))
    done
) &
SAMPLER=$!

log "$(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo); load average $(cut -d' ' -f1-3 /proc/loadavg)"
log "sending $RATE calls/s for $DURATION_S s to $URL/hooks/default"
SOAK_CACERT=$TMP/certs/ca.pem "$CLIENT" "$URL/hooks/default" "$TMP/edits" LOOKOUT_KEY_SOAK "$RATE" "$DURATION_S" \
    | tee "$TMP/client.log" | awk '{ printf "[soak] %s\n", $0 }' >&2
kill "$SAMPLER" 2>/dev/null || true
SAMPLER=""

# Drain, then count the rows.
for _ in $(seq 1 120); do
    "${CURL[@]}" -o "$TMP/metrics" "$URL/metrics"
    [ "$(metric lookout_log_queue_depth)" = 0 ] && break
    sleep 1
done
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
ROWS=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from calls").fetchone()[0])' "$TMP/data/lookout.db")
read -r SENT OK FAILED REFUSED SHED < <(awk '$1 == "total" { print $3, $5, $7, $9, $11 }' "$TMP/client.log")
LOST=$((OK + CHECKS - ROWS))

# Join the client's windows to the server's samples by time (both every 10 s).
paste "$TMP/server.tsv" <(printf 'sent\tok\tfailed\tp50_ms\tp99_ms\tmax_ms\n'; echo -e '-\t-\t-\t-\t-\t-'; awk '$1 == "window" { printf "%s\t%s\t%s\t%s\t%s\t%s\n", $4, $6, $8, $10, $12, $14 }' "$TMP/client.log") \
    >"$TMP/samples.tsv"
DRIFT=$(awk -F'\t' -v w0="$WARMUP_S" -v w="$WINDOW_S" -v end="$DURATION_S" '
    NR > 1 && $1 >= w0 && $1 < w0 + w { a += $2; na++ }
    NR > 1 && $1 >= end - w && $1 < end { b += $2; nb++ }
    END { if (na && nb) printf "%.1f %.0f %.0f", (b / nb - a / na) * 100 / (a / na), a / na / 1024, b / nb / 1024; else print "nan 0 0" }' "$TMP/samples.tsv")
read -r DRIFT_PCT RSS_EARLY RSS_LATE <<<"$DRIFT"
P99_MAX=$(awk -F'\t' 'NR > 2 && $10 != "-" && $10 + 0 > m { m = $10 + 0 } END { print m + 0 }' "$TMP/samples.tsv")
FDS_MAX=$(awk -F'\t' 'NR > 1 && $1 != "" && $3 + 0 > m { m = $3 + 0 } END { print m + 0 }' "$TMP/samples.tsv")
DEPTH_MAX=$(awk -F'\t' 'NR > 1 && $1 != "" && $4 + 0 > m { m = $4 + 0 } END { print m + 0 }' "$TMP/samples.tsv")

echo
column -t -s $'\t' "$TMP/samples.tsv" | awk 'NR == 1 || NR % 6 == 2'   # one line a minute
echo
echo "soak: $RATE calls/s for $DURATION_S s, commit $(git -C "$ROOT" rev-parse --short HEAD), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "calls sent $SENT, answered 200 $OK, failed $FAILED (connect refused $REFUSED); not sent on schedule because 256 were unanswered: $SHED"
echo "records: $ROWS rows for $OK answers + $CHECKS check call(s): lost $LOST"
echo "RSS: ${RSS_EARLY} MiB (mean of ${WARMUP_S}-$((WARMUP_S + WINDOW_S)) s) -> ${RSS_LATE} MiB (last $WINDOW_S s): drift ${DRIFT_PCT} %"
echo "open fds max $FDS_MAX, log queue depth max $DEPTH_MAX, worst window p99 ${P99_MAX} ms"
awk -v d="$DRIFT_PCT" -v f="$FAILED" -v l="$LOST" 'BEGIN { exit !(f == 0 && l == 0 && d < 10 && d > -100) }' \
    || { echo "soak FAILED: failed $FAILED, lost $LOST, drift $DRIFT_PCT %"; exit 1; }
echo "soak passed"
