/**
 * A TCP proxy a test controls, between a source and a real broker: it forwards bytes both ways
 * until told to `freeze` (the connections stay open but nothing passes any more — a broker that
 * vanished without closing its sockets) or to `cut` (every connection is dropped, and new ones
 * are dropped as they come — a broker that went away). It
 * lets a test take the broker away from one source without restarting the broker that other
 * tests share.
 */
import net from 'node:net';

export class TcpProxy {
  private readonly sockets = new Set<net.Socket>();
  /** The connections made to the proxy (the sources' side), until they close. */
  private readonly clients = new Set<net.Socket>();
  private frozen = false;
  private refusing = false;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  /** Listens on 127.0.0.1 (a free port) and forwards every connection to `target`. */
  static async start(target: { readonly host: string; readonly port: number }): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = net.createServer((client) => proxy?.accept(client, target));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('the proxy has no TCP address');
    proxy = new TcpProxy(server, address.port);
    return proxy;
  }

  /** Connections made to the proxy that their client has not closed (or the proxy cut) yet. */
  get openClients(): number {
    return this.clients.size;
  }

  /** Stops forwarding in both directions; connections stay open, new ones are accepted and never answered. */
  freeze(): void {
    this.frozen = true;
  }

  /** Drops every connection through the proxy at once, and every new one as it comes. */
  cut(): void {
    this.refusing = true;
    this.dropAll();
  }

  /** Forwards again (after `cut` or `freeze`): the broker is back. */
  restore(): void {
    this.refusing = false;
    this.frozen = false;
  }

  async close(): Promise<void> {
    this.cut();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private dropAll(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  private accept(client: net.Socket, target: { readonly host: string; readonly port: number }): void {
    if (this.refusing) {
      client.destroy();
      return;
    }
    this.track(client);
    this.clients.add(client);
    client.on('close', () => this.clients.delete(client));
    if (this.frozen) return;
    const upstream = net.connect(target);
    this.track(upstream);
    this.forward(client, upstream);
    this.forward(upstream, client);
    // Either side closing closes the other, as a real connection would.
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }

  private forward(from: net.Socket, to: net.Socket): void {
    from.on('data', (chunk: Buffer) => {
      if (!this.frozen) to.write(chunk);
    });
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
  }
}
