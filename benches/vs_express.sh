#!/usr/bin/env bash
# lookout against a hand-written Node/Express webhook doing the same ten desk checks
# (issue 14), side by side on this machine, one after the other in one run:
#
#   bash benches/vs_express.sh
#
# The two servers:
#   lookout  the release build of this checkout (or LOOKOUT_BIN) serving benches/desk (ten
#            checks written plainly, signed calls, recording on: SQLite in a temp folder);
#   express  benches/express/server.js: the same checks in JavaScript, Express 4 from npm
#            (`npm ci` from package-lock.json when node_modules is missing), HTTPS, `cluster`
#            with one worker per core, the HMAC checked on the raw body before JSON.parse.
# Both use the same development certificate (`lookout certs`) and the same key.
#
# The workloads, each sent to each server with
#   wrk -t$THREADS -c$CONNECTIONS -d$DURATION --timeout 10s --latency -s benches/edits.lua
# from the same signed bodies, made from SAMPLE (rules/samples/multiport-100k.json):
#   edits  the Estimator's pattern: EDIT_ESTIMATES (8) estimates, each through EDIT_STEPS
#          (64) successive small edits (benches/edits.py), sent interleaved, each estimate
#          one edit further every time;
#   cold   COLD_ESTIMATES (512) different estimates (their own estimateID each), one body
#          each, sent in turn: no call follows an earlier body of its estimate. (A run
#          sends more calls than there are bodies, so bodies come round again: lookout
#          serves this workload with `reuse_memory_mb = 1`, which holds the runs of about
#          ten estimates, so a body's runs are gone before it comes round and every call
#          is evaluated in full, paying for recording its reads as with reuse on.)
# For lookout, the run's reuse counters from /metrics follow (reused / changed / first
# rule runs): the edit stream's reuse, and the proof that the cold run reused nothing.
# Before each wrk run: one signed call must get 200 with a JSON array, a wrong signature
# 401, and the two servers must raise the same alerts on SAMPLE (messages compared).
#
# Reported per server and workload: calls/s, p50 and p99 (wrk), server CPU per call (the
# process tree's user + system ticks over the wrk run divided by the requests answered),
# RSS of the process tree idle (before wrk) and peak (the largest sum sampled every
# 0.2 s during wrk), and non-2xx answers. Then lookout / express for each figure.
#
# Knobs: DURATION (30s), THREADS (2), CONNECTIONS (16), ROUNDS (1), WORKLOADS ("edits
# cold"), SAMPLE, EDIT_ESTIMATES, EDIT_STEPS, COLD_ESTIMATES, LOOKOUT_BIN (skip the build),
# WAIT_FOR_QUIET (1) and LOAD_MAX (0.8) as in benches/lib.sh. Loopback only; everything
# started is stopped and the temp folder removed on exit (Ctrl-C included).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-30s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-16}
ROUNDS=${ROUNDS:-1}
WORKLOADS=${WORKLOADS:-edits cold}
SAMPLE=${SAMPLE:-rules/samples/multiport-100k.json}
EDIT_ESTIMATES=${EDIT_ESTIMATES:-8}
EDIT_STEPS=${EDIT_STEPS:-64}
COLD_ESTIMATES=${COLD_ESTIMATES:-512}
WAIT_FOR_QUIET=${WAIT_FOR_QUIET:-1}
LOAD_MAX=${LOAD_MAX:-0.8}

log() { printf '[vs_express] %s\n' "$*" >&2; }
# shellcheck source=benches/lib.sh
. "$ROOT/benches/lib.sh"

