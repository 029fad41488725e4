import net from 'node:net';

/**
 * A TCP proxy between the dialer's processes and PostgreSQL that can cut every connection:
 * `cut(ms)` resets the open ones and refuses new ones for `ms`, the way a network partition or a
 * database failover looks to the driver. The machine's PostgreSQL itself is never touched. It also
 * counts the statements sent through it (the benchmark's database round trips per attempt).
 */
export class PgProxy {
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  private refuseUntil = 0;
  private readonly server: net.Server;
  port = 0;
  /**
   * Statements the clients sent: each simple Query and each Sync that ends an extended-protocol
   * query (parse/bind/execute) counts once — the database round trips, pipelined ones included.
   */
  statements = 0;
  /** The same count by statement: its text's first words (whitespace folded), for the bench. */
  readonly byStatement = new Map<string, number>();

  private constructor(target: { host: string; port: number }) {
    this.server = net.createServer((client) => this.accept(client, target));
  }

  static async start(target: { host: string; port: number }, listenPort = 0): Promise<PgProxy> {
    const proxy = new PgProxy(target);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(listenPort, '127.0.0.1', () => resolve());
    });
    proxy.port = (proxy.server.address() as net.AddressInfo).port;
    return proxy;
  }

  private accept(client: net.Socket, target: { host: string; port: number }): void {
    if (Date.now() < this.refuseUntil) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(target.port, target.host);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    this.pairs.add(pair);
    const close = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('data', this.counter());
  }

  /** Reads the frontend's message stream: untyped start-up messages first, then typed ones. */
  private counter(): (chunk: Buffer) => void {
    let pending: Buffer = Buffer.alloc(0);
    let startup = true;
    const tally = statementTally(this.byStatement);
    return (chunk) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      for (;;) {
        const head = startup ? 4 : 5;
        if (pending.length < head) break;
        const length = pending.readInt32BE(head - 4); // counts itself, not the type byte
        const total = head - 4 + length;
        if (pending.length < total) break;
        if (startup) {
          // SSLRequest / GSSENCRequest are followed by another start-up message
          const code = pending.readInt32BE(4);
          if (code !== 80877103 && code !== 80877104) startup = false;
        } else {
          const type = String.fromCharCode(pending[0]!);
          if (type === 'Q' || type === 'S') this.statements++;
          tally(type, pending.subarray(5, total));
        }
        pending = pending.subarray(total);
      }
    };
  }

  /** The statements sent most often since `before` (a copy of byStatement), with their counts. */
  topStatements(n: number, before = new Map<string, number>()): { statement: string; count: number }[] {
    return [...this.byStatement]
      .map(([statement, count]) => ({ statement, count: count - (before.get(statement) ?? 0) }))
      .filter((s) => s.count > 0)
      .sort((a, b) => b.count - a.count)
      .slice(0, n);
  }

  /** A proxy in front of the database a URL names, and the same URL pointing at the proxy. */
  static async inFrontOf(databaseUrl: string): Promise<{ proxy: PgProxy; url: string }> {
    const target = new URL(databaseUrl);
    const proxy = await PgProxy.start({ host: target.hostname, port: Number(target.port || 5432) });
    const url = new URL(databaseUrl);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    return { proxy, url: url.toString() };
  }

  /** Open connections now. */
  get connections(): number {
    return this.pairs.size;
  }

  /** Resets every open connection and refuses new ones for `ms`; returns how many were cut. */
  cut(ms: number): number {
    this.refuseUntil = Date.now() + ms;
    const n = this.pairs.size;
    for (const [client, upstream] of [...this.pairs]) {
      client.resetAndDestroy();
      upstream.destroy();
    }
    return n;
  }

  async close(): Promise<void> {
    this.cut(Infinity);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const STATEMENT_TEXT = 90;

const cstrings = (body: Buffer): string[] => body.toString('utf8').split('\0');
const shortText = (text: string) => text.replace(/\s+/g, ' ').trim().slice(0, STATEMENT_TEXT);

/**
 * Names each counted statement on one connection: a simple Query by its text; an extended one by
 * the text its Parse gave the statement its Bind names (prepared once, bound many times).
 */
function statementTally(into: Map<string, number>): (type: string, body: Buffer) => void {
  const prepared = new Map<string, string>();
  let current = '?';
  const count = (text: string) => into.set(text, (into.get(text) ?? 0) + 1);
  return (type, body) => {
    if (type === 'Q') count(shortText(cstrings(body)[0] ?? ''));
    else if (type === 'P') {
      const [name = '', text = ''] = cstrings(body);
      prepared.set(name, shortText(text));
      current = shortText(text);
    } else if (type === 'B') current = prepared.get(cstrings(body)[1] ?? '') ?? current;
    else if (type === 'S') count(current);
  };
}
