/**
 * The benchmark's stack, every piece real and on this machine: Temporal (the engine asked for:
 * the dev server on a file of its own, with the WAL pragmas, or the production temporal-server on
 * fresh databases of the machine's PostgreSQL), the machine's PostgreSQL (database `dialer_bench`,
 * or BENCH_DATABASE_URL) behind a proxy that counts statements, the simulator with zero ring and
 * talk time (its clock 1000× fast, so a spoken message takes milliseconds) and no rate limit, and
 * `dialer server` and `dialer worker` as processes of their own so their CPU time and memory can
 * be read from /proc.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import { dataConverterFor } from '../infra/payload-codec';
import { Service } from '../harness/service';
import { PgProxy } from '../harness/pg-proxy';
import { type Database, connectDatabase } from '../db/client';
import { ensureDatabase, migrateDatabase } from '../db/migrate';
import { type Config, SIMULATOR_ACCOUNT_SID, SIMULATOR_AUTH_TOKEN, parseConfig } from '../infra/config';
import { createLogger } from '../infra/logger';
import { freePort, freePortPair, runDialer } from '../harness/processes';
import { ensureTemporalCli, startDevServer, stopDevServer } from '../infra/temporal-server';
import { engineDatabase, startEngine } from '../infra/temporal-engine';
import { rawConnection } from '../harness/raw-db';
import { type RunningSimulator, startSimulator } from '../simulator';

export const DEFAULT_BENCH_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/dialer_bench';

/** The Temporal server the stack runs: the dev server (SQLite) or temporal-server on PostgreSQL. */
export const ENGINES = ['dev', 'postgres'] as const;
export type Engine = (typeof ENGINES)[number];

/**
 * The application_name of the benchmark's own connections to the dialer's database, so that
 * PostgreSQL's CPU for the dialer leaves out the benchmark's progress counts and checks.
 */
export const BENCH_APPLICATION_NAME = 'dialer-bench';

