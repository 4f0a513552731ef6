/**
 * What a 1.31 kubelet puts in a terminated container's `state.terminated.message`: the LAST
 * 4096 bytes (kubelet's tail.ReadAtMost with MaxContainerTerminationMessageLength) of the file
 * the container wrote at its terminationMessagePath; with terminationMessagePolicy
 * FallbackToLogsOnError, a container that failed and wrote nothing gets the tail of its log
 * instead (80 lines, at most 2048 bytes). An empty message is left out of the status.
 */
import type { Container } from './model.js';

export const MAX_TERMINATION_MESSAGE_BYTES = 4096;
const FALLBACK_LOG_LINES = 80;
const FALLBACK_LOG_BYTES = 2048;

/**
 * `written`: the files the container wrote, by absolute path in the container (the script's
 * `writes`). Undefined when there is no message.
 */
export function terminationMessage(
  container: Container,
  written: Readonly<Record<string, string>> | undefined,
  log: string,
  exitCode: number,
): string | undefined {
  const file = container.terminationMessagePath ?? '';
  const content = file === '' ? undefined : written?.[file];
  // Cut in the middle of a character, the first bytes decode to U+FFFD, as they do in the real
  // status (Go's JSON encoder replaces invalid UTF-8 the same way).
  let message = content === undefined ? '' : tailBytes(content, MAX_TERMINATION_MESSAGE_BYTES);
  if (message === '' && container.terminationMessagePolicy === 'FallbackToLogsOnError' && exitCode !== 0) {
    message = tailBytes(log.split('\n').slice(-FALLBACK_LOG_LINES - 1).join('\n'), FALLBACK_LOG_BYTES);
  }
  return message === '' ? undefined : message;
}

function tailBytes(text: string, max: number): string {
  const bytes = Buffer.from(text);
  return bytes.length <= max ? text : bytes.subarray(bytes.length - max).toString('utf8');
}
