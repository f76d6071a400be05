# Shared helpers for the infra scripts. Source it; it sets nothing else.
# shellcheck shell=bash

log() { printf '[infra] %s\n' "$*" >&2; }
die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

# True when something accepts TCP connections on 127.0.0.1:$1.
# bash's /dev/tcp avoids depending on nc, which a fresh machine lacks.
port_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# wait_port PORT TIMEOUT_SECONDS NAME: poll until the port accepts connections.
wait_port() {
    local port=$1 limit=$2 name=$3 waited=0
    until port_open "$port"; do
        if (( waited >= limit * 4 )); then
            die "$name did not listen on 127.0.0.1:$port within ${limit}s"
        fi
        sleep 0.25
        waited=$((waited + 1))
    done
}

# apt_install PKG...: install missing packages non-interactively. `apt-get update`
# runs at most once per few hours (stamp file), because services.sh and
# dovecot/start.sh may both need it within one test run.
apt_install() {
    command -v apt-get >/dev/null || die "apt-get not available; install $* manually"
    local stamp=/tmp/imapapi-apt-updated
    export DEBIAN_FRONTEND=noninteractive
    # Serialise apt across concurrent script runs; dpkg's own lock would fail instead of wait.
    (
        flock -w 600 8 || die "timed out waiting for the apt lock"
        if [[ ! -e $stamp ]] || [[ -n $(find "$stamp" -mmin +360 2>/dev/null) ]]; then
            log "apt-get update"
            timeout 600 apt-get update -q || die "apt-get update failed"
            touch "$stamp"
        fi
        log "apt-get install $*"
        timeout 900 apt-get install -y -q --no-install-recommends "$@" \
            || die "apt-get install $* failed"
    ) 8>/tmp/imapapi-apt.lock
}
