#!/usr/bin/env bash
# A fleet behind a real load balancer (issue 17): HAProxy (Debian's package, installed
# when missing) in front of three lookout instances on one PostgreSQL, health-checked on
# /readyz, all on loopback.
#
#   bash benches/fleet.sh
#
# Part 1, faults: a signed edit stream (examples/soak_client.rs, RATE calls a second for
# DURATION seconds, through HAProxy) while
#   - at KILL_AT s instance 2 is killed with `kill -9`, and started again 5 s later;
#   - at PUBLISH_AT s a new revision of the rule set is published (`lookout publish`).
# Then every instance is stopped gracefully (their recorders write what is queued) and
# the client's log is checked against the store:
#   non-2xx  calls not answered 200 (HAProxy's 502/503, connection errors, timeouts); each
#            one must come within 1 s after the kill (in flight on the killed instance),
#   lost     calls answered 200 whose X-Lookout-Call-Id is not in the log exactly once,
#   stale    answers from the old revision more than 2 s after the publish returned.
# The last line is `fleet: <N> calls, <N> non-2xx, <N> lost, <N> stale`; exit 1 when a
# non-2xx falls outside the kill's second, or anything is lost or stale.
#
# Part 2 (unless RUN_THROUGHPUT=0): calls/s through HAProxy with three instances against
# one (the other two disabled in HAProxy), wrk with benches/load.lua, a 5 KB estimate,
# WRK_DURATION each, one after the other in one run, THROUGHPUT_ROUNDS (2) rounds in
# alternating order; with the CPU each part used per 1000 calls (lookout, HAProxy,
# PostgreSQL), which says what limits it.
#
# The instances run with `[store] answer_after_write_ms = ANSWER_AFTER_WRITE_MS` (1000): an
# answer waits for its record's commit, so the killed instance's last answers are in the
# log (with 0 the calls it answered in its last few milliseconds are lost with it), and
# `[http] max_connections_per_ip = 0` (every connection comes from HAProxy).
#
# Part 3 (unless RUN_SHADOW=0): one instance's calls/s and latency without a candidate, with
# one running in the shadow of every call, and without again (see below).
#
# Knobs: RATE (150), DURATION (30), KILL_AT (8), PUBLISH_AT (18), RUN_THROUGHPUT (1), RUN_SHADOW (1),
# WRK_DURATION (20s), WRK_CONNECTIONS (32), ANSWER_AFTER_WRITE_MS (1000), KEEP (0: remove
# the temp folder).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
RATE=${RATE:-150}
DURATION=${DURATION:-30}
KILL_AT=${KILL_AT:-8}
PUBLISH_AT=${PUBLISH_AT:-18}
RUN_THROUGHPUT=${RUN_THROUGHPUT:-1}
WRK_DURATION=${WRK_DURATION:-20s}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-32}
ANSWER_AFTER_WRITE_MS=${ANSWER_AFTER_WRITE_MS:-1000}
KEEP=${KEEP:-0}

log() { printf '[fleet] %s\n' "$*" >&2; }
. "$ROOT/benches/lib.sh"

if ! command -v haproxy >/dev/null; then
    log "HAProxy is missing; installing the Debian package"
    if [ "$(id -u)" = 0 ]; then apt-get install -y haproxy >/dev/null; else sudo apt-get install -y haproxy >/dev/null; fi
fi
log "$(haproxy -v | head -n 1)"

