#!/usr/bin/env bash
# Stop the test OAuth2 server of IMAPAPI_OAUTH2_DIR (default /tmp/imapapi-oauth2). Every
# token it issued is lost (state is in memory only).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=infra/lib.sh
source "$here/../lib.sh"

RUN_DIR=${IMAPAPI_OAUTH2_DIR:-/tmp/imapapi-oauth2}
pid_file=$RUN_DIR/server.pid

[[ -s $pid_file ]] || { log "oauth2 server not running (no $pid_file)"; exit 0; }
pid=$(<"$pid_file")
if ! kill -0 "$pid" 2>/dev/null; then
    log "oauth2 server not running (stale pid $pid)"
    rm -f "$pid_file"
    exit 0
fi
# Only signal the pid if it really is the server, never an unrelated reused pid.
tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'oauth2-server/server.py' \
    || die "pid $pid is not the oauth2 server"
kill -TERM "$pid"
for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pid_file"; log "oauth2 server stopped"; exit 0; }
    sleep 0.25
done
log "oauth2 server did not stop within 10s; sending KILL"
kill -KILL "$pid" 2>/dev/null || true
sleep 0.5
kill -0 "$pid" 2>/dev/null && die "could not stop oauth2 server pid $pid"
rm -f "$pid_file"
