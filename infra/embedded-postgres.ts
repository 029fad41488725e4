import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { embeddedDatabaseUrl } from './config';

/**
 * The embedded PostgreSQL for machines without one: PGlite (PostgreSQL compiled to WebAssembly)
 * with its data in a folder, served on a local port over the PostgreSQL wire protocol by
 * pglite-socket, so the same `postgres` driver, drizzle code and migrations run unchanged.
 */
export interface EmbeddedPostgres {
  url: string;
  /** False when another process (an earlier `dialer dev`) already serves it on that port. */
  started: boolean;
  stop(): Promise<void>;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = <T>(id: string): T => require(id) as T;

/** Whether something accepts connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

export async function startEmbeddedPostgres(o: { dataDir: string; port: number }): Promise<EmbeddedPostgres> {
  const url = embeddedDatabaseUrl(o.port);
  if (await listening(o.port)) return { url, started: false, stop: async () => {} };
  // heavy (WebAssembly): loaded only when the embedded database is used
  const { PGlite } = load<typeof import('@electric-sql/pglite')>('@electric-sql/pglite');
  const { PGLiteSocketServer } = load<typeof import('@electric-sql/pglite-socket')>(
    '@electric-sql/pglite-socket',
  );
  const dir = path.join(o.dataDir, 'pglite');
  fs.mkdirSync(dir, { recursive: true });
  const db = await PGlite.create(dir);
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: o.port, maxConnections: 100 });
  keepQueryCyclesTogether(server);
  await server.start();
  return {
    url,
    started: true,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}

interface QueueItem {
  handlerId: number;
  message: Uint8Array;
  onData(data: Uint8Array): void;
  resolve(bytes: number): void;
  reject(err: unknown): void;
}
interface QueryQueue {
  db: { isInTransaction(): boolean; runExclusive<T>(fn: () => Promise<T>): Promise<T> } & {
    execProtocolRawStream(m: Uint8Array, o: { onRawData(d: Uint8Array): void }): Promise<void>;
  };
  queue: QueueItem[];
  processing: boolean;
  lastHandlerId: number | null;
  processQueue(): Promise<void>;
}

// Protocol messages that end a query cycle: Sync, simple Query, Terminate (and startup packets).
const CYCLE_ENDS = new Set(['S'.charCodeAt(0), 'Q'.charCodeAt(0), 'X'.charCodeAt(0), 0]);

/**
 * pglite-socket 0.2.17 queues each protocol message on its own, so under load one connection's
 * Parse, Bind and Execute interleave with another's, and the unnamed statement and portal they
 * share in the single PGlite session get clobbered ("portal does not exist", "bind message
 * supplies 1 parameters, but prepared statement requires 6"). This keeps a connection's messages
 * together from its first message up to its Sync (and, as pglite-socket already does, for a whole
 * transaction): the queue takes from the same connection until its cycle is complete.
 */
function keepQueryCyclesTogether(server: object): void {
  const q = (server as { queryQueue?: QueryQueue }).queryQueue;
  if (!q || typeof q.processQueue !== 'function' || !Array.isArray(q.queue)) {
    throw new Error('pglite-socket internals changed: review keepQueryCyclesTogether for this version');
  }
  let midCycle: number | null = null;
  q.processQueue = async function processQueue(this: QueryQueue): Promise<void> {
    if (this.processing) return;
    this.processing = true;
    try {
      while (this.queue.length > 0) {
        const sticky = midCycle ?? (this.db.isInTransaction() ? this.lastHandlerId : null);
        let item: QueueItem | undefined;
        if (sticky !== null) {
          const at = this.queue.findIndex((x) => x.handlerId === sticky);
          if (at === -1) break; // wait for the rest of that connection's cycle
          item = this.queue.splice(at, 1)[0];
        } else item = this.queue.shift();
        if (!item) break;
        let bytes = 0;
        try {
          await this.db.runExclusive(() =>
            this.db.execProtocolRawStream(item.message, {
              onRawData: (d) => {
                bytes += d.length;
                item.onData(d);
              },
            }),
          );
        } catch (err) {
          midCycle = null;
          item.reject(err);
          continue;
        }
        midCycle = CYCLE_ENDS.has(item.message[0] ?? 0) ? null : item.handlerId;
        this.lastHandlerId = item.handlerId;
        item.resolve(bytes);
      }
    } finally {
      this.processing = false;
    }
  };
  // a connection that goes away mid-cycle must not block the others
  const clear = (q as unknown as { clearQueueForHandler(id: number): void }).clearQueueForHandler.bind(q);
  (q as unknown as { clearQueueForHandler(id: number): void }).clearQueueForHandler = (id: number) => {
    if (midCycle === id) midCycle = null;
    clear(id);
    void q.processQueue();
  };
}