log "building release (server and examples/soak_client.rs)"
cargo build --release --quiet --bin lookout --example soak_client
BIN=$ROOT/target/release/lookout
CLIENT=$ROOT/target/release/examples/soak_client

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lookout-fleet.XXXXXX")
PIDS=(- - - -)
LB=""
LOADER=""
cleanup() {
    local code=$?
    [ -n "$LOADER" ] && kill "$LOADER" 2>/dev/null || true
    for pid in "${PIDS[@]}"; do [ "$pid" != - ] && kill -9 "$pid" 2>/dev/null || true; done
    [ -n "$LB" ] && kill "$LB" 2>/dev/null || true
    pg_stop
    if [ "$KEEP" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
    exit "$code"
}
trap cleanup EXIT INT TERM

pg_start
STORE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"

# The rule set: `default` with a key; instance 1 publishes its folder, 2 and 3 serve only
# what the store says (their rules folders are empty and never read).
mkdir -p "$TMP/rules" "$TMP/empty"
cp -r "$ROOT/rules/default" "$TMP/rules/default"
cp -r "$ROOT/rules/samples" "$TMP/rules/samples"   # what its tests name
printf '\napi_keys = ["env:LOOKOUT_KEY_FLEET"]\n' >>"$TMP/rules/default/ruleset.toml"
LOOKOUT_KEY_FLEET=$(head -c 36 /dev/urandom | base64 | tr '+/' '-_')
LOOKOUT_ADMIN_TOKEN=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
export LOOKOUT_KEY_FLEET LOOKOUT_ADMIN_TOKEN
"$BIN" certs --out "$TMP/certs" --host localhost --host 127.0.0.1 >/dev/null
cat "$TMP/certs/cert.pem" "$TMP/certs/key.pem" >"$TMP/haproxy.pem"
python3 "$ROOT/benches/edits.py" "$ROOT/rules/samples/multiport-100k.json" "$TMP/edits" 4 32

printf '[store]\nanswer_after_write_ms = %s\n[http]\nmax_connections_per_ip = 0\n' "$ANSWER_AFTER_WRITE_MS" >"$TMP/lookout.toml"
PORTS=(- "$(free_port)" "$(free_port)" "$(free_port)")
start_instance() { # n
    local n=$1 rules=$TMP/empty publish=false
    if [ "$n" = 1 ]; then rules=$TMP/rules; publish=true; fi
    LOOKOUT_PUBLISH_FOLDER=$publish RUST_LOG=warn "$BIN" serve --listen "127.0.0.1:${PORTS[$n]}" \
        --config "$TMP/lookout.toml" --rules "$rules" --certs "$TMP/certs" --data "$TMP/data$n" --store "$STORE_URL" \
        --rules-from store >>"$TMP/server$n.log" 2>&1 &
    PIDS[$n]=$!
}
ready() { # n
    curl -sS -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$TMP/certs/ca.pem" \
        "https://127.0.0.1:${PORTS[$1]}/readyz" 2>/dev/null || true
}
wait_ready() { # n
    for _ in $(seq 1 150); do
        kill -0 "${PIDS[$1]}" 2>/dev/null || { log "instance $1 exited:"; tail "$TMP/server$1.log" >&2; exit 1; }
        [ "$(ready "$1")" = 200 ] && return 0
        sleep 0.1
    done
    log "instance $1 not ready within 15 s:"; tail "$TMP/server$1.log" >&2; exit 1
}
start_instance 1; wait_ready 1   # first: it publishes the folder as the first revision
start_instance 2; start_instance 3; wait_ready 2; wait_ready 3

LB_PORT=$(free_port)
write_haproxy() { # servers to enable (e.g. "1 2 3")
    cat >"$TMP/haproxy.cfg" <<EOF
global
    maxconn 4096
    tune.bufsize 262144
    stats socket $TMP/haproxy.sock mode 600 level user
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 15s
    timeout check 2s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout 0rtt-rejected
frontend webhook
    bind 127.0.0.1:$LB_PORT ssl crt $TMP/haproxy.pem alpn http/1.1
    default_backend lookout
backend lookout
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server check inter 500ms fall 2 rise 2 ssl verify required ca-file $TMP/certs/ca.pem maxconn 64
EOF
    for n in 1 2 3; do
        if [[ " $1 " == *" $n "* ]]; then
            echo "    server lookout$n 127.0.0.1:${PORTS[$n]}" >>"$TMP/haproxy.cfg"
        else
            echo "    server lookout$n 127.0.0.1:${PORTS[$n]} disabled" >>"$TMP/haproxy.cfg"
        fi
    done
}
start_lb() {
    haproxy -f "$TMP/haproxy.cfg" -db >"$TMP/haproxy.log" 2>&1 &
    LB=$!
    for _ in $(seq 1 100); do
        curl -s -o /dev/null --max-time 2 --cacert "$TMP/certs/ca.pem" "https://127.0.0.1:$LB_PORT/healthz" && return 0
        sleep 0.1
    done
    log "HAProxy did not answer:"; tail "$TMP/haproxy.log" >&2; exit 1
}
stop_lb() { kill "$LB" 2>/dev/null || true; wait "$LB" 2>/dev/null || true; LB=""; }
write_haproxy "1 2 3"
start_lb
sleep 2   # the first health checks
URL=https://127.0.0.1:$LB_PORT
log "HAProxy on $URL in front of 127.0.0.1:${PORTS[1]}, :${PORTS[2]}, :${PORTS[3]}; PostgreSQL :$PG_PORT"

now_ms() { date +%s%3N; }
OLD=$(curl -sS --cacert "$TMP/certs/ca.pem" -H "Authorization: Bearer $LOOKOUT_ADMIN_TOKEN" \
    "https://127.0.0.1:${PORTS[1]}/readyz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["rulesets"]["default"]["version"])')
log "serving revision $OLD; edit stream at $RATE calls/s for ${DURATION}s"
: >"$TMP/answered"; : >"$TMP/failed"
SOAK_CACERT=$TMP/certs/ca.pem SOAK_FAILED_LOG=$TMP/failed "$CLIENT" "$URL/hooks/default" "$TMP/edits" \
    LOOKOUT_KEY_FLEET "$RATE" "$DURATION" "$TMP/answered" >"$TMP/client.log" 2>&1 &
LOADER=$!
T0=$(now_ms)

sleep "$KILL_AT"
KILLED_MS=$(now_ms)
kill -9 "${PIDS[2]}"; wait "${PIDS[2]}" 2>/dev/null || true
log "kill -9 instance 2 at +$(( (KILLED_MS - T0) / 1000 )) s"
sleep 5
start_instance 2; wait_ready 2
log "instance 2 started again and ready at +$(( ($(now_ms) - T0) / 1000 )) s"

sleep $(( PUBLISH_AT > KILL_AT + 6 ? PUBLISH_AT - KILL_AT - 6 : 1 ))
cp -r "$TMP/rules" "$TMP/rules-next"
printf '\n// revision 2: published by benches/fleet.sh\n' >>"$TMP/rules-next/default/$(ls "$TMP/rules-next/default" | grep '\.rhai$' | head -n 1)"
"$BIN" publish default --rules "$TMP/rules-next" --store "$STORE_URL" -m "fleet bench: the next revision" --author bench >"$TMP/publish.log" 2>&1 \
    || { cat "$TMP/publish.log" >&2; exit 1; }
PUBLISHED_MS=$(now_ms)
NEW=$(awk '/published version/ { print $4 }' "$TMP/publish.log")
log "published revision $NEW at +$(( (PUBLISHED_MS - T0) / 1000 )) s: $(tail -n 1 "$TMP/publish.log")"

wait "$LOADER" || true; LOADER=""
awk '$1 == "total" { print "[fleet] client: " $0 }' "$TMP/client.log" >&2
awk '$1 == "window" { print "[fleet] client: " $0 }' "$TMP/client.log" >&2
# What HAProxy did about the killed instance: retries (wretr) and redispatches (wredis) per
# server, connection and response errors (econ, eresp).
python3 - "$TMP/haproxy.sock" <<'EOF' >&2 || true
import csv, io, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"show stat\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
rows = list(csv.DictReader(io.StringIO(data.decode().lstrip("# "))))
for r in rows:
    if r["pxname"] == "lookout" and r["svname"] != "FRONTEND":
        print(f"[fleet] haproxy {r['svname']}: {r['stot']} calls, retries {r['wretr']}, redispatched {r['wredis']}, "
              f"connection errors {r['econ']}, response errors {r['eresp']}, status {r['status']}")
EOF
for n in 1 2 3; do kill "${PIDS[$n]}" 2>/dev/null || true; done
for n in 1 2 3; do wait "${PIDS[$n]}" 2>/dev/null || true; PIDS[$n]=-; done
psql_do -c "COPY (SELECT id FROM calls) TO STDOUT" >"$TMP/stored"

RESULT=0
python3 - "$TMP/answered" "$TMP/failed" "$TMP/stored" "$KILLED_MS" "$PUBLISHED_MS" "$OLD" "$NEW" "$TMP/client.log" <<'EOF' >"$TMP/verdict" || RESULT=$?
import collections, sys
answered, failed, stored, killed, published, old, new, client = sys.argv[1:]
killed, published = int(killed), int(published)
calls = [l.split() for l in open(answered) if len(l.split()) == 3]
fails = [l.split() for l in open(failed) if len(l.split()) == 2]
stored = collections.Counter(l.strip() for l in open(stored) if l.strip())
sent = next((int(l.split()[2]) for l in open(client) if l.startswith("total")), len(calls) + len(fails))
lost = [cid for _, cid, _ in calls if stored[cid] != 1]
stale = [cid for ms, cid, v in calls if v == old and int(ms) > published + 2000]
in_kill = [f for f in fails if killed <= int(f[0]) <= killed + 1000]
outside = [f for f in fails if f not in in_kill]
kinds = collections.Counter(k for _, k in fails)
after = collections.Counter(v for ms, _, v in calls if int(ms) > published + 2000)
print(f"[fleet] answered 200: {len(calls)}; not 200: {len(fails)} ({dict(kinds)}), "
      f"{len(in_kill)} within 1 s after the kill, {len(outside)} outside it", file=sys.stderr)
print(f"[fleet] answers more than 2 s after the publish, by revision: {dict(after)} (new {new})", file=sys.stderr)
last_old = max((int(ms) for ms, _, v in calls if v == old), default=0)
first_new = min((int(ms) for ms, _, v in calls if v == new), default=0)
print(f"[fleet] the publish returned at 0 ms; first answer from the new revision at {first_new - published:+d} ms, "
      f"last from the old one at {last_old - published:+d} ms", file=sys.stderr)
if outside:
    print(f"[fleet] non-2xx outside the kill's second: {outside[:10]}", file=sys.stderr)
if lost:
    print(f"[fleet] lost (answered, not in the log exactly once): {lost[:10]}", file=sys.stderr)
print(f"fleet: {sent} calls, {len(fails)} non-2xx, {len(lost)} lost, {len(stale)} stale")
sys.exit(1 if (outside or lost or stale or new == "" or not calls) else 0)
EOF

if [ "$RUN_THROUGHPUT" = 1 ]; then
    ensure_wrk
    stop_lb
    for n in 1 2 3; do start_instance "$n"; done
    for n in 1 2 3; do wait_ready "$n"; done
    BODY=$ROOT/rules/samples/drybulk-single-cargo.json
    SIGNATURE=$(LOOKOUT_KEY=$LOOKOUT_KEY_FLEET "$BIN" sign --key-env LOOKOUT_KEY "$BODY")
    cpu() { # ticks of: the lookout instances, HAProxy, PostgreSQL
        local l=0 n
        for n in 1 2 3; do l=$((l + $(ticks_of "${PIDS[$n]}"))); done
        echo "$l $(ticks_of "$LB") $(pg_ticks)"
    }
    order=("1 2 3" "1")
    for round in $(seq 1 "${THROUGHPUT_ROUNDS:-2}"); do
        for servers in "${order[@]}"; do
            write_haproxy "$servers"
            start_lb
            sleep 2
            wait_for_quiet
            count=$(wc -w <<<"$servers")
            read -r l0 h0 p0 < <(cpu)
            LOOKOUT_LOAD_BODY=$BODY LOOKOUT_LOAD_SIGNATURE=$SIGNATURE \
                wrk -t2 -c"$WRK_CONNECTIONS" -d"$WRK_DURATION" --timeout 10s --latency -s "$ROOT/benches/load.lua" \
                "$URL/hooks/default" >"$TMP/wrk-$count-$round.txt" 2>&1 || true
            read -r l1 h1 p1 < <(cpu)
            rps=$(awk '/^Requests\/sec/ { print $2 }' "$TMP/wrk-$count-$round.txt")
            p99=$(awk '$1 == "99%" { print $2 }' "$TMP/wrk-$count-$round.txt")
            calls=$(grep -o 'requests=[0-9]*' "$TMP/wrk-$count-$round.txt" | cut -d= -f2)
            bad=$(grep -o 'non2xx=[0-9]*' "$TMP/wrk-$count-$round.txt" | cut -d= -f2)
            per=$(awk -v l=$((l1 - l0)) -v h=$((h1 - h0)) -v p=$((p1 - p0)) -v n="${calls:-1}" -v t="$CLK_TCK" \
                'BEGIN { printf "lookout %.2f, haproxy %.2f, postgres %.2f", l / t * 1000 / n, h / t * 1000 / n, p / t * 1000 / n }')
            log "round $round, through HAProxy, $count instance(s): $rps calls/s, p99 $p99, non-2xx ${bad:-?}; CPU s per 1000 calls: $per"
            echo "throughput: round=$round instances=$count calls_per_s=$rps p99=$p99 non2xx=${bad:-?} cpu_s_per_1000_calls: $per"
            stop_lb
        done
        order=("${order[1]}" "${order[0]}")
    done
fi

# Part 3 (unless RUN_SHADOW=0): what a running candidate costs the live calls. One instance
# (instance 1, straight, no HAProxy), wrk as in part 2: without a candidate, with one (the
# same rules and a comment: every call run again in the shadow, as far as [shadow]
# cpu_share allows), and without again; calls/s, p99, and the shadow's runs and drops.
if [ "${RUN_SHADOW:-1}" = 1 ]; then
    ensure_wrk
    stop_lb
    for n in 1 2 3; do [ "${PIDS[$n]}" != - ] || start_instance "$n"; done
    wait_ready 1
    BODY=$ROOT/rules/samples/drybulk-single-cargo.json
    SIGNATURE=$(LOOKOUT_KEY=$LOOKOUT_KEY_FLEET "$BIN" sign --key-env LOOKOUT_KEY "$BODY")
    DIRECT=https://127.0.0.1:${PORTS[1]}
    metric() { curl -sS --cacert "$TMP/certs/ca.pem" -H "Authorization: Bearer $LOOKOUT_ADMIN_TOKEN" "$DIRECT/metrics" \
        | awk -v n="$1" '$1 == n { print $2; f = 1 } END { if (!f) print 0 }'; }
    cp -r "$TMP/rules-next" "$TMP/rules-candidate"
    printf '\n// a candidate: benches/fleet.sh\n' >>"$TMP/rules-candidate/default/$(ls "$TMP/rules-candidate/default" | grep '\.rhai$' | head -n 1)"
    for phase in without with again-without; do
        if [ "$phase" = with ]; then
            "$BIN" publish default --candidate --rules "$TMP/rules-candidate" --store "$STORE_URL" -m "fleet bench: a candidate" >/dev/null 2>&1
            sleep 2
        elif [ "$phase" = again-without ]; then
            "$BIN" candidate --store "$STORE_URL" discard default >/dev/null
            sleep 2
        fi
        wait_for_quiet
        runs0=$(metric lookout_shadow_runs_total)
        drop0=$(( $(metric 'lookout_shadow_dropped_total{reason="queue_full"}') + $(metric 'lookout_shadow_dropped_total{reason="cpu_share"}') ))
        LOOKOUT_LOAD_BODY=$BODY LOOKOUT_LOAD_SIGNATURE=$SIGNATURE \
            wrk -t2 -c"$WRK_CONNECTIONS" -d"$WRK_DURATION" --timeout 10s --latency -s "$ROOT/benches/load.lua" \
            "$DIRECT/hooks/default" >"$TMP/wrk-shadow-$phase.txt" 2>&1 || true
        runs=$(( $(metric lookout_shadow_runs_total) - runs0 ))
        drops=$(( $(metric 'lookout_shadow_dropped_total{reason="queue_full"}') + $(metric 'lookout_shadow_dropped_total{reason="cpu_share"}') - drop0 ))
        rps=$(awk '/^Requests\/sec/ { print $2 }' "$TMP/wrk-shadow-$phase.txt")
        p50=$(awk '$1 == "50%" { print $2 }' "$TMP/wrk-shadow-$phase.txt")
        p99=$(awk '$1 == "99%" { print $2 }' "$TMP/wrk-shadow-$phase.txt")
        bad=$(grep -o 'non2xx=[0-9]*' "$TMP/wrk-shadow-$phase.txt" | cut -d= -f2)
        log "one instance, $phase a candidate: $rps calls/s, p50 $p50, p99 $p99, non-2xx ${bad:-?}; shadow runs $runs, dropped $drops"
        echo "shadow: phase=$phase calls_per_s=$rps p50=$p50 p99=$p99 non2xx=${bad:-?} shadow_runs=$runs shadow_dropped=$drops"
    done
fi
# The verdict's line is the last.
cat "$TMP/verdict"
exit "$RESULT"
