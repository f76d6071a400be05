#!/usr/bin/env bash
# Start (or confirm running) the test Dovecot: IMAP with STARTTLS on 127.0.0.1:1143,
# implicit TLS on 127.0.0.1:1993, passwd-file users, Maildir storage; plus, for the test
# Postfix (infra/postfix), an LMTP socket and an auth socket in <run dir>/run. XOAUTH2 and
# OAUTHBEARER logins check bearer tokens at the test OAuth2 server, which this script
# starts first (infra/oauth2-server/start.sh); Dovecot starts even if that fails.
#
# Env overrides: IMAPAPI_DOVECOT_DIR (run dir, default /tmp/imapapi-dovecot),
# IMAPAPI_IMAP_PORT (1143), IMAPAPI_IMAPS_PORT (1993), IMAPAPI_OAUTH2_PORT (4480).
# Writes <run dir>/env (shell-sourceable KEY=value lines) for tests and other scripts.
# Idempotent and safe to run concurrently (flock on the run dir). A running Dovecot with an
# older config version is reloaded (SIGHUP: open IMAP sessions survive), or restarted if
# the reload does not bring up every listener.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=infra/lib.sh
source "$here/../lib.sh"

RUN_DIR=${IMAPAPI_DOVECOT_DIR:-/tmp/imapapi-dovecot}
IMAP_PORT=${IMAPAPI_IMAP_PORT:-1143}
IMAPS_PORT=${IMAPAPI_IMAPS_PORT:-1993}
MAIL_USER=imapapi-mail
TLS_DIR=$RUN_DIR/tls
MAIL_ROOT=$RUN_DIR/mail
CONF=$RUN_DIR/dovecot.conf
USERS_FILE=$RUN_DIR/users
LMTP_SOCKET=$RUN_DIR/run/lmtp
AUTH_SOCKET=$RUN_DIR/run/smtp-auth
OAUTH2_PORT=${IMAPAPI_OAUTH2_PORT:-4480}
OAUTH2_INTROSPECT_URL=http://127.0.0.1:$OAUTH2_PORT/introspect

# The OAuth2 server first, so XOAUTH2 works from the first login. Its failure costs only
# the XOAUTH2/OAUTHBEARER logins, hence not fatal here (infra/test.sh runs it fatally).
bash "$here/../oauth2-server/start.sh" \
    || log "WARNING: the test OAuth2 server did not start; XOAUTH2 logins will fail"

if ! command -v dovecot >/dev/null || ! dpkg -s dovecot-imapd >/dev/null 2>&1 \
    || ! dpkg -s dovecot-lmtpd >/dev/null 2>&1; then
    apt_install dovecot-core dovecot-imapd dovecot-lmtpd
fi
command -v openssl >/dev/null || apt_install openssl

