#!/usr/bin/env bash
# Stop the test Dovecot of IMAPAPI_DOVECOT_DIR (default /tmp/imapapi-dovecot). Leaves the
# run dir (certificates, users, mail) in place; delete it by hand for a clean slate.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=infra/lib.sh
source "$here/../lib.sh"

RUN_DIR=${IMAPAPI_DOVECOT_DIR:-/tmp/imapapi-dovecot}
pid_file=$RUN_DIR/run/master.pid

[[ -s $pid_file ]] || { log "dovecot not running (no $pid_file)"; exit 0; }
pid=$(<"$pid_file")
if ! kill -0 "$pid" 2>/dev/null; then
    log "dovecot not running (stale pid $pid)"
    rm -f "$pid_file"
    exit 0
fi
# Only signal the pid if it really is a dovecot master, never an unrelated reused pid.
[[ $(cat "/proc/$pid/comm" 2>/dev/null) == dovecot ]] || die "pid $pid is not dovecot"
kill -TERM "$pid"
for _ in $(seq 1 80); do
    kill -0 "$pid" 2>/dev/null || { log "dovecot stopped"; exit 0; }
    sleep 0.25
done
log "dovecot did not stop within 20s; sending KILL"
kill -KILL "$pid" 2>/dev/null || true
sleep 0.5
kill -0 "$pid" 2>/dev/null && die "could not stop dovecot pid $pid"
exit 0