ensure_wrk
for tool in curl awk python3 node npm; do
    command -v "$tool" >/dev/null || { log "$tool is required"; exit 2; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lookout-vs-express.XXXXXX")
SERVER=""
SAMPLER=""
cleanup() {
    local code=$?
    [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null || true
    if [ -n "$SERVER" ]; then stop; fi
    if [ "$code" != 0 ] && [ -f "$TMP/server.log" ]; then
        log "server log (last lines):"
        tail -n 20 "$TMP/server.log" >&2 || true
    fi
    rm -rf "$TMP"
    exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the two servers ---------------------------------------------------------------------
if [ -n "${LOOKOUT_BIN:-}" ]; then
    cp "$LOOKOUT_BIN" "$TMP/lookout"
    LOOKOUT_LABEL="given ($LOOKOUT_BIN)"
else
    log "building lookout (release)"
    cargo build --release --locked --quiet --bin lookout
    cp target/release/lookout "$TMP/lookout"
    LOOKOUT_LABEL="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo +working)"
fi
if [ ! -d "$ROOT/benches/express/node_modules/express" ]; then
    log "installing Express from package-lock.json (npm ci)"
    (cd "$ROOT/benches/express" && npm ci --no-audit --no-fund --loglevel=error)
fi
EXPRESS_VERSION=$(node -p "require('$ROOT/benches/express/node_modules/express/package.json').version")
NODE_VERSION=$(node --version)

mkdir -p "$TMP/rules" "$TMP/rules-cold"
cp -r "$ROOT/benches/desk" "$TMP/rules/desk"
cp -r "$ROOT/benches/desk" "$TMP/rules-cold/desk"
printf '\n# benches/vs_express.sh, cold: no run kept long enough to be reused\nreuse_memory_mb = 1\n' >>"$TMP/rules-cold/desk/ruleset.toml"
LOOKOUT_KEY_DESK=$(head -c 36 /dev/urandom | base64 | tr '+/' '-_')
export LOOKOUT_KEY_DESK
LOOKOUT_ADMIN_TOKEN=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
export LOOKOUT_ADMIN_TOKEN
"$TMP/lookout" certs --out "$TMP/certs" >/dev/null
BODY=$ROOT/$SAMPLE
SIG=$("$TMP/lookout" sign --key-env LOOKOUT_KEY_DESK "$BODY")
CURL=(curl -sS --max-time 15 --cacert "$TMP/certs/ca.pem")

# --- the bodies ----------------------------------------------------------------------------
for workload in $WORKLOADS; do
    case $workload in
        edits) python3 "$ROOT/benches/edits.py" "$BODY" "$TMP/edits" "$EDIT_ESTIMATES" "$EDIT_STEPS" ;;
        cold) python3 "$ROOT/benches/edits.py" "$BODY" "$TMP/cold" "$COLD_ESTIMATES" 1 ;;
        *) log "unknown workload $workload (edits, cold)"; exit 2 ;;
    esac
    edits_manifest "$TMP/$workload" "$TMP/lookout" LOOKOUT_KEY_DESK >"$TMP/$workload.manifest"
    log "$workload: $(wc -l <"$TMP/$workload.manifest") signed bodies from $SAMPLE ($(du -sh "$TMP/$workload" | cut -f1))"
done

# --- one run -------------------------------------------------------------------------------
tree() { echo "$SERVER"; pgrep -P "$SERVER" 2>/dev/null || true; }
tree_ticks() { local p s=0; for p in $(tree); do s=$((s + $(ticks_of "$p"))); done; echo "$s"; }
tree_rss_kb() { local p s=0 r; for p in $(tree); do r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0); s=$((s + ${r:-0})); done; echo "$s"; }

