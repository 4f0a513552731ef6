/**
 * `$JOBWIRE_OUTPUT` on Kubernetes: the job's container writes its JSON object to its
 * terminationMessagePath, and the kubelet copies that file into the pod's status
 * (`state.terminated.message`) when the container ends. That needs no volume, no sidecar and no
 * API access from the pod, and it survives jobwire being down: the message stays in the pod's
 * status until the pod is deleted.
 *
 * The price is Kubernetes' cap: the kubelet keeps only the LAST 4096 bytes of the file. So the
 * effective limit is min(limits.maxOutputSize, 4096 bytes), and a message of 4096 bytes or more
 * that is not JSON was most likely cut by the kubelet: it is reported as invalid, saying so.
 */
import type { AttemptOutput } from '../../core/run.js';
import { invalid, parseOutput, tooLarge } from '../output-file.js';

/** Kubernetes' default terminationMessagePath: a file the kubelet mounts, writable by any user. */
export const TERMINATION_MESSAGE_PATH = '/dev/termination-log';
/** What the kubelet keeps of a termination message file (its tail). */
export const MAX_TERMINATION_MESSAGE_BYTES = 4096;

/** The output of a container that ended with `message` in its terminated state. */
export function terminationOutput(message: string | undefined, maxOutputBytes: number): AttemptOutput {
  if (message === undefined) return { kind: 'none' };
  const bytes = Buffer.byteLength(message);
  // A replaced partial character at the cut can only make the received text longer, never shorter.
  const maybeCut = bytes >= MAX_TERMINATION_MESSAGE_BYTES;
  if (bytes > maxOutputBytes) return tooLarge(bytes, maxOutputBytes, maybeCut ? 'at least ' : '');
  const output = parseOutput(message);
  if (output.kind === 'invalid' && maybeCut) {
    return invalid(
      `output was cut by the kubelet: Kubernetes keeps only the last ${MAX_TERMINATION_MESSAGE_BYTES} bytes of a termination message, so on Kubernetes an output may be at most ${MAX_TERMINATION_MESSAGE_BYTES} bytes`,
    );
  }
  return output;
}
