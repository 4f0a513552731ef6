/**
 * Reads a `text/event-stream` response the way a browser's EventSource does (event name + data
 * lines, blank line ends an event, comment lines skipped), for tests of `GET /v1/events`.
 */
export interface ServerSentEvent {
  readonly event: string;
  readonly data: string;
}

export interface EventReader {
  readonly status: number;
  /** The next event, or undefined when the stream ended. */
  next(timeoutMs?: number): Promise<ServerSentEvent | undefined>;
  close(): void;
}

export async function openEvents(url: string): Promise<EventReader> {
  const controller = new AbortController();
  const response = await fetch(url, { signal: controller.signal, headers: { accept: 'text/event-stream' } });
  const body = response.body;
  if (body === null) throw new Error('the event stream has no body');
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  const parsed: ServerSentEvent[] = [];
  let ended = false;
  // A read that outlived a timeout is kept for the next call, so no chunk is lost to it.
  let reading: ReturnType<typeof reader.read> | undefined;

  const parse = (): void => {
    for (let end = buffered.indexOf('\n\n'); end !== -1; end = buffered.indexOf('\n\n')) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length > 0) parsed.push({ event, data: data.join('\n') });
    }
  };

  return {
    status: response.status,
    async next(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (parsed.length === 0 && !ended) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no server-sent event within ${timeoutMs} ms`);
        let timer: NodeJS.Timeout | undefined;
        reading ??= reader.read();
        const chunk = await Promise.race([
          reading,
          new Promise<'late'>((resolve) => {
            timer = setTimeout(() => resolve('late'), left);
          }),
        ]).finally(() => clearTimeout(timer));
        if (chunk === 'late') continue;
        reading = undefined;
        if (chunk.done) ended = true;
        else {
          buffered += decoder.decode(chunk.value, { stream: true });
          parse();
        }
      }
      return parsed.shift();
    },
    close() {
      controller.abort();
    },
  };
}