start() { # server [workload]
    PORT=$(free_port)
    local rules=$TMP/rules
    [ "${2:-}" = cold ] && rules=$TMP/rules-cold
    URL=https://127.0.0.1:$PORT
    case $1 in
        lookout)
            RUST_LOG=warn "$TMP/lookout" serve --listen "127.0.0.1:$PORT" --rules "$rules" \
                --certs "$TMP/certs" --data "$TMP/data-$PORT" >>"$TMP/server.log" 2>&1 &
            ;;
        express)
            node "$ROOT/benches/express/server.js" "$PORT" "$TMP/certs/cert.pem" "$TMP/certs/key.pem" \
                "$TMP/rules/desk/data" >>"$TMP/server.log" 2>&1 &
            ;;
    esac
    SERVER=$!
    local code="" i
    for i in $(seq 1 80); do
        kill -0 "$SERVER" 2>/dev/null || { log "$1 exited"; exit 1; }
        code=$("${CURL[@]}" -o "$TMP/answer-$1.json" -w '%{http_code}' -H "Veson-Webhook-Signature: $SIG" \
            -H 'Content-Type: application/json' --data-binary "@$BODY" "$URL/hooks/desk" 2>/dev/null || true)
        [ "$code" = 200 ] && break
        sleep 0.25
    done
    [ "$code" = 200 ] || { log "$1 did not answer a signed call with 200 within 20 s (HTTP $code)"; exit 1; }
    python3 -c 'import json,sys; sys.exit(0 if isinstance(json.load(open(sys.argv[1])), list) else 1)' "$TMP/answer-$1.json" \
        || { log "$1 answered: $(head -c 300 "$TMP/answer-$1.json")"; exit 1; }
    code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' -H "Veson-Webhook-Signature: $(printf '0%.0s' $(seq 1 64))" \
        -H 'Content-Type: application/json' --data-binary "@$BODY" "$URL/hooks/desk")
    [ "$code" = 401 ] || { log "$1: a wrong signature got HTTP $code, expected 401"; exit 1; }
    sleep 1 # workers settle; then the idle figure
}
stop() {
    pkill -TERM -P "$SERVER" 2>/dev/null || true
    kill "$SERVER" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
    pkill -KILL -P "$SERVER" 2>/dev/null || true
    kill -9 "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    SERVER=""
    rm -rf "$TMP"/data-*
}

RESULTS=()
run() { # server workload round
    local server=$1 workload=$2 out=$TMP/wrk-$1-$2-$3.txt
    start "$server" "$workload"
    local idle peak_file=$TMP/rss-$server-$workload
    idle=$(tree_rss_kb)
    wait_for_quiet
    : >"$peak_file"
    ( while :; do tree_rss_kb >>"$peak_file"; sleep 0.2; done ) &
    SAMPLER=$!
    local load t0 c0 c1
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    log "[$server $workload $3] load $load: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency -s edits.lua $URL/hooks/desk"
    c0=$(tree_ticks)
    LOOKOUT_LOAD_BODY=$BODY LOOKOUT_LOAD_SIGNATURE=$SIG LOOKOUT_LOAD_MANIFEST=$TMP/$workload.manifest LOOKOUT_LOAD_THREADS=$THREADS \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 10s --latency -s "$ROOT/benches/edits.lua" "$URL/hooks/desk" >"$out"
    c1=$(tree_ticks)
    kill "$SAMPLER" 2>/dev/null || true
    wait "$SAMPLER" 2>/dev/null || true
    SAMPLER=""
    local reuse=""
    if [ "$server" = lookout ]; then
        reuse=$("${CURL[@]}" -H "Authorization: Bearer $LOOKOUT_ADMIN_TOKEN" "$URL/metrics" | awk -F'[{}" ]+' '
            /^lookout_rule_reuse_total/ { n[$3] = $NF }
            /^lookout_rule_reuse_bytes / { b = $NF }
            END { printf "reused=%d changed=%d first=%d reuse_mib=%.1f", n["reused"], n["changed"], n["first"], b / 1048576 }')
        log "[$server $workload $3] rule runs: $reuse"
    fi
    stop
    local result requests peak cpu
    result=$(grep '^LOOKOUT_RESULT' "$out" | sed 's/^LOOKOUT_RESULT //')
    [ -n "$result" ] || { cat "$out" >&2; log "wrk printed no result"; exit 1; }
    requests=$(field "$result" requests)
    peak=$(sort -n "$peak_file" | tail -1)
    cpu=$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.3f", t / hz * 1000 / n }')
    log "[$server $workload $3] $(field "$result" rps) calls/s, p50 $(field "$result" p50_ms) ms, p99 $(field "$result" p99_ms) ms, $cpu ms CPU a call, RSS $((idle / 1024)) MiB idle, $((peak / 1024)) MiB peak, non-2xx $(field "$result" non2xx)"
    RESULTS+=("$server-$workload-$3 server=$server workload=$workload $result cpu_ms=$cpu rss_idle_mib=$((idle / 1024)) rss_peak_mib=$((peak / 1024)) load=${load// /,} $reuse")
}

# The same alerts from both, on the sample (GUIDs are each server's own).
start lookout; stop
start express; stop
same=$(python3 - "$TMP/answer-lookout.json" "$TMP/answer-express.json" <<'EOF'
import json, sys
a, b = (sorted((x["alertType"], x["message"]) for x in json.load(open(p))) for p in sys.argv[1:3])
print("yes" if a == b else "NO")
if a != b:
    for x in sorted(set(a) ^ set(b)):
        print("  differs:", x, file=sys.stderr)
EOF
)
[ "$same" = yes ] || { log "the two servers do not raise the same alerts on $SAMPLE"; exit 1; }
log "both raise the same $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$TMP/answer-lookout.json") alerts on $SAMPLE"

