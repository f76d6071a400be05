#!/usr/bin/env bash
# Start (or confirm running) the test Postfix: SMTP submission with STARTTLS on
# 127.0.0.1:2587 and implicit TLS on 127.0.0.1:2465 (never port 25). SMTP AUTH (PLAIN,
# LOGIN, XOAUTH2, OAUTHBEARER: Postfix offers what Dovecot offers) is checked by the test
# Dovecot (the SMTP users are the Dovecot test users) and is required to send; every
# recipient, any domain, is delivered over LMTP into the test Dovecot (user@<any domain>
# lands in Dovecot user "user"'s INBOX). Nothing is delivered elsewhere.
# Starts the test Dovecot first (infra/dovecot/start.sh) and uses its TLS certificates.
#
# Env overrides: IMAPAPI_POSTFIX_DIR (run dir, default /tmp/imapapi-postfix),
# IMAPAPI_SMTP_PORT (2587), IMAPAPI_SMTPS_PORT (2465), and Dovecot's (IMAPAPI_DOVECOT_DIR...).
# Writes <run dir>/env (shell-sourceable KEY=value lines) for tests and other scripts.
# Idempotent and safe to run concurrently (flock on the run dir). A running instance of
# this run dir with an older config version is reloaded (`postfix reload`).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=infra/lib.sh
source "$here/../lib.sh"

RUN_DIR=${IMAPAPI_POSTFIX_DIR:-/tmp/imapapi-postfix}
SMTP_PORT=${IMAPAPI_SMTP_PORT:-2587}
SMTPS_PORT=${IMAPAPI_SMTPS_PORT:-2465}
DOVECOT_DIR=${IMAPAPI_DOVECOT_DIR:-/tmp/imapapi-dovecot}
CONF_DIR=$RUN_DIR/conf

# Dovecot first: it owns the users, the certificates and the auth and LMTP sockets.
bash "$here/../dovecot/start.sh"

# env_get KEY FILE: the value of KEY= in a KEY=value file (empty if absent).
env_get() { sed -n "s/^$1=//p" "$2" | tail -n1; }
dovecot_env=$DOVECOT_DIR/env
[[ -s $dovecot_env ]] || die "no $dovecot_env after infra/dovecot/start.sh"
CA_CERT=$(env_get CA_CERT "$dovecot_env")
TLS_DIR=$(dirname "$CA_CERT")
USERS_DIR=$(env_get USERS_DIR "$dovecot_env")
LMTP_SOCKET=$(env_get LMTP_SOCKET "$dovecot_env")
AUTH_SOCKET=$(env_get AUTH_SOCKET "$dovecot_env")
LMTP_SOCKET=${LMTP_SOCKET:-$DOVECOT_DIR/run/lmtp}
AUTH_SOCKET=${AUTH_SOCKET:-$DOVECOT_DIR/run/smtp-auth}
for s in "$LMTP_SOCKET" "$AUTH_SOCKET"; do
    [[ -S $s ]] || die "Dovecot has no socket $s (an old Dovecot config is running?" \
        "Run: bash infra/dovecot/stop.sh && bash infra/dovecot/start.sh)"
done
[[ -r $TLS_DIR/server.crt && -r $TLS_DIR/server.key ]] || die "no server certificate in $TLS_DIR"

if ! command -v postfix >/dev/null || [[ ! -x /usr/lib/postfix/sbin/master ]]; then
    # "No configuration": the package writes no /etc/postfix/main.cf, so the system
    # Postfix neither starts nor listens on port 25. Preseeded under apt_install's lock,
    # since debconf's database is locked while another apt run configures packages.
    (
        flock -w 600 8 || die "timed out waiting for the apt lock"
        echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    ) 8>/tmp/imapapi-apt.lock
    apt_install postfix
fi
id -u postfix >/dev/null 2>&1 || die "system user postfix missing (postfix package broken?)"

