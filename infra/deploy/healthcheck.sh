#!/bin/sh
# Container health check for the imapapi image (HEALTHCHECK, compose, ECS).
# The api (or all roles in one process) must answer GET /health (no credentials needed: it
# answers without basic auth, 200 when the store answers); the worker roles
# (ingest, dispatch, submit) serve no HTTP, so for them a running process is healthy.
set -eu

role=""
if [ -r /proc/1/cmdline ]; then
    # PID 1 is imapapi (or an init such as docker-init in front of it): look for a role word.
    for arg in $(tr '\0' ' ' </proc/1/cmdline); do
        case "$arg" in
            api|ingest|dispatch|submit|encrypt) role="$arg"; break ;;
        esac
    done
fi

case "$role" in
    ingest|dispatch|submit|encrypt) exit 0 ;;
esac

port="${API_PORT:-3000}"
exec curl -fsS -o /dev/null --max-time 4 "http://127.0.0.1:${port}/health"
