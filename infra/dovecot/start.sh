#!/usr/bin/env bash
# Start (or confirm running) the test Dovecot: IMAP with STARTTLS on 127.0.0.1:1143,
# implicit TLS on 127.0.0.1:1993, passwd-file users, Maildir storage.
#
# Env overrides: IMAPAPI_DOVECOT_DIR (run dir, default /tmp/imapapi-dovecot),
# IMAPAPI_IMAP_PORT (1143), IMAPAPI_IMAPS_PORT (1993).
# Writes <run dir>/env (shell-sourceable KEY=value lines) for tests and other scripts.
# Idempotent and safe to run concurrently (flock on the run dir).
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

if ! command -v dovecot >/dev/null || ! dpkg -s dovecot-imapd >/dev/null 2>&1; then
    apt_install dovecot-core dovecot-imapd
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

ssl_dh_line=""
[[ -r /usr/share/dovecot/dh.pem ]] && ssl_dh_line="ssl_dh = </usr/share/dovecot/dh.pem"

new_conf=$(sed -e "s|@RUN_DIR@|$RUN_DIR|g" -e "s|@MAIL_ROOT@|$MAIL_ROOT|g" \
    -e "s|@MAIL_UID@|$MAIL_UID|g" -e "s|@MAIL_GID@|$MAIL_GID|g" \
    -e "s|@IMAP_PORT@|$IMAP_PORT|g" -e "s|@IMAPS_PORT@|$IMAPS_PORT|g" \
    -e "s|@SSL_DH_LINE@|$ssl_dh_line|g" "$here/dovecot.conf.in")

master_pid() {
    local f=$RUN_DIR/run/master.pid pid
    [[ -s $f ]] || return 1
    pid=$(<"$f")
    kill -0 "$pid" 2>/dev/null && echo "$pid"
}

running=false
if master_pid >/dev/null; then
    if [[ -f $CONF && $(<"$CONF") == "$new_conf" ]]; then
        running=true
    else
        log "config changed; restarting dovecot"
        bash "$here/stop.sh"
    fi
fi

if ! $running; then
    for p in "$IMAP_PORT" "$IMAPS_PORT"; do
        port_open "$p" && die "port $p is taken by another process (not this run dir's dovecot)"
    done
    printf '%s\n' "$new_conf" > "$CONF"
    log "starting dovecot ($CONF)"
    # 9>&-: the daemon must not inherit (and hold forever) the run-dir lock.
    dovecot -c "$CONF" 9>&- || die "dovecot failed to start; see $RUN_DIR/dovecot.log"
fi

wait_port "$IMAP_PORT" 30 "dovecot imap"
wait_port "$IMAPS_PORT" 30 "dovecot imaps"

# Atomic replace: concurrent readers never see a half-written file.
cat > "$RUN_DIR/env.tmp" <<ENV
IMAP_HOST=127.0.0.1
IMAP_PORT=$IMAP_PORT
IMAPS_PORT=$IMAPS_PORT
CA_CERT=$TLS_DIR/ca.crt
MAIL_ROOT=$MAIL_ROOT
USERS_FILE=$USERS_FILE
MAIL_UID=$MAIL_UID
MAIL_GID=$MAIL_GID
DOVECOT_LOG=$RUN_DIR/dovecot.log
DOVECOT_CONF=$CONF
ENV
mv "$RUN_DIR/env.tmp" "$RUN_DIR/env"
log "dovecot up: imap 127.0.0.1:$IMAP_PORT, imaps 127.0.0.1:$IMAPS_PORT, env in $RUN_DIR/env"
