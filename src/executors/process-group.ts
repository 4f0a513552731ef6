/**
 * Signals to a job's process group. Each run is spawned detached, so its pid is also the id of
 * the group holding it and everything it started; both jobwire (stop, recovery) and the spawner
 * (leftover members after the run ended) signal the group this way.
 */

/**
 * Sends a signal to a whole process group; false when the group no longer exists. Never throws:
 * it runs inside event handlers where a throw would leave a run pending forever, and the only
 * failures (ESRCH gone, EPERM not ours) both mean there is nothing of ours left to signal.
 */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}
