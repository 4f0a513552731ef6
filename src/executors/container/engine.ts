/**
 * Which container engine the container executor drives. `auto` tries podman, then docker; an
 * engine "works" when its CLI answers `version` (for docker that needs the daemon, so a CLI
 * without a daemon is recognised at once). When none works the error names every engine tried
 * and what each said, so the fix (install podman, start dockerd, pick the other engine) is
 * obvious from the run's record and jobwire's start-up log.
 */
import { PermanentError } from '../../core/errors.js';
import { EngineCliError, engineMessage, type EngineCli } from './engine-cli.js';

export type EngineName = 'podman' | 'docker';

export interface ContainerEngine {
  readonly name: EngineName;
  readonly cli: EngineCli;
  /** The version the engine reported (server version for docker), for logs. */
  readonly version: string;
}

/** No configured engine answered; the message says what was tried and what each said. */
export class ContainerEngineUnavailableError extends PermanentError {
  override readonly name: string = 'ContainerEngineUnavailableError';
}

/** Order in which `auto` tries engines: podman needs no daemon, so it is the likelier to work. */
const AUTO_ORDER: readonly EngineName[] = ['podman', 'docker'];

/**
 * `version` with a template both CLIs accept. Docker's server part needs the daemon, which is
 * the point: a docker CLI alone cannot run anything.
 */
const VERSION_ARGS: Readonly<Record<EngineName, readonly string[]>> = {
  podman: ['version', '--format', '{{.Client.Version}}'],
  docker: ['version', '--format', '{{.Server.Version}}'],
};

export async function detectEngine(
  choice: 'auto' | EngineName,
  cliFor: (name: EngineName) => EngineCli,
): Promise<ContainerEngine> {
  const candidates = choice === 'auto' ? AUTO_ORDER : [choice];
  const failures: string[] = [];
  for (const name of candidates) {
    const cli = cliFor(name);
    const outcome = await probe(name, cli);
    if (typeof outcome !== 'string') return outcome;
    failures.push(outcome);
  }
  const hint = 'install podman (or docker with a running daemon), or set the executor\'s "engine" to one that works; see docs/container.md';
  const message =
    choice === 'auto'
      ? `no container engine works: tried ${failures.join('; ')}. To fix: ${hint}`
      : `container engine ${choice} does not work: ${failures.join('; ')}. To fix: ${hint}`;
  throw new ContainerEngineUnavailableError(message);
}

/** The engine, or why it does not work (`docker: Cannot connect to the Docker daemon …`). */
async function probe(name: EngineName, cli: EngineCli): Promise<ContainerEngine | string> {
  try {
    const result = await cli.run(VERSION_ARGS[name]);
    if (result.code === 0) return { name, cli, version: result.output.trim().split('\n').pop() ?? '' };
    const status = result.code === null ? 'was interrupted' : `exit code ${result.code}`;
    return `${name} (${cli.command} version: ${status}): ${engineMessage(result.output)}`;
  } catch (error) {
    // Already names the command: `podman: not found in PATH`.
    if (error instanceof EngineCliError) return error.message;
    throw error;
  }
}
