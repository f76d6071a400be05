#!/usr/bin/env bash
# schemathesis (property-based API tests from the OpenAPI document) against the running
# binary: `bash infra/schemathesis/run.sh`. Starts target/debug/imapapi (built first if
# missing) with every role on an embedded store in a temp dir, no auth and one account
# whose IMAP server never answers (see schemathesis.toml), fuzzes every operation of
# /openapi.json, checks for no 5xx (but the documented 503 of an account without an IMAP
# connection), responses matching their schemas and documented status codes, then stops the
# binary. Exits non-zero on a finding.
#
# Generated accounts, settings and messages name random IMAP, SMTP and webhook hosts, and
# the gateway would really connect to them: so the binary and schemathesis run in a network
# namespace of their own with only loopback (`unshare -n`). Where that is not allowed, the
# operations that make the gateway connect out are left out instead (with a message).
#
# Env overrides: IMAPAPI_SCHEMATHESIS_DIR (run dir holding the venv, default
# /tmp/imapapi-schemathesis), IMAPAPI_BIN (the binary), SCHEMATHESIS_MAX_EXAMPLES (per
# operation, default 50: about 30 s on 2 cores), SCHEMATHESIS_SEED (default 1: the same
# cases every run), SCHEMATHESIS_ARGS (more `schemathesis run` options, split on spaces).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=infra/lib.sh
source "$root/infra/lib.sh"

RUN_DIR=${IMAPAPI_SCHEMATHESIS_DIR:-/tmp/imapapi-schemathesis}
BIN=${IMAPAPI_BIN:-$root/target/debug/imapapi}
ST=$RUN_DIR/venv/bin/schemathesis
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-50}
SEED=${SCHEMATHESIS_SEED:-1}
# Operations whose requests make the gateway connect to hosts named in the request.
OUTBOUND_OPS=(postV1Account putV1AccountAccount postV1Verifyaccount postV1Settings
    postV1AccountAccountSubmit getOauth)

install_schemathesis() {
    [[ -x $ST ]] && return
    command -v python3 >/dev/null || apt_install python3 python3-venv
    mkdir -p "$RUN_DIR"
    log "installing schemathesis from PyPI into $RUN_DIR/venv"
    { [[ -x $RUN_DIR/venv/bin/pip ]] || timeout 120 python3 -m venv "$RUN_DIR/venv" || {
        apt_install python3-venv && timeout 120 python3 -m venv "$RUN_DIR/venv"; }; } \
        || die "could not create the venv $RUN_DIR/venv"
    timeout 600 "$RUN_DIR/venv/bin/pip" install -q 'schemathesis>=4,<5' \
        || die "pip install schemathesis failed"
}

build_binary() {
    [[ -x $BIN ]] && return
    command -v cargo >/dev/null || { [[ -r $HOME/.cargo/env ]] && source "$HOME/.cargo/env"; }
    log "building $BIN"
    (cd "$root" && timeout 1500 cargo build --bin imapapi) || die "cargo build failed"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_gateway DIR: the binary in the background on a free port; sets PORT and PID.
start_gateway() {
    local dir=$1 waited=0
    PORT=$(free_port)
    # A clean environment and cwd: the config layers read IMAPAPI_*/REDIS_URL/QUEUE_URL… and
    # a `.env` in the cwd above the command line, and this run must use none of them.
    (cd "$dir" && exec env -i PATH="$PATH" HOME="$dir" "$BIN" \
        --dbs.path="$dir/data" --api.host=127.0.0.1 --api.port="$PORT" \
        --service.commandTimeout=2s --log.level=warn --log.format=text \
        >"$dir/imapapi.log" 2>&1) &
    PID=$!
    until port_open "$PORT"; do
        kill -0 "$PID" 2>/dev/null || { cat "$dir/imapapi.log" >&2; die "imapapi exited early"; }
        (( waited++ < 240 )) || die "imapapi did not listen on 127.0.0.1:$PORT within 60s"
        sleep 0.25
    done
}

# stop_gateway: SIGTERM (graceful), SIGKILL after 20 s.
stop_gateway() {
    [[ -n ${PID:-} ]] && kill -0 "$PID" 2>/dev/null || return 0
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 80); do kill -0 "$PID" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
}

# The account schemathesis.toml sends half the account routes to; its IMAP and SMTP ports
# answer nothing, so the commands for it fail fast with 503.
create_probe_account() {
    python3 - "$PORT" <<'PY' || die "could not create the account probe"
import json, sys, urllib.request
server = {"host": "127.0.0.1", "port": 9, "secure": False,
          "auth": {"user": "probe", "pass": "probe"}}
body = {"account": "probe", "name": "Probe", "imap": server, "smtp": server}
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/v1/account",
                             data=json.dumps(body).encode(), method="POST",
                             headers={"content-type": "application/json"})
urllib.request.urlopen(req, timeout=10).read()
PY
}

# run_checks EXTRA_ARGS...: schemathesis against the gateway, its exit code. From the temp
# dir, where it leaves its `.schemathesis/` cache.
run_checks() {
    local checks=not_a_server_error,response_schema_conformance,status_code_conformance
    cd "$WORK"
    timeout --kill-after=10 170 "$ST" --config-file "$here/schemathesis.toml" \
        run "http://127.0.0.1:$PORT/openapi.json" \
        --checks "$checks" --max-examples "$MAX_EXAMPLES" --seed "$SEED" \
        --phases examples,coverage,fuzzing --workers 2 --request-timeout 10 \
        --generation-database none --no-color ${SCHEMATHESIS_ARGS:-} "$@"
}

# The part that talks to the gateway: run in the loopback-only namespace when possible.
inside() {
    local rc=0
    WORK=$(mktemp -d)
    trap 'stop_gateway; rm -rf "$WORK"' EXIT
    # A timeout's SIGTERM would otherwise end bash without the EXIT trap, leaving the binary.
    trap 'exit 143' TERM INT
    start_gateway "$WORK"
    create_probe_account
    log "imapapi (pid $PID) on 127.0.0.1:$PORT; schemathesis, $MAX_EXAMPLES examples per operation"
    run_checks "$@" || rc=$?
    if (( rc == 124 || rc == 137 )); then log "schemathesis exceeded its 170 s limit"; fi
    if (( rc != 0 )); then
        log "imapapi's log (last 40 lines):"
        tail -n 40 "$WORK/imapapi.log" >&2
    fi
    return "$rc"
}

if [[ ${1:-} == --inside ]]; then
    shift
    ip link set lo up || die "cannot bring up loopback in the namespace"
    inside "$@"
    exit
fi

start=$SECONDS
install_schemathesis
build_binary
rc=0
if unshare -n true 2>/dev/null && command -v ip >/dev/null; then
    timeout --kill-after=10 300 unshare -n bash "$here/run.sh" --inside || rc=$?
else
    log "no network namespace here: leaving out ${OUTBOUND_OPS[*]}"
    excluded=()
    for op in "${OUTBOUND_OPS[@]}"; do excluded+=(--exclude-operation-id "$op"); done
    inside "${excluded[@]}" || rc=$?
fi
log "schemathesis run took $((SECONDS - start)) s (exit $rc)"
exit "$rc"
