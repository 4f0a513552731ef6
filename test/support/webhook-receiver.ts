/**
 * A real HTTP server that records the CloudEvents POSTed to it, for webhook sink tests. It can
 * be taken down and brought back on the same port, like a receiver being redeployed.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedEvent {
  readonly headers: Record<string, string | string[] | undefined>;
  readonly event: Record<string, unknown>;
}

export interface WebhookReceiver {
  readonly url: string;
  readonly received: ReceivedEvent[];
  /** Answers this status instead of 200 while set. */
  failWith: number | undefined;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedEvent[] = [];
  let server: Server | undefined;
  let port = 0;
  const receiver: WebhookReceiver = {
    url: '',
    received,
    failWith: undefined,
    async up() {
      const listening = createServer((request, response) => {
        const chunks: Buffer[] = [];
        request.on('data', (chunk: Buffer) => chunks.push(chunk));
        request.on('end', () => {
          if (receiver.failWith !== undefined) {
            response.writeHead(receiver.failWith).end();
            return;
          }
          received.push({ headers: request.headers, event: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> });
          response.writeHead(202).end();
        });
      });
      await new Promise<void>((resolve) => listening.listen(port, '127.0.0.1', resolve));
      port = (listening.address() as AddressInfo).port;
      server = listening;
    },
    async down() {
      const closing = server;
      server = undefined;
      if (closing === undefined) return;
      closing.closeAllConnections();
      await new Promise<void>((resolve) => closing.close(() => resolve()));
    },
    close: () => receiver.down(),
  };
  await receiver.up();
  Object.assign(receiver, { url: `http://127.0.0.1:${port}/events` });
  return receiver;
}
