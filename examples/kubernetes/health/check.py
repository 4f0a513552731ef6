"""Health check for a freshly deployed service, run by the `health-check` job in a pod.

Inputs come only from the environment and files jobwire prepares, never from the command line:
  JOBWIRE_MESSAGE   path of the whole triggering message (JSON), /var/run/jobwire/message.json
  SERVICE_URL       first local deployment URI from the event (may be empty)
  KEPTN_PROJECT     project named in the event (may be empty)
  API_TOKEN         from the Secret health-check-token (key "token"), resolved by the kubelet
  CHECK_*           optional settings from the ConfigMap health-check-settings
expectations.json, next to this file, says what counts as healthy.
"""
import json
import os
import sys
import time
import urllib.request

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "expectations.json"), encoding="utf-8") as f:
    expect = json.load(f)
with open(os.environ["JOBWIRE_MESSAGE"], encoding="utf-8") as f:
    message = json.load(f)

url = os.environ.get("SERVICE_URL", "")
project = os.environ.get("KEPTN_PROJECT") or "unknown"
print(f"health-check: project {project!r}, message {message['id']!r} (correlation id {message['correlationId']!r})")
if not url.startswith(("http://", "https://")):
    print(f"health-check: no http(s) deployment URI in the event ({url!r}); nothing to probe")
    sys.exit(0)

attempts = int(os.environ.get("CHECK_ATTEMPTS", expect["attempts"]))
headers = {"Authorization": f"Bearer {os.environ['API_TOKEN']}"} if os.environ.get("API_TOKEN") else {}
for attempt in range(1, attempts + 1):
    try:
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=expect["timeoutSeconds"]) as response:
            if response.status in expect["statuses"]:
                print(f"health-check: {url} answered {response.status} (attempt {attempt})")
                sys.exit(0)
            print(f"health-check: {url} answered {response.status}, expected one of {expect['statuses']}")
    except Exception as error:  # noqa: BLE001 - any failure is a failed probe
        print(f"health-check: attempt {attempt} failed: {error}")
    time.sleep(expect["pauseSeconds"])
print(f"health-check: {url} is not healthy after {attempts} attempts", file=sys.stderr)
sys.exit(1)
