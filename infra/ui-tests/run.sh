#!/usr/bin/env bash
# Browser test of the web UI: `bash infra/ui-tests/run.sh`.
# Installs Debian's chromium and this folder's pinned node modules when missing, starts the
# test Dovecot and Postfix, builds the gateway when its binary is missing, then runs
# ui.test.mjs (screenshots and the axe report land in target/ui-artifacts/).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=../lib.sh
source "$root/infra/lib.sh"
cd "$root"

[[ -x /usr/bin/chromium ]] || apt_install chromium
command -v node >/dev/null || apt_install nodejs npm
# npm ci again only when the lock file changed since the last install.
if [[ ! -d $here/node_modules ]] || [[ $here/package-lock.json -nt $here/node_modules/.package-lock.json ]]; then
    log "npm ci in infra/ui-tests"
    (cd "$here" && timeout 600 npm ci --no-audit --no-fund) || die "npm ci failed"
fi

bash infra/dovecot/start.sh
bash infra/postfix/start.sh

if [[ ! -x target/debug/imapapi ]]; then
    command -v cargo >/dev/null || { [[ -r $HOME/.cargo/env ]] && source "$HOME/.cargo/env"; }
    cargo build --bin imapapi
fi

mkdir -p target/ui-artifacts
start=$(date +%s)
status=0
# The test's own timeouts end it well before this; --kill-after covers a stuck browser.
timeout --kill-after=20s 10m node --test --test-reporter=spec "$here/ui.test.mjs" || status=$?
log "ui tests took $(( $(date +%s) - start ))s (artifacts in target/ui-artifacts/)"
exit "$status"
