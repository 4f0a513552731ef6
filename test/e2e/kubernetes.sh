#!/usr/bin/env bash
# End-to-end on a real cluster: runs examples/kubernetes.yaml's `countdown` job for real, twice —
#   1. `jobwire render ... | kubectl apply -f -`, then waits for the Job and reads its log;
#   2. `jobwire serve` with the kubernetes executor, a message POSTed to its API, the run
#      followed to `succeeded` and its captured log checked.
# Everything happens in a throw-away namespace (jobwire-e2e-<random>) that is deleted at the end.
#
#   KUBECONFIG=~/.kube/config test/e2e/kubernetes.sh     # kind, minikube, k3s, …
#
# The cluster must be able to pull registry.access.redhat.com/ubi9/ubi-minimal. Build first
# (npx tsc -p .). Without a reachable cluster this prints one line and exits 0.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KUBECTL=${KUBECTL:-kubectl}
TIMEOUT=${JOBWIRE_E2E_TIMEOUT:-300}

if [ -z "${KUBECONFIG:-}" ] || ! command -v "$KUBECTL" >/dev/null 2>&1 \
  || ! timeout 15 "$KUBECTL" version --request-timeout=10s >/dev/null 2>&1; then
  echo "kubernetes e2e: skipped (set KUBECONFIG to a reachable cluster, e.g. kind, minikube or k3s, to run it)"
  exit 0
fi

say() { printf 'kubernetes e2e: %s\n' "$*"; }
fail() { printf 'kubernetes e2e: FAILED: %s\n' "$*" >&2; exit 1; }

NS="jobwire-e2e-$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')"
WORK=$(mktemp -d)
SERVE_PID=""
cleanup() {
  if [ -n "$SERVE_PID" ]; then kill "$SERVE_PID" 2>/dev/null || true; wait "$SERVE_PID" 2>/dev/null || true; fi
  "$KUBECTL" delete namespace "$NS" --wait=false --ignore-not-found >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

say "cluster $("$KUBECTL" config current-context), namespace $NS"
"$KUBECTL" create namespace "$NS" >/dev/null
"$KUBECTL" label namespace "$NS" pod-security.kubernetes.io/enforce=restricted >/dev/null

# The example config, with its job namespace pointed at the throw-away one; the files it ships
# come along so relative paths still resolve.
cp -r "$ROOT/examples/kubernetes" "$WORK/kubernetes"
sed -e "s/jobwire-jobs/$NS/g" -e "s/namespaces: \[$NS, qa\]/namespaces: [$NS]/" \
  -e "/^    namespace: qa$/d" "$ROOT/examples/kubernetes.yaml" > "$WORK/kubernetes.yaml"
node "$ROOT/bin/jobwire.js" validate -c "$WORK/kubernetes.yaml" >/dev/null

expected=$'3\n2\n1\nLiftoff!'

# --- 1. render + kubectl apply ---------------------------------------------------------------
say "1/2 render | kubectl apply"
node "$ROOT/bin/jobwire.js" render -c "$WORK/kubernetes.yaml" countdown \
  -m "$ROOT/examples/kubernetes/countdown-message.json" > "$WORK/countdown.yaml"
"$KUBECTL" apply -n "$NS" -f "$WORK/countdown.yaml" >/dev/null
JOB=$("$KUBECTL" get jobs -n "$NS" -l jobwire.dev/job=countdown -o jsonpath='{.items[0].metadata.name}')
deadline=$((SECONDS + TIMEOUT))
while :; do
  succeeded=$("$KUBECTL" get job "$JOB" -n "$NS" -o jsonpath='{.status.succeeded}')
  failed=$("$KUBECTL" get job "$JOB" -n "$NS" -o jsonpath='{.status.conditions[?(@.type=="Failed")].status}')
  [ "${succeeded:-0}" -ge 1 ] && break
  if [ "$failed" = "True" ] || [ $SECONDS -ge $deadline ]; then
    "$KUBECTL" describe job "$JOB" -n "$NS" >&2 || true
    "$KUBECTL" get events -n "$NS" --sort-by=.lastTimestamp >&2 || true
    fail "Job $JOB did not succeed"
  fi
  sleep 2
done
log=$("$KUBECTL" logs "job/$JOB" -n "$NS")
[ "$log" = "$expected" ] || fail "Job $JOB logged $(printf '%q' "$log"), expected $(printf '%q' "$expected")"
say "Job $JOB succeeded and counted down"

# --- 2. jobwire serve with the kubernetes executor -------------------------------------------
say "2/2 jobwire serve + POST /v1/messages"
PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
node "$ROOT/bin/jobwire.js" serve -c "$WORK/kubernetes.yaml" --port "$PORT" -d "$WORK/data" --log-level warn \
  > "$WORK/serve.log" 2>&1 &
SERVE_PID=$!
API="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do curl -fsS "$API/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "$API/readyz" >/dev/null || { cat "$WORK/serve.log" >&2; fail "jobwire serve did not become ready"; }

accepted=$(curl -fsS -H 'content-type: application/json' --data @"$ROOT/examples/kubernetes/countdown-message.json" "$API/v1/messages")
RUN=$(node -e 'const r=JSON.parse(process.argv[1]).runs.find((x)=>x.job==="countdown"); if(!r) process.exit(1); console.log(r.id)' "$accepted") \
  || fail "the message started no countdown run: $accepted"
deadline=$((SECONDS + TIMEOUT))
while :; do
  status=$(curl -fsS "$API/v1/runs/$RUN" | node -e 'let t="";process.stdin.on("data",(c)=>t+=c).on("end",()=>console.log(JSON.parse(t).status))')
  case "$status" in
    succeeded) break ;;
    failed|timed_out|cancelled)
      curl -fsS "$API/v1/runs/$RUN" >&2 || true; cat "$WORK/serve.log" >&2; fail "run $RUN ended $status" ;;
  esac
  [ $SECONDS -lt $deadline ] || { cat "$WORK/serve.log" >&2; fail "run $RUN still $status after ${TIMEOUT}s"; }
  sleep 2
done
log=$(curl -fsS "$API/v1/runs/$RUN/logs?format=text")
case "$log" in
  *"$expected"*) ;;
  *) fail "run $RUN logged $(printf '%q' "$log"), expected the countdown" ;;
esac
"$KUBECTL" get jobs -n "$NS" -l "jobwire.dev/run-id=$RUN" -o name | grep -q . || fail "no Job labelled with run id $RUN"
say "run $RUN succeeded as a Kubernetes Job and its log was captured"
say "passed"