for round in $(seq 1 "$ROUNDS"); do
    for workload in $WORKLOADS; do
        run lookout "$workload" "$round"
        run express "$workload" "$round"
    done
done

# --- summary -------------------------------------------------------------------------------
echo
echo "lookout vs Express — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), loopback; wrk -t$THREADS -c$CONNECTIONS -d$DURATION; $SAMPLE"
echo "lookout $LOOKOUT_LABEL (benches/desk, recording on); Express $EXPRESS_VERSION on Node $NODE_VERSION, $(nproc) workers"
printf '%-22s %9s %8s %8s %8s %9s %9s %7s  %-16s %s\n' run calls/s p50_ms p99_ms cpu_ms rss_idle rss_peak non2xx "load(1,5,15)" \
    "rule runs reused/changed/first"
for row in "${RESULTS[@]}"; do
    rest=${row#* }
    runs=""
    [ -n "$(field "$rest" reused)" ] && runs="$(field "$rest" reused)/$(field "$rest" changed)/$(field "$rest" first)"
    printf '%-22s %9s %8s %8s %8s %9s %9s %7s  %-16s %s\n' "${row%% *}" "$(field "$rest" rps)" "$(field "$rest" p50_ms)" \
        "$(field "$rest" p99_ms)" "$(field "$rest" cpu_ms)" "$(field "$rest" rss_idle_mib)" "$(field "$rest" rss_peak_mib)" \
        "$(field "$rest" non2xx)" "$(field "$rest" load)" "$runs"
done
# lookout / express per workload (means over rounds).
printf '%s\n' "${RESULTS[@]}" | awk '
    { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      k = v["server"] SUBSEP v["workload"]; n[k]++
      rps[k] += v["rps"]; cpu[k] += v["cpu_ms"]; p99[k] += v["p99_ms"]; peak[k] += v["rss_peak_mib"]; w[v["workload"]] = 1 }
    END { for (x in w) { l = "lookout" SUBSEP x; e = "express" SUBSEP x
          if (n[l] && n[e]) printf "%s: lookout/express calls/s %.2f, CPU per call %.2f, p99 %.2f, peak RSS %.2f\n", x,
              (rps[l] / n[l]) / (rps[e] / n[e]), (cpu[l] / n[l]) / (cpu[e] / n[e]), (p99[l] / n[l]) / (p99[e] / n[e]), (peak[l] / n[l]) / (peak[e] / n[e]) } }'
