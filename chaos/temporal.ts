/**
 * The Temporal server of a fault-injection run (stack.ts): the CLI's dev server on a file in the
 * work folder, or temporal-server on two fresh PostgreSQL databases that it reaches through a
 * proxy the run can cut (infra/temporal-engine.ts). Either restarts on its state; the postgres one
 * is also killed with -9. A server that exits unasked is started again and counted as a crash,
 * like the supervised services.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { PgProxy } from '../harness/pg-proxy';
import { freePort } from '../harness/processes';
import { databaseSizes, dropDatabases } from '../harness/raw-db';
import { type EngineOptions, launchEngine, prepareEngine, redrawEnginePorts } from '../infra/temporal-engine';
import { ensureTemporalCli, startDevServer, stopDevServer } from '../infra/temporal-server';
import type { RunContext } from './stack';

export const NAMESPACE = 'default';
/** History shards of the postgres engine (what `dialer temporal start --engine postgres` takes). */
const ENGINE_SHARDS = 4;
/**
 * Its connections per service (four services, so at most 4 × 8 = 32): the run shares the
 * machine's PostgreSQL (max_connections 100 by default) with the dialer's own pools and others.
 */
const ENGINE_CONNECTIONS = { state: 6, visibility: 2 };
/** A server that cannot come up for this long (its database cut meanwhile, say) fails the fault. */
const START_TIMEOUT_MS = 180_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Temporal's two databases on the postgres engine, as the report gives them. */
export interface TemporalDatabases {
  names: string[];
  /** Bytes per database, read before they are dropped. */
  sizes: () => Promise<Record<string, number>>;
  dropped: boolean;
}

/** One server process at a time: started, restarted, killed and watched in one place. */
export class TemporalProcess {
  private child: ChildProcess | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Exits nobody asked for, each followed by a launch. */
  crashes = 0;
  /** Launches that failed (its database cut meanwhile, a port taken), each followed by another. */
  failedLaunches = 0;

  constructor(
    /** Launches the server; `attempt` > 0 when the previous launch failed (postgres: other ports then). */
    private readonly launch: (attempt: number) => Promise<ChildProcess>,
    private readonly stopGracefully: (child: ChildProcess) => Promise<void>,
    private readonly log: (line: string) => void,
  ) {}

  get pid(): number | undefined {
    return this.child?.exitCode === null ? this.child.pid : undefined;
  }

  /** One step at a time: a restart and a kill (faults of two kinds) never act on one process together. */
  private serial<T>(step: () => Promise<T>): Promise<T> {
    const next = this.queue.then(step, step);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** The first start: a failure here is the run's (after three tries), not a crash. */
  async start(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        this.watch(await this.launch(attempt));
        return;
      } catch (err) {
        if (attempt >= 2) throw err;
        this.log(
          `Temporal did not start (${err instanceof Error ? err.message : String(err)}): trying again`,
        );
      }
    }
  }

  /** Stops the server (SIGTERM, it drains) and starts it again on its state; resolves when it answers. */
  restart(): Promise<number> {
    return this.serial(async () => {
      const child = this.forget();
      if (child) await this.stopGracefully(child);
      return this.launchUntilUp();
    });
  }

  /** kill -9, a pause, a start on the same state; resolves with how long the start took, in ms. */
  kill9(pauseMs: number): Promise<number> {
    return this.serial(async () => {
      const child = this.forget();
      if (child?.pid !== undefined && child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        try {
          process.kill(-child.pid, 'SIGKILL'); // its process group (it runs detached)
          await exited;
        } catch {
          // gone already
        }
      }
      await sleep(pauseMs);
      return this.launchUntilUp();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    const child = this.forget();
    if (child) await this.stopGracefully(child);
  }

  private forget(): ChildProcess | undefined {
    const child = this.child;
    this.child = undefined;
    return child;
  }

  private watch(child: ChildProcess): void {
    this.child = child;
    child.once('exit', (code, signal) => {
      if (this.child !== child || this.closed) return;
      this.child = undefined;
      this.crashes++;
      this.log(`Temporal exited by itself (${signal ?? `code ${code}`}): starting it again`);
      void sleep(1000).then(() => this.serial(() => this.launchUntilUp()).catch(() => undefined));
    });
  }

  /** Launches until the server answers (a launch may fail while its database is cut); the time it took. */
  private async launchUntilUp(): Promise<number> {
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      if (this.closed) return Date.now() - started;
      try {
        this.watch(await this.launch(attempt));
        return Date.now() - started;
      } catch (err) {
        this.failedLaunches++;
        if (Date.now() - started > START_TIMEOUT_MS) throw err;
        this.log(
          `Temporal did not come up (${err instanceof Error ? err.message : String(err)}): again in 1 s`,
        );
        await sleep(1000);
      }
    }
  }
}