export interface BenchStack {
  workDir: string;
  engine: Engine;
  temporalAddress: string;
  /** The databases Temporal keeps its state in on PostgreSQL (none for the dev server: SQLite inside it). */
  temporalDatabases: string[];
  /** The dialer's database (the name, on the same PostgreSQL). */
  dialerDatabase: string;
  /** The PostgreSQL server (a URL to the dialer's database), for a look at its backends. */
  databaseUrl: string;
  client: Client;
  /** Straight to PostgreSQL: the benchmark's own reads and writes. */
  db: Database;
  /** Through the counting proxy, as the dialer's processes connect. */
  appDb: Database;
  sim: RunningSimulator;
  proxy: PgProxy;
  /** Environment for `dialer` commands and processes against this stack. */
  env: NodeJS.ProcessEnv;
  temporalPid: () => number;
  workerPid: () => number;
  serverPid: () => number;
  /** Restarts the worker (a clean process for a part that measures its memory). */
  /**
   * A fresh worker process. With `metrics`, it serves its Prometheus metrics (its main thread's
   * V8 heap, the SDK's workflow cache) at the URL returned.
   */
  restartWorker(o?: { metrics?: boolean }): Promise<string | null>;
  dialer(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

const CLK_TCK = 100; // Linux reports utime and stime in 1/100 s

/** CPU milliseconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function cpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // the command name may hold spaces; the fields after its closing parenthesis are fixed
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

/** Resident memory of a process in MB, from /proc/<pid>/status. */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

type Cleanups = (() => Promise<unknown>)[];

interface BenchOptions {
  databaseUrl: string;
  engine: Engine;
  /** History shards of temporal-server (the postgres engine). */
  shards: number;
  log: (line: string) => void;
  /** Write CPU profiles of the worker (every thread) into <workDir>/profiles. */
  profileWorker?: boolean;
  /**
   * Gets the stack's stop before the stack is up: a signal during start-up must stop what has
   * started (and drop the engine's databases) too.
   */
  registerStop?: (stop: () => Promise<void>) => void;
}

export async function startBenchStack(o: BenchOptions): Promise<BenchStack> {
  const cfg = parseConfig(process.env);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dialer-bench-'));
  const cleanups: Cleanups = [];
  // one stop, however many ask (a signal's, and the run's own as its part fails): each waits for it
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
      cleanups.length = 0;
    })());
  o.registerStop?.(stop);
  try {
    const { db, proxy, appDbUrl, appDb } = await startDatabases(o.databaseUrl, cleanups);
    const temporal = await startTemporal(cfg, o, workDir, cleanups);
    const sim = await startBenchSimulator(cleanups);
    const serverPort = await freePort();
    const env = dialerEnv(appDbUrl, temporal.address, sim.url, serverPort);
    const processes = await startProcesses(
      o,
      cfg.temporal.taskQueue,
      workDir,
      env,
      temporal.connection,
      cleanups,
    );
    o.log(`stack up: Temporal ${temporal.address} (${temporal.where}), simulator ${sim.url}, server, worker`);

    return {
      workDir,
      engine: o.engine,
      temporalAddress: temporal.address,
      temporalDatabases: temporal.databases,
      dialerDatabase: decodeURIComponent(new URL(o.databaseUrl).pathname.slice(1)),
      databaseUrl: o.databaseUrl,
      client: temporal.client,
      db,
      appDb,
      sim,
      proxy,
      env,
      temporalPid: temporal.pid,
      ...processes,
      dialer: (args) => runDialer(args, env),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function startDatabases(databaseUrl: string, cleanups: Cleanups) {
  await ensureDatabase(databaseUrl);
  await migrateDatabase(databaseUrl);
  const db = connectDatabase(databaseUrl, { max: 4, applicationName: BENCH_APPLICATION_NAME });
  cleanups.push(() => db.close());
  const { proxy, url: appDbUrl } = await PgProxy.inFrontOf(databaseUrl);
  cleanups.push(() => proxy.close());
  const appDb = connectDatabase(appDbUrl);
  cleanups.push(() => appDb.close());
  return { db, proxy, appDbUrl, appDb };
}

/** Temporal as the options ask, a client of it, and where its data is. */
async function startTemporal(cfg: Config, o: BenchOptions, workDir: string, cleanups: Cleanups) {
  const address = `127.0.0.1:${await freePort()}`;
  const server =
    o.engine === 'postgres'
      ? await startPostgresEngine(cfg, o, workDir, address, cleanups)
      : await startDevTemporal(cfg, o, workDir, address, cleanups);
  const connection = await Connection.connect({ address });
  cleanups.push(() => connection.close());
  // the payload codec of DIALER_PAYLOAD_KEYS, as the server and worker processes have it
  const client = new Client({ connection, namespace: 'default', dataConverter: dataConverterFor(cfg) });
  return { address, connection, client, ...server };
}

/** Stops the server at cleanup; the pid of its process for /proc. */
function stoppable(child: ChildProcess, graceMs: number, cleanups: Cleanups) {
  let running: ChildProcess | undefined = child;
  cleanups.push(async () => {
    if (running) await stopDevServer(running, graceMs);
    running = undefined;
  });
  return () => child.pid!;
}

async function startDevTemporal(
  cfg: Config,
  o: BenchOptions,
  workDir: string,
  address: string,
  cleanups: Cleanups,
) {
  const cli = await ensureTemporalCli(cfg.toolsDir, o.log);
  const child = await startDevServer({
    cli,
    address,
    uiPort: await freePort(),
    namespace: 'default',
    dbFile: path.join(workDir, 'temporal.db'),
    logFile: path.join(workDir, 'temporal.log'),
  });
  return { pid: stoppable(child, 10_000, cleanups), databases: [], where: `dev server, file in ${workDir}` };
}

/**
 * temporal-server on two fresh databases of the bench's PostgreSQL (`temporal_bench_…` and its
 * `_visibility`), dropped when the stack stops; its config and log in <workDir>/temporal-postgres.
 */
async function startPostgresEngine(
  cfg: Config,
  o: BenchOptions,
  workDir: string,
  address: string,
  cleanups: Cleanups,
) {
  const url = new URL(o.databaseUrl);
  url.pathname = `/temporal_bench_${randomBytes(4).toString('hex')}`;
  const { names } = engineDatabase(url.toString());
  const databases = [names.temporal, names.visibility];
  // pushed first, so it runs after the server has stopped, and even if it never came up
  cleanups.push(() => dropDatabases(o.databaseUrl, databases));
  const dir = path.join(workDir, 'temporal-postgres');
  o.log(`starting temporal-server on PostgreSQL (${databases.join(', ')}), ${o.shards} shards…`);
  const child = await startEngine(
    {
      toolsDir: cfg.toolsDir,
      dir,
      databaseUrl: url.toString(),
      shards: o.shards,
      address,
      namespace: 'default',
    },
    o.log,
  );
  return {
    pid: stoppable(child, 30_000, cleanups),
    databases,
    where: `temporal-server, ${o.shards} shards, databases ${databases.join(', ')}, log in ${dir}`,
  };
}

async function dropDatabases(serverUrl: string, names: string[]): Promise<void> {
  const u = new URL(serverUrl);
  u.pathname = '/postgres';
  const sql = rawConnection(u.toString());
  try {
    for (const name of names) await sql.unsafe(`drop database if exists "${name}" with (force)`);
  } finally {
    await sql.end();
  }
}

async function startBenchSimulator(cleanups: Cleanups): Promise<RunningSimulator> {
  const sim = await startSimulator({
    accountSid: SIMULATOR_ACCOUNT_SID,
    authToken: SIMULATOR_AUTH_TOKEN,
    scenario: { default: { outcome: 'human', ringSeconds: 0, talkSeconds: 0 } },
    // the campaign's spoken message would otherwise hold each call ~6 s (150 words a minute)
    timeScale: 0.001,
    logger: createLogger('error', 'simulator'),
  });
  cleanups.push(() => sim.close());
  return sim;
}

function dialerEnv(
  appDbUrl: string,
  temporalAddress: string,
  simUrl: string,
  serverPort: number,
): NodeJS.ProcessEnv {
  return {
    ...process.env,
    DATABASE_URL: appDbUrl,
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_NAMESPACE: 'default',
    TWILIO_ACCOUNT_SID: '',
    TWILIO_AUTH_TOKEN: '',
    TWILIO_API_BASE_URL: simUrl,
    PUBLIC_BASE_URL: `http://127.0.0.1:${serverPort}`,
    SERVER_HOST: '127.0.0.1',
    SERVER_PORT: String(serverPort),
    METRICS_PORT: 'off',
    LOG_LEVEL: 'warn',
  };
}

async function waitUp(workDir: string, what: string, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (!(await ok().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what} did not come up (logs in ${workDir})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** `dialer server` and `dialer worker` as processes of their own, up when they answer. */
async function startProcesses(
  o: BenchOptions,
  taskQueue: string,
  workDir: string,
  env: NodeJS.ProcessEnv,
  connection: Connection,
  cleanups: Cleanups,
): Promise<Pick<BenchStack, 'workerPid' | 'serverPid' | 'restartWorker'>> {
  const logFile = (name: string) => path.join(workDir, `${name}.log`);
  const server = new Service('server', ['server'], env, logFile('server'));
  const profile = o.profileWorker ? ['--cpu-prof', `--cpu-prof-dir=${path.join(workDir, 'profiles')}`] : [];
  let worker = new Service('worker', ['worker'], env, logFile('worker'), profile);
  server.start();
  worker.start();
  cleanups.push(() => Promise.all([server.stop(), worker.stop()]));
  await waitUp(workDir, 'the webhook server', async () => (await fetch(`${env.PUBLIC_BASE_URL}/health`)).ok);
  // a worker is up when Temporal lists it as a poller of the workflow task queue
  const workerPolls = async () => {
    const r = await connection.workflowService.describeTaskQueue({
      namespace: 'default',
      taskQueue: { name: taskQueue },
    });
    return (r.pollers ?? []).some((p) => p.identity?.startsWith(`${worker.pid}@`));
  };
  await waitUp(workDir, 'the worker', workerPolls);
  return {
    workerPid: () => worker.pid!,
    serverPid: () => server.pid!,
    async restartWorker(r) {
      await worker.stop();
      const metricsPort = r?.metrics ? await freePortPair() : null;
      const workerEnv = metricsPort ? { ...env, METRICS_PORT: String(metricsPort) } : env;
      worker = new Service('worker', ['worker'], workerEnv, logFile('worker'), profile);
      worker.start();
      cleanups.push(() => worker.stop());
      await waitUp(workDir, 'the worker', workerPolls);
      return metricsPort ? `http://127.0.0.1:${metricsPort}/metrics` : null;
    },
  };
}