mkdir -p "$RUN_DIR"
RUN_DIR=$(cd "$RUN_DIR" && pwd)
# Unix socket paths live under base_dir and must stay below ~100 bytes.
(( ${#RUN_DIR} <= 60 )) || die "IMAPAPI_DOVECOT_DIR too long for Dovecot's sockets: $RUN_DIR"

exec 9>"$RUN_DIR/.lock"
flock -w 120 9 || die "timed out waiting for $RUN_DIR/.lock"

# An unprivileged owner for the mail files.
if ! id -u "$MAIL_USER" >/dev/null 2>&1; then
    log "creating system user $MAIL_USER"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin "$MAIL_USER" 2>/dev/null \
        || id -u "$MAIL_USER" >/dev/null 2>&1 \
        || MAIL_USER=mail
fi
MAIL_UID=$(id -u "$MAIL_USER")
MAIL_GID=$(id -g "$MAIL_USER")

# Certificates: a CA and a leaf for 127.0.0.1/localhost signed by it, generated once.
# rustls refuses a CA certificate presented as the server certificate, hence two.
if [[ ! -s $TLS_DIR/server.crt || ! -s $TLS_DIR/ca.crt || ! -s $TLS_DIR/server.key ]]; then
    log "generating CA and server certificate in $TLS_DIR"
    rm -rf "$TLS_DIR"
    mkdir -p "$TLS_DIR"
    (
        cd "$TLS_DIR"
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 \
            -keyout ca.key -out ca.crt -subj "/CN=imapapi test CA" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -sha256 \
            -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
        cat > server.ext <<'EXT'
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
EXT
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
            -days 3650 -sha256 -extfile server.ext -out server.crt 2>/dev/null
        openssl verify -CAfile ca.crt server.crt >/dev/null
        chmod 600 ca.key server.key
    ) || die "certificate generation failed"
fi

mkdir -p "$RUN_DIR/run" "$RUN_DIR/state" "$MAIL_ROOT"
chown "$MAIL_UID:$MAIL_GID" "$MAIL_ROOT"
chmod 755 "$RUN_DIR" "$MAIL_ROOT"
# The auth process (user dovecot) reads it; tests append to it.
[[ -e $USERS_FILE ]] || : > "$USERS_FILE"
chmod 644 "$USERS_FILE"
mkdir -p "$RUN_DIR/users.d"
chmod 755 "$RUN_DIR/users.d"

ssl_dh_line=""
[[ -r /usr/share/dovecot/dh.pem ]] && ssl_dh_line="ssl_dh = </usr/share/dovecot/dh.pem"

new_conf=$(sed -e "s|@RUN_DIR@|$RUN_DIR|g" -e "s|@MAIL_ROOT@|$MAIL_ROOT|g" \
    -e "s|@MAIL_UID@|$MAIL_UID|g" -e "s|@MAIL_GID@|$MAIL_GID|g" \
    -e "s|@IMAP_PORT@|$IMAP_PORT|g" -e "s|@IMAPS_PORT@|$IMAPS_PORT|g" \
    -e "s|@SSL_DH_LINE@|$ssl_dh_line|g" \
    -e "s|@OAUTH2_INTROSPECT_URL@|$OAUTH2_INTROSPECT_URL|g" "$here/dovecot.conf.in")

# The oauth2 passdb's args file (dovecot.conf.in names it). Written only when our config
# is (or becomes) the running one: the auth process reads it at its start and dies if it
# is missing. Its URL is also in dovecot.conf, so a new port makes the config differ.
OAUTH2_ARGS=$RUN_DIR/oauth2.conf.ext
write_oauth2_args() {
    cat > "$OAUTH2_ARGS.tmp" <<ARGS
# Generated by infra/dovecot/start.sh: the oauth2 passdb of dovecot.conf (Dovecot 2.3).
# RFC 7662 introspection by POST (token=...); the answer must be active=true with a
# username equal to the login name. Short timeouts: a login must not hang on a dead server.
introspection_mode = post
introspection_url = $OAUTH2_INTROSPECT_URL
username_attribute = username
active_attribute = active
active_value = true
client_id = test-client
client_secret = test-secret
timeout_msecs = 5000
# Dovecot closes idle connections before the server does (no_auto_retry is set).
max_idle_time_msecs = 5000
ARGS
    chmod 644 "$OAUTH2_ARGS.tmp"
    if cmp -s "$OAUTH2_ARGS.tmp" "$OAUTH2_ARGS"; then
        rm -f "$OAUTH2_ARGS.tmp"
    else
        mv "$OAUTH2_ARGS.tmp" "$OAUTH2_ARGS"
    fi
}

master_pid() {
    local f=$RUN_DIR/run/master.pid pid
    [[ -s $f ]] || return 1
    pid=$(<"$f")
    kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# The "# rig-config-version: N" line of a config; 1 for configs from before versioning.
conf_version() {
    local v
    v=$(sed -n 's/^# rig-config-version: \([0-9][0-9]*\)$/\1/p' <<<"$1" | head -n1)
    echo "${v:-1}"
}
ours=$(conf_version "$new_conf")

# Check the config before it can replace a running one: a reload with a broken config
# would leave the old one running, and a restart would leave no Dovecot at all.
printf '%s\n' "$new_conf" > "$CONF.new"
# See mailbox_idle_check_interval in dovecot.conf.in: hundreds of IDLE sessions run under
# one UID. Raising the limit needs root; without it the 1 s fallback applies.
if [[ $(cat /proc/sys/fs/inotify/max_user_instances 2>/dev/null || echo 0) -lt 4096 ]]; then
    if echo 4096 2>/dev/null >/proc/sys/fs/inotify/max_user_instances; then
        log "fs.inotify.max_user_instances raised to 4096"
    else
        log "cannot raise fs.inotify.max_user_instances; IDLE falls back to 1 s checks"
    fi
fi
doveconf -c "$CONF.new" -n >/dev/null 2>"$RUN_DIR/doveconf.err" \
    || die "generated config is invalid: $(cat "$RUN_DIR/doveconf.err")"
rm -f "$RUN_DIR/doveconf.err"

# endpoints_up SECONDS: true once every listener this config promises is there.
endpoints_up() {
    local limit=$1 waited=0
    until port_open "$IMAP_PORT" && port_open "$IMAPS_PORT" \
        && [[ -S $LMTP_SOCKET && -S $AUTH_SOCKET ]]; do
        (( waited >= limit * 4 )) && return 1
        sleep 0.25
        waited=$((waited + 1))
    done
}

# Stop, then wait (bounded) until the login processes have let go of the ports too.
stop_dovecot() {
    bash "$here/stop.sh"
    local waited=0
    while port_open "$IMAP_PORT" || port_open "$IMAPS_PORT"; do
        (( waited >= 80 )) && die "ports $IMAP_PORT/$IMAPS_PORT still open 20s after stopping dovecot"
        sleep 0.25
        waited=$((waited + 1))
    done
}

# reload_dovecot PID: SIGHUP with the new config; false if it did not take effect.
reload_dovecot() {
    local pid=$1 log=$RUN_DIR/dovecot.log offset waited=0
    offset=$(stat -c %s "$log" 2>/dev/null || echo 0)
    new_log() { tail -c "+$((offset + 1))" "$log" 2>/dev/null || true; }
    cp "$CONF.new" "$CONF"
    kill -HUP "$pid" || return 1
    # The master logs the SIGHUP, then an Error line if it could not use the config.
    until [[ $(new_log) == *"SIGHUP received"* ]]; do
        (( waited >= 40 )) && { log "dovecot did not log the reload within 10s"; return 1; }
        sleep 0.25
        waited=$((waited + 1))
    done
    endpoints_up 20 || { log "listeners missing 20s after the reload"; return 1; }
    if grep -qE 'master: Error.*([Cc]onfig|reload)' <<<"$(new_log)"; then
        log "dovecot reported errors on the reload (see $log)"
        return 1
    fi
}

running=false
keep_env=false
if master_pid >/dev/null; then
    current=$(cat "$CONF" 2>/dev/null || true)
    theirs=$(conf_version "$current")
    if [[ $current == "$new_conf" ]]; then
        running=true
        write_oauth2_args
    elif (( theirs > ours )); then
        # A newer rig (another worktree or branch) started it: it serves us too.
        log "a newer Dovecot config (version $theirs > $ours) is running; keeping it"
        running=true
        keep_env=true
    elif (( theirs == 1 )); then
        # Unversioned scripts restart Dovecot whenever the config differs from theirs;
        # replacing their config would make the two restart it in turns. tests/support
        # copes with the old config. Run stop.sh once no old worktree needs it.
        log "an unversioned (old) Dovecot config is running; keeping it (stop.sh to upgrade)"
        running=true
        keep_env=true
    else
        log "config changed (version $theirs -> $ours); reloading dovecot"
        write_oauth2_args
        if reload_dovecot "$(master_pid)"; then
            running=true
        else
            log "reload did not take; restarting dovecot"
            stop_dovecot
        fi
    fi
fi

if ! $running; then
    for p in "$IMAP_PORT" "$IMAPS_PORT"; do
        port_open "$p" && die "port $p is taken by another process (not this run dir's dovecot)"
    done
    write_oauth2_args
    mv "$CONF.new" "$CONF"
    # A socket that this config no longer creates, left by an older one: auth would try
    # it (see dovecot.conf.in). On a reload the master removes it itself.
    rm -f "$RUN_DIR/run/anvil-auth-penalty"
    log "starting dovecot ($CONF)"
    # 9>&-: the daemon must not inherit (and hold forever) the run-dir lock. Its own
    # output goes to a file: a daemon holding our stdout/stderr open would make a caller
    # that captures them (Dovecot::ensure) wait forever.
    dovecot -c "$CONF" 9>&- </dev/null >>"$RUN_DIR/dovecot.stdout" 2>&1 || die "dovecot failed to start; see $RUN_DIR/dovecot.log"
fi

rm -f "$CONF.new"
wait_port "$IMAP_PORT" 30 "dovecot imap"
wait_port "$IMAPS_PORT" 30 "dovecot imaps"
if ! $keep_env; then
    endpoints_up 30 || die "dovecot did not create $LMTP_SOCKET and $AUTH_SOCKET within 30s; see $RUN_DIR/dovecot.log"
fi

if $keep_env && [[ -s $RUN_DIR/env ]]; then
    log "dovecot up (env from the running config's script in $RUN_DIR/env)"
    exit 0
fi

# Atomic replace: concurrent readers never see a half-written file.
cat > "$RUN_DIR/env.tmp" <<ENV
IMAP_HOST=127.0.0.1
IMAP_PORT=$IMAP_PORT
IMAPS_PORT=$IMAPS_PORT
CA_CERT=$TLS_DIR/ca.crt
MAIL_ROOT=$MAIL_ROOT
USERS_FILE=$USERS_FILE
USERS_DIR=$RUN_DIR/users.d
MAIL_UID=$MAIL_UID
MAIL_GID=$MAIL_GID
DOVECOT_LOG=$RUN_DIR/dovecot.log
DOVECOT_CONF=$CONF
OAUTH2_INTROSPECT_URL=$OAUTH2_INTROSPECT_URL
OAUTH2_ENV=${IMAPAPI_OAUTH2_DIR:-/tmp/imapapi-oauth2}/env
LMTP_SOCKET=$LMTP_SOCKET
AUTH_SOCKET=$AUTH_SOCKET
ENV
mv "$RUN_DIR/env.tmp" "$RUN_DIR/env"
log "dovecot up: imap 127.0.0.1:$IMAP_PORT, imaps 127.0.0.1:$IMAPS_PORT, lmtp $LMTP_SOCKET, env in $RUN_DIR/env"
