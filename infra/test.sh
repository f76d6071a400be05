#!/usr/bin/env bash
# THE test command of the project: `bash infra/test.sh [extra cargo test args]`.
# Brings up Redis, RabbitMQ, the test Dovecot and the test Postfix, then runs every test target of the
# workspace under a hard time limit, and exits with cargo's status.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash infra/services.sh
bash infra/dovecot/start.sh
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
exit "$status"
