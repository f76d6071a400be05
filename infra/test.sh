#!/usr/bin/env bash
# THE test command of the project: `bash infra/test.sh [extra cargo test args]`.
# Brings up Redis, RabbitMQ, the test Dovecot, the test OAuth2 server and the test Postfix,
# runs every test target of the workspace under a hard time limit, then schemathesis and the
# deployment and Terraform checks; exits non-zero when any of them failed.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash infra/services.sh
bash infra/dovecot/start.sh
# Dovecot's script starts it too, but goes on without it; here its failure is fatal.
bash infra/oauth2-server/start.sh
bash infra/postfix/start.sh
bash infra/scripted-smtp/install.sh

command -v cargo >/dev/null || { [[ -r $HOME/.cargo/env ]] && source "$HOME/.cargo/env"; }
command -v cargo >/dev/null || { echo "[infra] ERROR: cargo not found" >&2; exit 1; }

status=0
# --kill-after: a test that ignores SIGTERM still cannot hang the run.
timeout --kill-after=30s 25m cargo test --workspace --all-targets --no-fail-fast "$@" || status=$?
if (( status == 124 || status == 137 )); then
    echo "[infra] ERROR: cargo test exceeded the 25 minute limit" >&2
fi

# The web UI in headless Chromium against the binary cargo test just built.
if ! timeout --kill-after=30s 15m bash infra/ui-tests/run.sh; then
    echo "[infra] ERROR: infra/ui-tests/run.sh failed" >&2
    status=1
fi

# schemathesis against the binary's own OpenAPI document (no 5xx, responses as documented);
# the deployment files and the Terraform module: linted, validated, checkov (each step
# skipped with a message where its tool cannot be had here).
for check in infra/schemathesis/run.sh infra/deploy/check.sh terraform/check.sh; do
    if ! timeout --kill-after=30s 15m bash "$check"; then
        echo "[infra] ERROR: $check failed" >&2
        status=1
    fi
done
exit "$status"
