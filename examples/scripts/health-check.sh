#!/bin/sh
# Health check for a freshly deployed service, run by the `health-check` job.
#
# Inputs come only from the environment and files jobwire prepares:
#   JOBWIRE_MESSAGE  path of a file holding the whole triggering message (JSON)
#   SERVICE_URL      first local deployment URI from the event (may be empty)
#   KEPTN_PROJECT    project named in the event (may be empty)
# Message values are only ever expanded inside double quotes, never evaluated as code.
set -eu

if [ ! -r "${JOBWIRE_MESSAGE:-}" ]; then
  echo "health-check: no message file (JOBWIRE_MESSAGE is not set or unreadable)" >&2
  exit 2
fi
bytes=$(wc -c < "$JOBWIRE_MESSAGE")
echo "health-check: project '${KEPTN_PROJECT:-unknown}', message of ${bytes} bytes"

if [ -z "${SERVICE_URL:-}" ]; then
  echo "health-check: the event names no deployment URI; nothing to probe"
  exit 0
fi

# `--` ends option parsing, so a URL starting with "-" cannot become an option.
if command -v curl >/dev/null 2>&1; then
  curl --fail --silent --show-error --max-time 10 --output /dev/null -- "$SERVICE_URL"
elif command -v wget >/dev/null 2>&1; then
  wget --quiet --timeout=10 --output-document=/dev/null -- "$SERVICE_URL"
else
  echo "health-check: neither curl nor wget is installed; cannot probe $SERVICE_URL" >&2
  exit 2
fi
echo "health-check: $SERVICE_URL answered"
