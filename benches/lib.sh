# Shell helpers shared by the benchmarks (benches/load.sh, benches/log_load.sh,
# benches/events_load.sh, benches/log_list.sh, benches/soak.sh, benches/faults.sh,
# benches/vs_express.sh).
# Source it after defining `log` (used for messages); it sets no traps and starts nothing.
#
#   . "$ROOT/benches/lib.sh"
#
# Reads these variables of the sourcing script (defaults in brackets):
#   WAIT_FOR_QUIET [1], LOAD_MAX [0.8]   wait_for_quiet
#   PG_FAST [0]                          pg_start: fsync=off, synchronous_commit=off
#   SERVER                               thread_ticks' default pid
# and sets PG_BIN, PG_PORT, PG_ROOT, PG_PID (the throw-away PostgreSQL) and CLK_TCK.

# The value of `key` in a "k=v k=v" line (what the runs report): field "$line" key
field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }

# The manifest benches/edits.lua reads, for the bodies benches/edits.py wrote in DIR: one
# line "<estimate> <step> <path> <signature>" each, signed by `BIN sign --key-env VAR`.
#   edits_manifest DIR BIN VAR >FILE
edits_manifest() {
    local f name
    for f in "$1"/e*.json; do
        name=${f##*/e}; name=${name%.json}
        printf '%s %s %s %s\n' "${name%-*}" "${name#*-}" "$f" "$("$2" sign --key-env "$3" "$f")"
    done
}

# A free loopback port: bind port 0 and read what the kernel picked. Without python3 (which
# benches/load.sh does not require), a random port in 20000-39999 that nothing answers on.
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

# wrk from Debian when it is missing.
ensure_wrk() {
    if ! command -v wrk >/dev/null; then
        log "wrk is missing; installing the Debian package"
        if [ "$(id -u)" = 0 ]; then apt-get install -y wrk; else sudo apt-get install -y wrk; fi
    fi
}

# --- CPU time ---------------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
# CPU time (user + system) a process or thread (`pid` or `pid/task/tid`) has used, in clock
# ticks; 0 when it is gone.
ticks_of() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# CPU ticks by thread name of a process (default $SERVER), one "name ticks" line each;
# names lose a trailing number (lookout-rules-0 and -1 add up as lookout-rules-).
thread_ticks() {
    local pid=${1:-$SERVER} t
    for t in /proc/"$pid"/task/*; do
        printf '%s %s\n' "$(tr ' ' '_' <"$t/comm" 2>/dev/null)" "$(ticks_of "${t#/proc/}")"
    done | awk '{ sub(/-?[0-9]+$/, "", $1); s[$1] += $2 } END { for (k in s) print k, s[k] }' | sort
}

# --- a quiet machine ------------------------------------------------------------------
# Waits (at most 10 min) until the 1-minute load average is below LOAD_MAX; the machine is
# shared. A no-op unless WAIT_FOR_QUIET=1.
wait_for_quiet() {
    [ "${WAIT_FOR_QUIET:-1}" = 1 ] || return 0
    local waited=0 load max=${LOAD_MAX:-0.8}
    while :; do
        load=$(awk '{ print $1 }' /proc/loadavg)
        if awk -v l="$load" -v m="$max" 'BEGIN { exit !(l < m) }'; then break; fi
        if [ "$waited" -ge 600 ]; then log "load average still $load after 10 min; measuring anyway"; break; fi
        log "1-minute load average $load >= $max (machine shared); waiting 20 s"
        sleep 20
        waited=$((waited + 20))
    done
}

# --- a throw-away PostgreSQL ----------------------------------------------------------
# Debian's newest /usr/lib/postgresql/<version>/bin; initdb into a temp folder (as the
# `postgres` user when run as root); 127.0.0.1 only, on a free port; default durability
# settings unless PG_FAST=1. pg_stop stops it and deletes the folder (call it from the
# script's exit trap; it is a no-op when nothing was started).
PG_BIN=${PG_BIN:-}
PG_PORT=${PG_PORT:-}
PG_ROOT=${PG_ROOT:-}
PG_PID=${PG_PID:-}
as_pg() { if [ "$(id -u)" = 0 ]; then setpriv --reuid=postgres --regid=postgres --clear-groups -- "$@"; else "$@"; fi; }
pg_start() {
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n | tail -n 1)
    [ -x "$PG_BIN/initdb" ] || { log "PostgreSQL binaries not found (apt-get install postgresql)"; exit 2; }
    command -v psql >/dev/null || { log "psql is required"; exit 2; }
    PG_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/lookout-bench-pg.XXXXXX")
    if [ "$(id -u)" = 0 ]; then chown postgres "$PG_ROOT"; fi
    as_pg "$PG_BIN/initdb" -D "$PG_ROOT/data" -U postgres --auth=trust --encoding=UTF8 --locale=C >"$PG_ROOT/initdb.log" 2>&1 \
        || { cat "$PG_ROOT/initdb.log" >&2; exit 1; }
    PG_PORT=$(free_port)
    local options="-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PG_ROOT"
    if [ "${PG_FAST:-0}" = 1 ]; then options="$options -c fsync=off -c synchronous_commit=off -c full_page_writes=off"; fi
    (cd "$PG_ROOT" && as_pg "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -l "$PG_ROOT/server.log" -o "$options" -w -t 60 start >/dev/null) \
        || { log "PostgreSQL did not start:"; tail "$PG_ROOT/server.log" >&2; exit 1; }
    PG_PID=$(head -n 1 "$PG_ROOT/data/postmaster.pid")
    log "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $NF}') on 127.0.0.1:$PG_PORT, data $PG_ROOT/data$([ "${PG_FAST:-0}" = 1 ] && echo ', fsync=off')"
}
pg_stop() {
    [ -n "$PG_ROOT" ] || return 0
    if [ -f "$PG_ROOT/data/postmaster.pid" ]; then
        as_pg "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    fi
    if [ -n "$PG_PID" ] && kill -0 "$PG_PID" 2>/dev/null; then kill -9 "$PG_PID" 2>/dev/null || true; fi
    PG_PID=""
    rm -rf "$PG_ROOT"
    PG_ROOT=""
}
psql_do() { psql -qAtX -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"; }
# CPU ticks of the PostgreSQL server and its backends.
pg_ticks() {
    local master sum=0 p
    master=$(head -n 1 "$PG_ROOT/data/postmaster.pid" 2>/dev/null) || { echo 0; return; }
    for p in "$master" $(ps -o pid= --ppid "$master"); do sum=$((sum + $(ticks_of "$p"))); done
    echo "$sum"
}
# The same plus the CPU of backends that have exited (the postmaster's reaped children):
# for a client whose connections come and go, where pg_ticks misses the ones that are gone.
pg_ticks_all() {
    local master reaped
    master=$(head -n 1 "$PG_ROOT/data/postmaster.pid" 2>/dev/null) || { echo 0; return; }
    reaped=$(awk '{ sub(/^.*\) /, ""); print $14 + $15 }' "/proc/$master/stat" 2>/dev/null || echo 0)
    echo $(($(pg_ticks) + reaped))
}
