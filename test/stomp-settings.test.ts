/**
 * Unit tests of the stomp source's settings, TLS options and dead-letter headers (no broker
 * needed, but the TLS material is the throwaway CA that `.ci/activemq.sh` makes).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { InvalidInputError } from '../src/core/errors.js';
import { deadLetterHeaders } from '../src/sources/stomp-headers.js';
import { destinationOf, loadStompTls, parseStompSettings } from '../src/sources/stomp-settings.js';
import { TLS_CLIENT_DIR } from './support/stomp.js';

describe('stomp settings', () => {
  const definition = (settings: Record<string, unknown>) => ({ name: 'amq', type: 'stomp', settings, position: { file: path.join(TLS_CLIENT_DIR, 'jobwire.yaml'), line: 3, col: 5 } });

  it('reads the failover list, defaults and options', () => {
    const settings = parseStompSettings(definition({ url: 'stomp://a:1', urls: ['stomp+ssl://b', 'stomp://a:1'], login: 'u', passcode: 'p', options: { connectTimeoutMs: 50 } }));
    assert.deepEqual(
      settings.endpoints.map((endpoint) => [endpoint.host, endpoint.port, endpoint.secure, endpoint.display]),
      [
        ['a', 1, false, 'stomp://a:1'],
        ['b', 61612, true, 'stomp+ssl://b'],
      ],
    );
    assert.equal(settings.prefetch, 100);
    assert.equal(settings.heartbeatMs, 10_000);
    assert.equal(settings.connectTimeoutMs, 50);
    assert.equal(settings.login, 'u');
    assert.equal(destinationOf('orders'), '/queue/orders');
    assert.equal(destinationOf('/topic/x'), '/topic/x');
  });

  it('rejects what cannot work, naming the source', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{}, /source "amq": set url or urls/],
      [{ url: 'amqp://x' }, /unsupported scheme amqp:/],
      [{ url: 'stomp://user:secret@x' }, /credentials in login\/passcode/],
      [{ url: 'stomp://x', tls: { ca: 'ca.pem' } }, /tls is set but no url uses TLS/],
      [{ url: 'stomp://x', prefetch: 0 }, /prefetch must be a whole number ≥ 1/],
    ];
    for (const [settings, expected] of cases) {
      assert.throws(() => parseStompSettings(definition(settings)), (error: Error) => error instanceof InvalidInputError && expected.test(error.message));
    }
  });

  it('builds TLS options from files (relative to the config file) or inline PEM, and refuses half a client certificate', async () => {
    const options = await loadStompTls(parseStompSettings(definition({ url: 'stomp+ssl://127.0.0.1:61614', tls: { ca: 'ca.pem', cert: 'client.pem', key: 'client-key.pem', servername: 'broker' } })));
    assert.ok(options?.secureContext !== undefined);
    assert.equal(options?.rejectUnauthorized, true);
    assert.equal(options?.servername, 'broker');
    const inline = await loadStompTls(parseStompSettings(definition({ url: 'stomps://h', tls: { ca: readFileSync(path.join(TLS_CLIENT_DIR, 'ca.pem'), 'utf8'), rejectUnauthorized: false } })));
    assert.equal(inline?.rejectUnauthorized, false);
    assert.equal(await loadStompTls(parseStompSettings(definition({ url: 'stomp://h' }))), undefined);
    await assert.rejects(loadStompTls(parseStompSettings(definition({ url: 'stomps://h', tls: { cert: 'client.pem' } }))), /tls\.cert and tls\.key go together/);
    await assert.rejects(loadStompTls(parseStompSettings(definition({ url: 'stomps://h', tls: { ca: 'missing.pem' } }))), /cannot read tls\.ca .*missing\.pem/);
    await assert.rejects(loadStompTls(parseStompSettings(definition({ url: 'stomps://h', tls: { cert: 'client.pem', key: '-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----' } }))), /unusable TLS material/);
  });

  it('dead-letter headers keep the original headers, drop per-delivery ones, and carry the reason on one line', () => {
    const headers = deadLetterHeaders({ 'message-id': 'ID:1', destination: '/queue/q', ack: 'a', subscription: 's', 'content-length': '3', tenant: 'acme' }, 'bad\nJSON');
    assert.deepEqual(headers, {
      tenant: 'acme',
      persistent: 'true',
      'jobwire-reject-reason': 'bad JSON',
      'jobwire-original-destination': '/queue/q',
      'jobwire-original-message-id': 'ID:1',
    });
  });
});