/** What the stack needs of the server: where it answers, the process, its proxy and databases (postgres). */
export interface ChaosTemporal {
  address: string;
  process: TemporalProcess;
  /** postgres: the proxy between the server and its databases, which temporal-db-cut cuts. */
  proxy?: PgProxy;
  databases?: TemporalDatabases;
}

export async function startTemporal(ctx: RunContext): Promise<ChaosTemporal> {
  return (ctx.o.engine ?? 'dev') === 'postgres' ? startPostgresEngine(ctx) : startDevEngine(ctx);
}

/** The Temporal dev server on a file in the work folder, so that a restart keeps its workflows. */
async function startDevEngine(ctx: RunContext): Promise<ChaosTemporal> {
  const address = `127.0.0.1:${await freePort()}`;
  const uiPort = await freePort();
  const options = {
    cli: await ensureTemporalCli(ctx.toolsDir, ctx.log),
    address,
    uiPort,
    namespace: NAMESPACE,
    dbFile: path.join(ctx.workDir, 'temporal.db'),
    logFile: path.join(ctx.workDir, 'logs', 'temporal.log'),
  };
  const proc = new TemporalProcess(() => startDevServer(options), stopDevServer, ctx.log);
  await proc.start();
  ctx.cleanups.push(() => proc.close());
  ctx.log(
    `[${ctx.elapsed()}] Temporal dev server at ${address} (UI http://127.0.0.1:${uiPort}), data in ${ctx.workDir}`,
  );
  return { address, process: proc };
}

/**
 * The stem of the run's Temporal database names: the path of --temporal-database-url, else
 * `temporal_chaos` on the server of --database-url.
 */
export function temporalDatabaseNames(
  o: { databaseUrl: string; temporalDatabaseUrl?: string; seed: number },
  rand = randomBytes(3).toString('hex'),
): { server: string; names: [string, string] } {
  const url = new URL(o.temporalDatabaseUrl ?? o.databaseUrl);
  const given = o.temporalDatabaseUrl ? decodeURIComponent(url.pathname.replace(/^\//, '')) : '';
  const state = `${given || 'temporal_chaos'}_${o.seed}_${rand}`;
  const names: [string, string] = [state, `${state}_visibility`];
  if (names[1].length > 63)
    throw new Error(`Temporal database name ${names[1]} is over PostgreSQL's 63 bytes`);
  url.pathname = '/postgres';
  return { server: url.toString(), names };
}

/**
 * temporal-server on fresh databases, dropped at the end (unless kept), its folder in the work
 * folder. Its connections go through a proxy of their own, cut apart from the dialer's.
 */
async function startPostgresEngine(ctx: RunContext): Promise<ChaosTemporal> {
  const { server, names } = temporalDatabaseNames(ctx.o);
  const databases: TemporalDatabases = {
    names,
    sizes: () => databaseSizes(server, names),
    dropped: !ctx.o.keepTemporalDatabases,
  };
  ctx.cleanups.push(async () => {
    if (databases.dropped) await dropDatabases(server, names);
    else ctx.log(`Temporal's databases kept: ${names.join(', ')}`);
  });
  const target = new URL(server);
  target.pathname = `/${names[0]}`;
  const { proxy, url } = await PgProxy.inFrontOf(target.toString());
  ctx.cleanups.push(() => proxy.close());
  const address = `127.0.0.1:${await freePort()}`;
  const dir = path.join(ctx.workDir, 'temporal-postgres');
  const progress = (line: string) => ctx.log(`[${ctx.elapsed()}] ${line}`);
  const options: EngineOptions = {
    toolsDir: ctx.toolsDir,
    dir,
    databaseUrl: url,
    shards: ENGINE_SHARDS,
    connections: ENGINE_CONNECTIONS,
    address,
    namespace: NAMESPACE,
    logFile: path.join(ctx.workDir, 'logs', 'temporal.log'),
  };
  const prepared = await prepareEngine(options, progress);
  // a restart takes the same ports (the killed process's membership rows name them), unless a
  // launch failed: one of them may have been taken meanwhile (the log says "address already in use")
  const launch = async (attempt: number) => {
    if (attempt > 0) await redrawEnginePorts(options);
    return launchEngine(prepared, progress);
  };
  const proc = new TemporalProcess(launch, (child) => stopDevServer(child, 30_000), ctx.log);
  const t0 = Date.now();
  await proc.start();
  ctx.cleanups.push(() => proc.close());
  ctx.log(
    `[${ctx.elapsed()}] Temporal (postgres engine, databases ${names.join(', ')} through a proxy) at ${address}, ` +
      `up in ${Date.now() - t0} ms; config in ${dir}`,
  );
  return { address, process: proc, proxy, databases };
}
