#!/usr/bin/env bash
# Start (or confirm running) the test OAuth2 authorization server (server.py, Python 3
# standard library only) on 127.0.0.1:$IMAPAPI_OAUTH2_PORT (4480). The test Dovecot checks
# XOAUTH2/OAUTHBEARER bearer tokens at its /introspect endpoint; tests issue, expire and
# revoke tokens through its /admin endpoints (see infra/README.md).
#
# Env overrides: IMAPAPI_OAUTH2_DIR (run dir, default /tmp/imapapi-oauth2),
# IMAPAPI_OAUTH2_PORT (4480).
# Writes <run dir>/env (shell-sourceable KEY=value lines), <run dir>/server.pid and logs to
# <run dir>/server.log. Idempotent and safe to run concurrently (flock on the run dir). A
# running server with an older SERVER_VERSION (server.py) is restarted; its tokens are lost.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=infra/lib.sh
source "$here/../lib.sh"

RUN_DIR=${IMAPAPI_OAUTH2_DIR:-/tmp/imapapi-oauth2}
PORT=${IMAPAPI_OAUTH2_PORT:-4480}
SERVER=$here/server.py
[[ $PORT =~ ^[0-9]+$ ]] || die "IMAPAPI_OAUTH2_PORT must be a number: $PORT"

command -v python3 >/dev/null || apt_install python3
command -v setsid >/dev/null || die "setsid (util-linux) missing"

mkdir -p "$RUN_DIR"
RUN_DIR=$(cd "$RUN_DIR" && pwd)
PID_FILE=$RUN_DIR/server.pid
LOG_FILE=$RUN_DIR/server.log

exec 9>"$RUN_DIR/.lock"
flock -w 60 9 || die "timed out waiting for $RUN_DIR/.lock"

ours=$(sed -n 's/^SERVER_VERSION = \([0-9][0-9]*\)$/\1/p' "$SERVER" | head -n1)
[[ -n $ours ]] || die "no SERVER_VERSION line in $SERVER"

# health: the server's /health answer ({"ok":true,"pid":N,"version":N}), empty if none.
# HTTP/1.0 over bash's /dev/tcp (no curl on a fresh machine); the server closes after it.
health() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3
        cat <&3' _ "$PORT" 2>/dev/null | grep -o '"ok":true[^}]*' || true
}
field() { sed -n "s/.*\"$1\":\([0-9][0-9]*\).*/\1/p" <<<"$2"; }

# our_pid PID: true when PID is a live server.py (of any checkout) for this port.
our_pid() {
    [[ -n $1 ]] && kill -0 "$1" 2>/dev/null \
        && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q 'oauth2-server/server.py' \
        && tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null | grep -qx "IMAPAPI_OAUTH2_PORT=$PORT"
}

stop_server() {
    local pid=$1 waited=0
    our_pid "$pid" || return 0
    kill "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null || port_open "$PORT"; do
        (( waited >= 40 )) && die "oauth2 server (pid $pid) still running 10s after SIGTERM"
        sleep 0.25
        waited=$((waited + 1))
    done
}

answer=$(health)
if [[ -n $answer ]]; then
    theirs=$(field version "$answer")
    if (( ${theirs:-0} < ours )); then
        log "oauth2 server version ${theirs:-0} < $ours is running; restarting it (tokens are lost)"
        stop_server "$(field pid "$answer")"
        answer=""
    fi
else
    # A server of ours that does not answer (hung) would only be in the way.
    if [[ -s $PID_FILE ]] && our_pid "$(<"$PID_FILE")"; then
        log "oauth2 server pid $(<"$PID_FILE") does not answer; stopping it"
        stop_server "$(<"$PID_FILE")"
    fi
fi

if [[ -z $answer ]]; then
    port_open "$PORT" && die "port $PORT is taken by another process (not the oauth2 server)"
    log "starting oauth2 server on 127.0.0.1:$PORT (log $LOG_FILE)"
    # setsid: not killed with the caller's process group; 9>&-: must not hold the lock;
    # output to a file: a daemon holding the caller's stdout/stderr would block a caller
    # that captures them.
    IMAPAPI_OAUTH2_PORT=$PORT setsid python3 "$SERVER" </dev/null >>"$LOG_FILE" 2>&1 9>&- &
    child=$!
    waited=0
    until answer=$(health) && [[ -n $answer ]]; do
        if ! kill -0 "$child" 2>/dev/null; then
            die "oauth2 server exited at start: $(tail -n 5 "$LOG_FILE" | tr '\n' ' ')"
        fi
        if (( waited >= 60 )); then
            die "oauth2 server did not answer on 127.0.0.1:$PORT within 15s; see $LOG_FILE"
        fi
        sleep 0.25
        waited=$((waited + 1))
    done
fi
pid=$(field pid "$answer")
[[ -s $PID_FILE && $(<"$PID_FILE") == "$pid" ]] || echo "$pid" > "$PID_FILE"

# Atomic replace: concurrent readers never see a half-written file.
url=http://127.0.0.1:$PORT
cat > "$RUN_DIR/env.tmp" <<ENV
IMAPAPI_OAUTH2_URL=$url
IMAPAPI_OAUTH2_PORT=$PORT
IMAPAPI_OAUTH2_AUTH_URL=$url/auth
IMAPAPI_OAUTH2_TOKEN_URL=$url/token
IMAPAPI_OAUTH2_INTROSPECT_URL=$url/introspect
IMAPAPI_OAUTH2_CLIENT_ID=test-client
IMAPAPI_OAUTH2_CLIENT_SECRET=test-secret
IMAPAPI_OAUTH2_LOG=$LOG_FILE
ENV
if ! cmp -s "$RUN_DIR/env.tmp" "$RUN_DIR/env" 2>/dev/null; then
    mv "$RUN_DIR/env.tmp" "$RUN_DIR/env"
else
    rm -f "$RUN_DIR/env.tmp"
fi
log "oauth2 server up: $url (pid $pid), env in $RUN_DIR/env"
