/**
 * The spawner: a small helper process that forks and execs job processes on jobwire's behalf.
 *
 * Why it exists: libuv forks on the calling thread and waits there until the child has exec'd,
 * and fork() gets slower the more memory the parent maps. In jobwire (HTTP server, SQLite, a
 * grown heap) that blocked the main thread for a large share of every run; here it costs a
 * small process, and jobwire's main thread only writes one request line.
 *
 * Lifecycle: started by jobwire with the control channel on stdin (requests) and stdout
 * (replies); see protocol.ts. It lives exactly as long as that channel: EOF on stdin — jobwire
 * closed it or died — makes it exit at once, leaving running jobs alone (jobwire's recovery finds
 * them by their environment). Terminal and service-manager signals aimed at jobwire's process
 * group are ignored for the same reason: jobwire decides when the spawner ends, so a Ctrl-C
 * lets jobwire drain its runs gracefully instead of losing their supervisor first.
 */
import { LineWriter, readLines } from './line-channel.js';
import { MAX_REQUEST_LINE, encode, parseRequest, type Reply, type Request, type SpawnRequest } from './protocol.js';
import { SupervisedChild } from './supervised-child.js';

function main(): void {
  // EPIPE: jobwire is gone, and so is the reason to run.
  process.stdout.on('error', () => process.exit(0));
  const replies = new LineWriter(process.stdout);
  const children = new Map<number, SupervisedChild>();
  const send = (reply: Reply): void => replies.write(encode(reply));

  const handle = (request: Request): void => {
    switch (request.type) {
      case 'spawn':
        spawnChild(request, children, send);
        return;
      case 'peek': {
        // Unknown ids are runs that ended a moment ago: their `exited` is already on its way.
        const child = children.get(request.id);
        if (child !== undefined) send({ type: 'peeked', id: request.id, log: child.snapshot() });
        return;
      }
      case 'release-pipes':
        children.get(request.id)?.releasePipes();
        return;
    }
  };

  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => undefined);
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  readLines(process.stdin, {
    maxLineLength: MAX_REQUEST_LINE,
    onLine: (line) => {
      try {
        handle(parseRequest(line));
      } catch (error) {
        fail(error);
      }
    },
    onError: (error) => fail(error),
  });
}

function spawnChild(request: SpawnRequest, children: Map<number, SupervisedChild>, send: (reply: Reply) => void): void {
  const forget = (reply: Reply): void => {
    children.delete(reply.id);
    send(reply);
  };
  try {
    children.set(request.id, new SupervisedChild(request, { onSpawned: send, onSpawnError: forget, onExited: forget }));
  } catch (error) {
    // spawn() threw: invalid arguments (a NUL byte in an env value), or an errno Node throws.
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    const message = error instanceof Error ? error.message : String(error);
    send({ type: 'spawn-error', id: request.id, code: typeof code === 'string' ? code : null, message, thrown: true });
  }
}

/** A broken channel is a bug in jobwire or here; jobwire sees the exit and restarts us. */
function fail(error: unknown): never {
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`jobwire spawner: ${text}\n`);
  process.exit(70);
}

try {
  main();
} catch (error) {
  fail(error);
}
