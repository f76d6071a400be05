#!/usr/bin/env bash
# Make sure Python's aiosmtpd is importable, for infra/scripted-smtp/server.py (the failure
# cases of the sending tests). Idempotent; pip installs it for the current user if missing.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=infra/lib.sh
source "$here/../lib.sh"
if python3 -c 'import aiosmtpd' 2>/dev/null; then
    exit 0
fi
log "installing aiosmtpd (pip)"
timeout 300 python3 -m pip install --quiet --disable-pip-version-check 'aiosmtpd==1.4.6' \
    || die "pip install aiosmtpd failed"
python3 -c 'import aiosmtpd' || die "aiosmtpd still not importable"