mkdir -p "$RUN_DIR"
RUN_DIR=$(cd "$RUN_DIR" && pwd)
CONF_DIR=$RUN_DIR/conf
# Postfix's unix sockets live under queue/ and must stay below ~100 bytes.
(( ${#RUN_DIR} <= 60 )) || die "IMAPAPI_POSTFIX_DIR too long for Postfix's sockets: $RUN_DIR"

exec 9>"$RUN_DIR/.lock"
flock -w 120 9 || die "timed out waiting for $RUN_DIR/.lock"

# Postfix wants the queue dir owned by root and the run dir traversable by user postfix.
mkdir -p "$CONF_DIR" "$RUN_DIR/queue" "$RUN_DIR/data"
chown root:root "$RUN_DIR" "$CONF_DIR" "$RUN_DIR/queue"
chmod 755 "$RUN_DIR" "$CONF_DIR" "$RUN_DIR/queue"
chown postfix "$RUN_DIR/data"
chmod 700 "$RUN_DIR/data"

cert_sha=$(sha256sum "$TLS_DIR/server.crt" | cut -d' ' -f1)
render() {
    sed -e "s|@RUN_DIR@|$RUN_DIR|g" -e "s|@TLS_DIR@|$TLS_DIR|g" \
        -e "s|@LMTP_SOCKET@|$LMTP_SOCKET|g" -e "s|@AUTH_SOCKET@|$AUTH_SOCKET|g" \
        -e "s|@SMTP_PORT@|$SMTP_PORT|g" -e "s|@SMTPS_PORT@|$SMTPS_PORT|g" \
        -e "s|@CERT_SHA@|$cert_sha|g" "$1"
}
new_main=$(render "$here/main.cf.in")
new_master=$(render "$here/master.cf.in")

# The "# rig-config-version: N" line of a config.
conf_version() {
    local v
    v=$(sed -n 's/^# rig-config-version: \([0-9][0-9]*\)$/\1/p' <<<"$1" | head -n1)
    echo "${v:-1}"
}
ours=$(conf_version "$new_main")

master_pid() {
    local f=$RUN_DIR/queue/pid/master.pid pid
    [[ -s $f ]] || return 1
    pid=$(tr -dc 0-9 <"$f")
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null \
        && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == master ]] && echo "$pid"
}

write_conf() {
    printf '%s\n' "$new_main" > "$CONF_DIR/main.cf.tmp"
    printf '%s\n' "$new_master" > "$CONF_DIR/master.cf.tmp"
    chmod 644 "$CONF_DIR/main.cf.tmp" "$CONF_DIR/master.cf.tmp"
    mv "$CONF_DIR/main.cf.tmp" "$CONF_DIR/main.cf"
    mv "$CONF_DIR/master.cf.tmp" "$CONF_DIR/master.cf"
}

# Postfix commands: bounded in time; output (it also logs to postfix.log) into a file, and
# 9>&-: the master daemon must not inherit (and hold forever) the run-dir lock.
pf() {
    timeout 60 postfix -c "$CONF_DIR" "$@" 9>&- </dev/null >>"$RUN_DIR/postfix.stdout" 2>&1 \
        || die "postfix $* failed; see $RUN_DIR/postfix.stdout and $RUN_DIR/postfix.log"
}

keep_env=false
if master_pid >/dev/null; then
    current_main=$(cat "$CONF_DIR/main.cf" 2>/dev/null || true)
    current_master=$(cat "$CONF_DIR/master.cf" 2>/dev/null || true)
    theirs=$(conf_version "$current_main")
    if [[ $current_main == "$new_main" && $current_master == "$new_master" ]]; then
        :
    elif (( theirs > ours )); then
        log "a newer Postfix config (version $theirs > $ours) is running; keeping it"
        keep_env=true
    else
        log "config changed (version $theirs -> $ours); reloading postfix"
        for p in "$SMTP_PORT" "$SMTPS_PORT"; do
            [[ $current_master == *"127.0.0.1:$p "* ]] && continue
            port_open "$p" && die "port $p is taken by another process (not this run dir's postfix)"
        done
        write_conf
        pf check
        pf reload
    fi
else
    for p in "$SMTP_PORT" "$SMTPS_PORT"; do
        port_open "$p" && die "port $p is taken by another process (not this run dir's postfix)"
    done
    write_conf
    # check: creates the queue subdirectories with the owners Postfix wants, or fails.
    pf check
    log "starting postfix ($CONF_DIR)"
    pf start
fi

wait_port "$SMTP_PORT" 30 "postfix submission"
wait_port "$SMTPS_PORT" 30 "postfix smtps"

if $keep_env && [[ -s $RUN_DIR/env ]]; then
    log "postfix up (env from the running config's script in $RUN_DIR/env)"
    exit 0
fi

# Atomic replace: concurrent readers never see a half-written file.
cat > "$RUN_DIR/env.tmp" <<ENV
SMTP_HOST=127.0.0.1
SMTP_PORT=$SMTP_PORT
SMTPS_PORT=$SMTPS_PORT
CA_CERT=$CA_CERT
USERS_DIR=$USERS_DIR
DOVECOT_ENV=$dovecot_env
POSTFIX_DIR=$RUN_DIR
POSTFIX_CONF_DIR=$CONF_DIR
POSTFIX_LOG=$RUN_DIR/postfix.log
ENV
mv "$RUN_DIR/env.tmp" "$RUN_DIR/env"
log "postfix up: submission (STARTTLS) 127.0.0.1:$SMTP_PORT, smtps 127.0.0.1:$SMTPS_PORT, env in $RUN_DIR/env"
