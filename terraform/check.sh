#!/usr/bin/env bash
# Checks the Terraform code: formatting, init + validate of the example root, the module's
# tests (terraform test, against a mocked AWS provider: no credentials, no network), and
# checkov. Each step prints PASS, FAIL or SKIP (with the reason); the script exits
# non-zero only when a check that ran failed.
#
#   bash terraform/check.sh
#
# TF_PLUGIN_DIR: local provider mirror for `terraform init -plugin-dir` (default
#   /opt/tf-plugins when it exists; unset: providers come from the registry).
# CHECK_INSTALL=0 never installs checkov (a missing checkov is then a skip).
# IMAPAPI_TOOLS_VENV: virtualenv for PyPI tools (default ~/.cache/imapapi-infra-tools).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
install=${CHECK_INSTALL:-1}
venv=${IMAPAPI_TOOLS_VENV:-$HOME/.cache/imapapi-infra-tools}
plugin_dir=${TF_PLUGIN_DIR:-}
if [ -z "$plugin_dir" ] && [ -d /opt/tf-plugins ]; then plugin_dir=/opt/tf-plugins; fi
# A TF_CLI_CONFIG_FILE pointing at a missing file only produces a warning on every call.
if [ -n "${TF_CLI_CONFIG_FILE:-}" ] && [ ! -f "$TF_CLI_CONFIG_FILE" ]; then unset TF_CLI_CONFIG_FILE; fi
export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1

results=()
failures=0
pass() { results+=("PASS  $1"); echo "== PASS: $1"; }
fail() { results+=("FAIL  $1"); echo "== FAIL: $1"; failures=$((failures + 1)); }
skip() { results+=("SKIP  $1: $2"); echo "== SKIP: $1: $2"; }
# run NAME SECONDS CMD...: one check under a timeout; returns the command's status.
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
    return "$rc"
}

init_args=(init -backend=false -input=false -no-color)
if [ -n "$plugin_dir" ]; then init_args+=("-plugin-dir=$plugin_dir"); fi

if command -v terraform >/dev/null 2>&1; then
    run "terraform fmt" 60 terraform -chdir="$here" fmt -check -recursive -diff

    # The example root: what a user applies. `.terraform/` and the lock file stay
    # untracked (terraform/.gitignore): the providers come from a local mirror here.
    example="$here/examples/basic"
    if run "terraform init (examples/basic)" 300 terraform -chdir="$example" "${init_args[@]}"; then
        run "terraform validate (examples/basic)" 300 terraform -chdir="$example" validate -no-color
    else
        skip "terraform validate (examples/basic)" "init failed"
    fi

    module="$here/modules/imapapi"
    if run "terraform init (modules/imapapi)" 300 terraform -chdir="$module" "${init_args[@]}"; then
        run "terraform test (modules/imapapi, mocked AWS)" 600 terraform -chdir="$module" test -no-color
    else
        skip "terraform test (modules/imapapi, mocked AWS)" "init failed"
    fi
else
    for s in "terraform fmt" "terraform init/validate (examples/basic)" "terraform test (modules/imapapi)"; do
        skip "$s" "terraform not found"
    done
fi

# checkov: on PATH, in the tools venv, or installed there from PyPI.
checkov=""
if command -v checkov >/dev/null 2>&1; then
    checkov=$(command -v checkov)
elif [ -x "$venv/bin/checkov" ]; then
    checkov="$venv/bin/checkov"
elif [ "$install" = 1 ] && command -v python3 >/dev/null 2>&1; then
    echo "(installing checkov from PyPI into $venv)"
    if { [ -x "$venv/bin/pip" ] || timeout 120 python3 -m venv "$venv"; } &&
        timeout 600 "$venv/bin/pip" install -q checkov && [ -x "$venv/bin/checkov" ]; then
        checkov="$venv/bin/checkov"
    fi
fi
if [ -n "$checkov" ]; then
    # BC_SKIP_MAPPING: no download of the Prisma Cloud guideline mappings (offline).
    # Findings that cannot be fixed carry an inline #checkov:skip=<id>:<reason>.
    run "checkov" 600 env BC_SKIP_MAPPING=TRUE "$checkov" -d "$here" --quiet --compact
else
    skip "checkov" "checkov not found and not installable (pip install checkov)"
fi

echo
echo "terraform checks:"
printf '  %s\n' "${results[@]}"
if [ "$failures" -gt 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "no check failed"
