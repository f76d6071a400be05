#!/usr/bin/env bash
# Ensure Redis (6379, and 6380 for the tests that run the roles on SQS), RabbitMQ (5672,
# guest/guest) and an SQS-compatible server (moto, 4566) are installed and listening on 127.0.0.1. Idempotent: a running service is left
# alone. Fails loudly otherwise.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=infra/lib.sh
source "$here/lib.sh"

REDIS_PORT=6379
REDIS_SQS_PORT=6380
AMQP_PORT=5672
SQS_PORT=4566

# ensure_redis PORT
ensure_redis() {
    local port=$1
    if port_open "$port"; then
        log "redis already listening on $port"
        return
    fi
    command -v redis-server >/dev/null || apt_install redis-server
    mkdir -p /var/lib/redis /var/log/redis
    log "starting redis on $port"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$port" \
        --save "" --appendonly no --dir /var/lib/redis --logfile "/var/log/redis/ci-$port.log" \
        || die "redis-server failed to start (see /var/log/redis/ci-$port.log)"
    wait_port "$port" 30 redis
    log "redis up on $port"
}

ensure_rabbitmq() {
    if port_open "$AMQP_PORT"; then
        log "rabbitmq already listening on $AMQP_PORT"
        return
    fi
    command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
    log "starting rabbitmq"
    # -detached returns at once; the broker takes several seconds to open 5672.
    rabbitmq-server -detached || die "rabbitmq-server -detached failed"
    wait_port "$AMQP_PORT" 120 rabbitmq
    log "rabbitmq up"
}

# moto's server from PyPI, in a venv of its own unless moto_server is on PATH.
ensure_sqs() {
    if port_open "$SQS_PORT"; then
        log "SQS (moto) already listening on $SQS_PORT"
        return
    fi
    local moto venv=${IMAPAPI_TOOLS_VENV:-$HOME/.cache/imapapi-infra-tools}
    if command -v moto_server >/dev/null; then
        moto=$(command -v moto_server)
    else
        if [[ ! -x $venv/bin/moto_server ]]; then
            command -v python3 >/dev/null || apt_install python3 python3-venv
            log "installing moto[server] from PyPI into $venv"
            { [[ -x $venv/bin/pip ]] || timeout 120 python3 -m venv "$venv" || {
                apt_install python3-venv && timeout 120 python3 -m venv "$venv"; }; } \
                || die "could not create the venv $venv"
            timeout 600 "$venv/bin/pip" install -q 'moto[server]>=5,<6' \
                || die "pip install moto[server] failed"
        fi
        moto=$venv/bin/moto_server
    fi
    log "starting moto_server (SQS) on $SQS_PORT"
    nohup "$moto" -H 127.0.0.1 -p "$SQS_PORT" >/tmp/imapapi-moto.log 2>&1 &
    wait_port "$SQS_PORT" 60 moto_server
    log "SQS (moto) up"
}

ensure_redis "$REDIS_PORT"
ensure_redis "$REDIS_SQS_PORT"
ensure_rabbitmq
ensure_sqs
