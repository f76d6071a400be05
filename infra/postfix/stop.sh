#!/usr/bin/env bash
# Stop the test Postfix of IMAPAPI_POSTFIX_DIR (default /tmp/imapapi-postfix). Leaves the
# run dir (config, queue, log) in place; delete it by hand for a clean slate. Does not
# touch the test Dovecot (infra/dovecot/stop.sh) or any system Postfix.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=infra/lib.sh
source "$here/../lib.sh"

RUN_DIR=${IMAPAPI_POSTFIX_DIR:-/tmp/imapapi-postfix}
pid_file=$RUN_DIR/queue/pid/master.pid

[[ -s $pid_file ]] || { log "postfix not running (no $pid_file)"; exit 0; }
pid=$(tr -dc 0-9 <"$pid_file")
if [[ -z $pid ]] || ! kill -0 "$pid" 2>/dev/null; then
    log "postfix not running (stale pid ${pid:-?})"
    exit 0
fi
# Only signal the pid if it really is a Postfix master, never an unrelated reused pid.
[[ $(cat "/proc/$pid/comm" 2>/dev/null) == master ]] || die "pid $pid is not a postfix master"
# `postfix stop` signals the master, which stops its children, and waits up to 5s.
timeout 30 postfix -c "$RUN_DIR/conf" stop </dev/null >>"$RUN_DIR/postfix.stdout" 2>&1 \
    || kill -TERM "$pid" 2>/dev/null || true
for _ in $(seq 1 80); do
    kill -0 "$pid" 2>/dev/null || { log "postfix stopped"; exit 0; }
    sleep 0.25
done
log "postfix did not stop within 20s; sending KILL"
kill -KILL "$pid" 2>/dev/null || true
sleep 0.5
kill -0 "$pid" 2>/dev/null && die "could not stop postfix pid $pid"
exit 0
