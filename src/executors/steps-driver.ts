/**
 * The step driver: how a job's `steps` run, the same way on every executor and with nothing to
 * install. A job with steps runs `bash -c <DRIVER> jobwire-steps <name> <0|1> <script> …` — one
 * triple per step (name, continueOnError, the step's bash text). All of it is config text: a
 * `script` as written, or a `command` + `args` quoted here. Message data never reaches argv; it
 * travels in env vars (and message.json) as for any job.
 *
 * Why argv and not files in the run folder: a process job's `workingDir` may be the user's own
 * folder (shared by concurrent runs), and a Kubernetes run's files would take ConfigMap space;
 * argv already reaches every runtime unchanged (a job's `script` travels the same way). One
 * argument holds at most 128 KiB on Linux, which config load checks per step.
 *
 * What the driver prints, on stdout, in the run's log (parsed by step-markers.ts):
 *
 *   ::steps run=<run id> build test:continueOnError deploy      first line: the plan
 *   ::step build                                               a step's section starts
 *   …the step's output (its stderr joined to stdout, so the order against the markers holds)…
 *   ::step-end build exit=0 ms=12                              it ended (may follow output
 *                                                              that had no final newline)
 *   ::steps-end build=0/12ms test=1/30ms deploy=skipped        last line: every step's result
 *
 * The log is kept head + tail, so the plan (first line) and the summary (last line) survive any
 * amount of output; only an attempt stopped mid-way has no summary, and then the markers left
 * tell what ran. The run id on the plan line lets recovery tell the driver's plan from a line a
 * job printed (message data cannot know a run's id in advance).
 *
 * Each step runs in a subshell with the job's env plus its own: jobwire passes a step's env as
 * `JOBWIRE_STEP_<n>_<NAME>` (run-spec.ts), the driver exports it as `NAME` for step n only and
 * unsets every `JOBWIRE_STEP_<n>_*` before the step starts; `JOBWIRE_STEP` is the step's name.
 * The driver stops after the first failing step unless that step has continueOnError, and exits
 * with that step's exit code (0 when every failure was a continueOnError one).
 */
import type { CompiledStep } from '../config/types.js';

export const STEP_ENV_PREFIX = 'JOBWIRE_STEP_';
/** `$0` of the driver script, as `ps` shows it. */
const DRIVER_NAME = 'jobwire-steps';

/**
 * Bash ≥ 4 (EPOCHREALTIME, for durations, is bash ≥ 5; older ones count whole seconds).
 * `${!JOBWIRE_STEP_@}` lists the variables by prefix without any external program.
 */
export const STEPS_DRIVER = `# jobwire step driver: runs the job's steps in order (jobwire src/executors/steps-driver.ts)
names=() continues=() scripts=()
while [ "$#" -ge 3 ]; do names+=("$1"); continues+=("$2"); scripts+=("$3"); shift 3; done
plan=""
for ((i = 0; i < \${#names[@]}; i++)); do
  plan+=" \${names[i]}"
  if [ "\${continues[i]}" = 1 ]; then plan+=":continueOnError"; fi
done
printf '::steps run=%s%s\\n' "\${JOBWIRE_RUN_ID:-}" "$plan"
now_ms() {
  if [ -n "\${EPOCHREALTIME:-}" ]; then
    local t=\${EPOCHREALTIME/[.,]/}
    ms=$((10#\${t:0:\${#t}-3}))
  else
    ms=$((SECONDS * 1000))
  fi
}
run_step() {
  local var prefix="${STEP_ENV_PREFIX}\${1}_"
  for var in "\${!${STEP_ENV_PREFIX}@}"; do
    case "$var" in "$prefix"*) export "\${var#"$prefix"}=\${!var}" ;; esac
  done
  for var in "\${!${STEP_ENV_PREFIX}@}"; do
    case "$var" in ${STEP_ENV_PREFIX}[0-9]*) unset "$var" ;; esac
  done
  export JOBWIRE_STEP="$2"
  exec bash -c "$3" "$2"
}
status=0 stopped=0 summary=""
for ((i = 0; i < \${#names[@]}; i++)); do
  name=\${names[i]}
  if [ "$stopped" = 1 ]; then summary+=" $name=skipped"; continue; fi
  printf '::step %s\\n' "$name"
  now_ms; start=$ms
  (run_step "$((i + 1))" "$name" "\${scripts[i]}") 2>&1
  code=$?
  now_ms
  printf '::step-end %s exit=%d ms=%d\\n' "$name" "$code" "$((ms - start))"
  summary+=" $name=$code/$((ms - start))ms"
  if [ "$code" -ne 0 ] && [ "\${continues[i]}" != 1 ]; then status=$code stopped=1; fi
done
printf '::steps-end%s\\n' "$summary"
exit "$status"
`;

/** The argv of a job with steps: bash running the driver, one (name, flag, script) triple per step. */
export function stepsDriverArgv(steps: readonly Pick<CompiledStep, 'name' | 'script' | 'continueOnError'>[]): string[] {
  return ['bash', '-c', STEPS_DRIVER, DRIVER_NAME, ...steps.flatMap((step) => [step.name, step.continueOnError ? '1' : '0', step.script])];
}

/** A step's `command` + `args` as bash text that runs exactly that argv (no expansion of any word). */
export function commandScript(argv: readonly string[]): string {
  return `exec -- ${argv.map(shellQuote).join(' ')}`;
}

function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
