/**
 * A real TCP proxy (node:net) the chaos suite puts between the service and a server. `cut()`
 * destroys every open connection and refuses new ones until `restore()`: to the service this is a
 * network failure, not a clean shutdown. `freeze()` leaves the open connections open but forwards
 * nothing more on them, either way (new connections work): a link that died without a reset, as a
 * dropped route or a lost NAT mapping looks to the service.
 */
import net from 'node:net';

export class TcpProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private readonly pairs = new Set<readonly [net.Socket, net.Socket]>();
  private refusing = false;

  constructor(
    readonly listenPort: number,
    readonly targetPort: number,
    readonly host = '127.0.0.1',
  ) {}

  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      if (this.refusing) {
        client.destroy();
        return;
      }
      const upstream = net.connect(this.targetPort, this.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream);
      upstream.pipe(client);
      const pair = [client, upstream] as const;
      this.pairs.add(pair);
      client.on('close', () => this.pairs.delete(pair));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(this.listenPort, this.host, () => resolve());
    });
  }

  cut(): void {
    this.refusing = true;
    for (const s of this.sockets) s.destroy();
  }

  /** The open connections stay open and go silent: what is sent on them is dropped. */
  freeze(): void {
    for (const pair of this.pairs) {
      const [client, upstream] = pair;
      client.unpipe(upstream);
      upstream.unpipe(client);
      for (const s of pair) s.on('data', () => undefined); // read and drop
    }
    this.pairs.clear();
  }

  restore(): void {
    this.refusing = false;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
