import crypto from 'node:crypto';
import path from 'node:path';
import { type Client, Connection } from '@temporalio/client';
import {
  DefaultLogger,
  NativeConnection,
  Runtime,
  bundleWorkflowCode,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import { twilioCalls } from '../activities/twilio-calls';
import { WORKER_APPLICATION_NAME, connectDatabase, type Database } from '../db/client';
import { SIMULATOR_ACCOUNT_SID, SIMULATOR_AUTH_TOKEN, parseConfig } from '../infra/config';
import { createLogger } from '../infra/logger';
import { FAILURE_CONVERTER_PATH, dataConverterFor, payloadCodecFor } from '../infra/payload-codec';
import { temporalClient } from '../infra/temporal-connection';
import { freePort, freePortPair, runDialer } from './processes';
import { createTwilioClient } from '../infra/twilio';
import { buildServer } from '../server/app';
import { type RunningSimulator, type SimulatorOptions, startSimulator } from '../simulator';
import { type DialerWorker, createWorker, workflowsPath } from '../worker/main';

/**
 * The payload key of every test, committed for tests only (bytes 0 to 31). Set in this process's
 * environment, so that the stack, the tests' own clients and every dialer process a test spawns
 * encrypt and decrypt Temporal's payloads alike.
 */
export const TEST_PAYLOAD_KEYS = 'test-1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=';
process.env.DIALER_PAYLOAD_KEYS = TEST_PAYLOAD_KEYS;

export const cfg = parseConfig(process.env);
/** For a test's own Client, Worker or replay: the stack's payload codec. */
export const testDataConverter = dataConverterFor(cfg);
/** The HTTP API's bearer token in test stacks. */
export const API_TOKEN = 'test-api-token-0123456789abcdef';
export const repoRoot = path.resolve(__dirname, '..');

// Tests share one Temporal server: keep the SDK's own logging to warnings.
Runtime.install({ logger: new DefaultLogger('WARN') });

/** A name no other test (or earlier run) uses: campaigns, task queues, workflow ids. */
export function uid(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${crypto.randomBytes(3).toString('hex')}`;
}

export function testDatabase(): Database {
  return connectDatabase(cfg.testDatabaseUrl, { max: 5 });
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** One workflow bundle per test process: bundling takes seconds. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({
    workflowsPath,
    failureConverterPath: FAILURE_CONVERTER_PATH,
    logger: { ...console, trace() {}, debug() {}, info() {} } as never,
  });
  return bundle;
}

export interface Stack {
  taskQueue: string;
  /** A plain connection, as a CRM's: its writes to contacts notify the campaigns (§8). */
  db: Database;
  client: Client;
  /** The in-process worker (absent with `worker: false`). */
  worker?: DialerWorker;
  sim: RunningSimulator;
  server: FastifyInstance;
  serverUrl: string;
  /** Environment for a spawned `dialer` process that talks to this stack. */
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

export interface StackOptions {
  twilioTimeoutMs?: number;
  tooManyRequestsBackoffMs?: number[];
  worker?: boolean;
  /** The database URL the worker's contact-change listener connects to (e.g. through a PgProxy). */
  contactChangesUrl?: string;
  /** A database of the test's own, which it created and migrated (default: the suite's, TEST_DATABASE_URL). */
  databaseUrl?: string;
  /** A Temporal server of the test's own (default: the suite's, TEMPORAL_ADDRESS). */
  temporalAddress?: string;
  /** The server's port (default: any free one), for a URL to give out before the stack starts. */
  serverPort?: number;
  /**
   * The origin of a test's own Temporal UI on loopback: /codec lets its requests through without
   * the token, as under `dialer dev` (the UI sends none).
   */
  trustedUiOrigin?: string;
}

/** The real pieces, in-process: simulator, webhook server and a worker on a task queue of its own. */
export async function startStack(
  sim: Partial<SimulatorOptions> = {},
  opts: StackOptions = {},
): Promise<Stack> {
  const taskQueue = uid('tq');
  const databaseUrl = opts.databaseUrl ?? cfg.testDatabaseUrl;
  const db = connectDatabase(databaseUrl, { max: 5 });
  const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'error', 'test');
  const simulator = await startSimulator({
    accountSid: SIMULATOR_ACCOUNT_SID,
    authToken: SIMULATOR_AUTH_TOKEN,
    logger,
    ...sim,
  });
  const address = opts.temporalAddress ?? cfg.temporal.address;
  const connection = await Connection.connect({ address });
  const client = temporalClient(connection, cfg);
  const { server, serverUrl } = await listenServer(opts, { client, db, logger, taskQueue });
  // worker: false → the test runs its own worker processes
  const worker =
    opts.worker === false
      ? undefined
      : await startWorker(opts, { address, client, simulator, serverUrl, taskQueue, databaseUrl });
  return {
    taskQueue,
    db,
    client,
    ...(worker ? { worker: worker.worker } : {}),
    sim: simulator,
    server,
    serverUrl,
    env: stackEnv({ taskQueue, simulatorUrl: simulator.url, serverUrl, address, databaseUrl }),
    async stop() {
      // a test that failed half way leaves its open campaigns running with no worker to answer:
      // end them, so later tests on the same server (recover asks every holder) do not wait on them
      await terminateRunning(client, taskQueue).catch(() => undefined);
      await worker?.stop();
      await server.close();
      await connection.close();
      await simulator.close();
      await db.close();
    },
  };
}

/** The webhook server and API on a free port (or opts.serverPort); its URL is known once it listens. */
async function listenServer(
  opts: StackOptions,
  p: {
    client: Client;
    db: Database;
    logger: ReturnType<typeof createLogger>;
    taskQueue: string;
  },
): Promise<{ server: FastifyInstance; serverUrl: string }> {
  const serverDeps = {
    temporal: p.client,
    db: p.db,
    authToken: SIMULATOR_AUTH_TOKEN,
    publicBaseUrl: '', // set below, on this same object: the routes read it per request
    logger: p.logger,
    apiToken: API_TOKEN,
    taskQueue: p.taskQueue,
    defaultRegion: 'US',
    payloadCodec: payloadCodecFor(cfg),
    ...(opts.trustedUiOrigin
      ? { uiOrigins: [opts.trustedUiOrigin], trustUiOrigin: true }
      : { uiOrigins: cfg.temporal.uiOrigins }),
    temporalUiUrl: opts.trustedUiOrigin ?? cfg.temporal.uiOrigins[0],
  };
  const server = await buildServer(serverDeps);
  await server.listen({ host: '127.0.0.1', port: opts.serverPort ?? 0 });
  const address = server.server.address();
  const serverUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  serverDeps.publicBaseUrl = serverUrl;
  return { server, serverUrl };
}

/** The in-process worker, with its own database connections and the simulator as Twilio. */
async function startWorker(
  opts: StackOptions,
  p: {
    address: string;
    client: Client;
    simulator: RunningSimulator;
    serverUrl: string;
    taskQueue: string;
    databaseUrl: string;
  },
): Promise<{ worker: DialerWorker; stop(): Promise<void> }> {
  const nativeConnection = await NativeConnection.connect({ address: p.address });
  // the worker's own connections, named as a worker process names them: the contacts trigger
  // leaves its writes alone, while stack.db's (the CRM's) notify
  const workerDb = connectDatabase(p.databaseUrl, { max: 5, applicationName: WORKER_APPLICATION_NAME });
  const twilioClient = createTwilioClient({
    accountSid: SIMULATOR_ACCOUNT_SID,
    authToken: SIMULATOR_AUTH_TOKEN,
    apiBaseUrl: p.simulator.url,
    timeoutMs: opts.twilioTimeoutMs ?? 10_000,
  });
  const worker = await createWorker({
    connection: nativeConnection,
    namespace: cfg.temporal.namespace,
    taskQueue: p.taskQueue,
    dataConverter: testDataConverter,
    workflowBundle: await workflowBundle(),
    contactChanges: { databaseUrl: opts.contactChangesUrl ?? p.databaseUrl, mode: 'listen' },
    deps: {
      db: workerDb,
      calls: twilioCalls(twilioClient),
      temporal: p.client,
      clock: () => new Date(),
      publicBaseUrl: p.serverUrl,
      defaultRegion: 'US',
      ...(opts.tooManyRequestsBackoffMs ? { tooManyRequestsBackoffMs: opts.tooManyRequestsBackoffMs } : {}),
    },
  });
  const running = worker.run();
  return {
    worker,
    async stop() {
      worker.shutdown();
      await running;
      await nativeConnection.close();
      await workerDb.close();
    },
  };
}

/** Environment for a spawned `dialer` process that talks to this stack. */
function stackEnv(p: {
  taskQueue: string;
  simulatorUrl: string;
  serverUrl: string;
  address: string;
  databaseUrl: string;
}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    DATABASE_URL: p.databaseUrl,
    TEMPORAL_ADDRESS: p.address,
    TEMPORAL_TASK_QUEUE: p.taskQueue,
    TWILIO_API_BASE_URL: p.simulatorUrl,
    PUBLIC_BASE_URL: p.serverUrl,
    LOG_LEVEL: 'warn',
    // a spawned worker serves no /metrics unless a test asks: ports stay free
    METRICS_PORT: 'off',
  };
}

/** Terminates the workflows still running on a test stack's task queue. */
async function terminateRunning(client: Client, taskQueue: string): Promise<void> {
  const query = `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'`;
  for await (const w of client.workflow.list({ query })) {
    await client.workflow
      .getHandle(w.workflowId, w.runId)
      .terminate('the test stack stopped')
      .catch(() => undefined);
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the operator's command line as a separate process, as an operator would. */
export const runCli: (args: string[], env: NodeJS.ProcessEnv) => Promise<CliResult> = runDialer;

/** Inserts contacts the way a CRM does: plain SQL with the contract's columns. */
export async function insertContacts(
  db: Database,
  campaign: string,
  phones: string[],
  extra: { contact_successful?: number; redial_time?: Date | null; number_of_contacts?: number } = {},
): Promise<number[]> {
  const rows = phones.map((p) => ({
    campaign_name: campaign,
    phone_number: p,
    contact_successful: extra.contact_successful ?? 0,
    redial_time: extra.redial_time ?? null,
    number_of_contacts: extra.number_of_contacts ?? 0,
  }));
  const inserted = await db.sql<{ id: string }[]>`insert into contacts ${db.sql(rows)} returning id`;
  return inserted.map((r) => Number(r.id));
}

/** mulberry32: a small seeded PRNG, so a run can be repeated with its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Distinct test phone numbers in a +1 500 555 range (Twilio's test range), unique per call. */
let phoneSeq = crypto.randomInt(0, 9_000_000);
export function testPhone(): string {
  phoneSeq = (phoneSeq + 1) % 10_000_000;
  return `+1500${String(phoneSeq).padStart(7, '0')}`;
}

export { freePort, freePortPair };

/**
 * The environment `dialer dev` and `dialer demo` get on embedded defaults, for one run: the data
 * folder, free ports for the server, the simulator and the embedded PostgreSQL, no Twilio (so the
 * simulator dials), no DATABASE_URL (so the embedded one serves), a task queue of its own.
 * `overrides` sets or adds variables.
 */
export async function embeddedDefaultsEnv(
  dataDir: string,
  overrides: NodeJS.ProcessEnv = {},
): Promise<NodeJS.ProcessEnv> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_TASK_QUEUE: uid('tq'),
    DIALER_DATA_DIR: dataDir,
    EMBEDDED_POSTGRES_PORT: String(await freePort()),
    SERVER_PORT: String(await freePort()),
    SIMULATOR_PORT: String(await freePort()),
    METRICS_PORT: 'off',
    TWILIO_ACCOUNT_SID: '',
    TWILIO_AUTH_TOKEN: '',
    TWILIO_API_BASE_URL: '',
    PUBLIC_BASE_URL: '',
    LOG_LEVEL: 'warn',
  };
  delete env.DATABASE_URL;
  return { ...env, ...overrides };
}

/** Polls until `check` returns a value (not undefined/false) or the time is up. */
export async function eventually<T>(
  check: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A calling window that opens at `opensAt` (whole seconds) for callees in `closedZone`, where it
 * is about noon now, and is already open in `openZone`, an hour ahead: windows relative to now,
 * so that no test waits for a real evening. Both are fixed-offset zones (UTC+5, UTC-3).
 */
export function windowOpeningIn(ms: number, now = new Date()) {
  const opensAt = new Date(Math.ceil((now.getTime() + ms) / 1000) * 1000);
  const offset = 12 - now.getUTCHours();
  const zone = (h: number) => (h === 0 ? 'UTC' : `UTC${h > 0 ? '+' : '-'}${Math.abs(h)}`);
  const closedZone = zone(offset);
  const local = new Date(opensAt.getTime() + offset * 3600_000).toISOString().slice(11, 19);
  return { opensAt, closedZone, openZone: zone(offset + 1), window: `daily ${local}-23:00` };
}

/** A calling window open around the clock, for campaigns whose tests are not about windows. */
export const ALL_DAY = 'daily 00:00-24:00';

/** The caller id test campaigns dial from (one of Twilio's test numbers). */
export const CALLER_ID = '+15005550006';

/** `dialer campaign create <name> --caller-id … <options>` as an operator runs it; throws if it fails. */
export async function createCampaign(
  env: NodeJS.ProcessEnv,
  name: string,
  ...options: string[]
): Promise<void> {
  // Twilio's default rate (1 call a second) would make most tests wait on pacing they do not test
  const rate = options.includes('--calls-per-second') ? [] : ['--calls-per-second', '100'];
  // test numbers (+1 500) map to every zone of the North American plan, where the default window
  // (08:00–21:00 in all of them) is open about two hours a day: tests that do not test windows dial around the clock
  const window = options.includes('--window') ? [] : ['--window', ALL_DAY];
  const r = await runCli(
    ['campaign', 'create', name, '--caller-id', CALLER_ID, ...rate, ...window, ...options],
    env,
  );
  if (r.code !== 0) throw new Error(`dialer campaign create ${name} failed (${r.code}): ${r.stderr}`);
}
