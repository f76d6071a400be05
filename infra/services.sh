#!/usr/bin/env bash
# Ensure Redis (6379) and RabbitMQ (5672, guest/guest) are installed and listening on
# 127.0.0.1. Idempotent: a running service is left alone. Fails loudly otherwise.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=infra/lib.sh
source "$here/lib.sh"

REDIS_PORT=6379
AMQP_PORT=5672

ensure_redis() {
    if port_open "$REDIS_PORT"; then
        log "redis already listening on $REDIS_PORT"
        return
    fi
    command -v redis-server >/dev/null || apt_install redis-server
    mkdir -p /var/lib/redis /var/log/redis
    log "starting redis"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
        --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log \
        || die "redis-server failed to start (see /var/log/redis/ci.log)"
    wait_port "$REDIS_PORT" 30 redis
    log "redis up"
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

ensure_redis
ensure_rabbitmq
