/**
 * What a fault-injection run starts before its first fault (run.ts): PostgreSQL behind a proxy
 * that can cut it, the Temporal dev server on a file, the Twilio simulator in this process, the
 * webhook/API server and the workers in processes of their own, and the campaign they dial.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Database } from '../db/client';
import { deleteBannedNumbersWithReason, insertBannedNumbers } from '../db/queries/banned-numbers';
import { campaignProgress, insertContacts } from '../db/queries/contacts';
import { ContactSuccessful } from '../domain/contract';
import { SIMULATOR_ACCOUNT_SID, SIMULATOR_AUTH_TOKEN } from '../infra/config';
import { createLogger } from '../infra/logger';
import { freePort, runDialer } from '../harness/processes';
import { type RunningSimulator, startSimulator, type OutcomeSpec } from '../simulator';
import type { RetriedPost } from './checks';
import { PgProxy } from '../harness/pg-proxy';
import {
  type ChaosEngine,
  type CrmEdit,
  type FaultKind,
  makeContacts,
  type PlannedContact,
  planOutcomes,
  Rng,
  shareNumbers,
} from './plan';
import { Service } from '../harness/service';
import { type ChaosTemporal, NAMESPACE, startTemporal } from './temporal';

export interface ChaosOptions {
  contacts: number;
  faults: number;
  seed: number;
  /** Worker processes (default 2). */
  workers?: number;
  /** Mean gap between faults (default 1500 ms). */
  faultGapMs?: number;
  /** The PostgreSQL database the run fills (created and migrated; never the app's own). */
  databaseUrl: string;
  /** The Temporal server: the CLI's dev server on a file (default), or temporal-server on PostgreSQL. */
  engine?: ChaosEngine;
  /**
   * postgres engine: the PostgreSQL server of Temporal's two databases, whose path is their names'
   * stem (default: --database-url's server, `temporal_chaos`); the run appends `_<seed>_<random>`.
   */
  temporalDatabaseUrl?: string;
  /** postgres engine: keep Temporal's databases at the end (default: dropped). */
  keepTemporalDatabases?: boolean;
  /** How often the processes' RSS is sampled (default 30 s). */
  sampleEveryMs?: number;
  /** How long to wait for the campaign to settle after the last fault before stopping it anyway. */
  settleTimeoutMs?: number;
  /** Where the Temporal database and the processes' logs go (default: a new temp folder). */
  workDir?: string;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

export const CALLER_ID = '+15005550006';
export const MAX_ATTEMPTS = 3;
export const TWILIO_TIMEOUT_MS = 2000;
/** The share of contacts given another contact's number. */
const SHARED_NUMBER_SHARE = 0.05;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What every step of a run shares. */
export interface RunContext {
  o: ChaosOptions;
  started: number;
  log: (line: string) => void;
  /** Seconds since the run started, for progress lines. */
  elapsed: () => string;
  rng: Rng;
  workers: number;
  workDir: string;
  toolsDir: string;
  /** What to stop at the end (or on Ctrl-C), run last first. */
  cleanups: (() => Promise<unknown>)[];
}

/** The stack under test, as startStack leaves it. */
export interface Stack extends RunContext {
  db: Database;
  proxy: PgProxy;
  sim: RunningSimulator;
  temporal: ChaosTemporal;
  server: Service;
  workerServices: Service[];
  services: Service[];
  env: NodeJS.ProcessEnv;
  serverPort: number;
  apiToken: string;
  campaign: string;
}

/** The campaign's contacts, as the simulator plays them. */
export interface Dialed {
  /** The outcomes the simulator plays, per number. */
  plans: Map<string, OutcomeSpec[]>;
  /** Hands the plans to the simulator again after a CRM added numbers. */
  applyScenario: () => void;
  banned: Set<string>;
  campaignStarted: number;
}

/** What the faults did: counts for the report, and the records the checks read besides the tables. */
export interface Tally {
  /** Per kind of the engine's. */
  faults: Partial<Record<FaultKind, number>>;
  crmEdits: Record<CrmEdit, { applied: number; refused: number }>;
  resets: Map<number, Date[]>;
  retriedPosts: RetriedPost[];
  /** Restarts still pending when the last fault was injected. */
  background: Promise<unknown>[];
}

export type ChaosRun = Stack & Dialed & { tally: Tally };

/** Runs `dialer <args>`; resolves with the exit code and its output. */
export async function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  const r = await runDialer(args, env);
  return { code: r.code, out: r.stdout + r.stderr };
}

export async function retry<T>(fn: () => Promise<T>, ok: (r: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await fn();
    if (ok(r) || Date.now() > deadline) return r;
    await sleep(500);
  }
}

export async function startStack(ctx: RunContext, db: Database): Promise<Stack> {
  // PostgreSQL behind the cuttable proxy; Temporal on its own state; the simulator here
  const { proxy, url: appDbUrl } = await PgProxy.inFrontOf(ctx.o.databaseUrl);
  ctx.cleanups.push(() => proxy.close());
  const temporal = await startTemporal(ctx);
  const sim = await startSimulator({
    accountSid: SIMULATOR_ACCOUNT_SID,
    authToken: SIMULATOR_AUTH_TOKEN,
    timeScale: 0.1,
    // callbacks to a killed webhook server fail by design: only errors are news here
    logger: createLogger('error', 'simulator'),
  });
  ctx.cleanups.push(() => sim.close());

  const serverPort = await freePort();
  const apiToken = randomBytes(24).toString('hex');
  const campaign = `chaos-${ctx.o.seed}-${Date.now().toString(36)}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: appDbUrl,
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: NAMESPACE,
    TEMPORAL_TASK_QUEUE: campaign,
    TWILIO_ACCOUNT_SID: '',
    TWILIO_AUTH_TOKEN: '',
    TWILIO_API_BASE_URL: sim.url,
    TWILIO_TIMEOUT_MS: String(TWILIO_TIMEOUT_MS),
    PUBLIC_BASE_URL: `http://127.0.0.1:${serverPort}`,
    SERVER_HOST: '127.0.0.1',
    SERVER_PORT: String(serverPort),
    DIALER_API_TOKEN: apiToken,
    METRICS_PORT: 'off',
    LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? 'warn',
  };
  return {
    ...ctx,
    db,
    proxy,
    sim,
    temporal,
    ...startServices(ctx, env),
    env,
    serverPort,
    apiToken,
    campaign,
  };
}

/** The webhook/API server and the workers, each a process with its own log file. */
function startServices(
  ctx: RunContext,
  env: NodeJS.ProcessEnv,
): Pick<Stack, 'server' | 'workerServices' | 'services'> {
  const logFile = (name: string) => path.join(ctx.workDir, 'logs', `${name}.log`);
  const server = new Service('server', ['server'], env, logFile('server'));
  const workerServices = Array.from(
    { length: ctx.workers },
    (_, i) => new Service(`worker-${i + 1}`, ['worker'], env, logFile(`worker-${i + 1}`)),
  );
  const services = [server, ...workerServices];
  for (const s of services) s.start();
  ctx.cleanups.push(() => Promise.all(services.map((s) => s.stop())));
  return { server, workerServices, services };
}

/** The planned contacts as new rows of the campaign, in batches. */
async function insertPlannedContacts(
  db: Database,
  campaign: string,
  contacts: PlannedContact[],
): Promise<void> {
  for (const batch of batches(contacts, INSERT_BATCH)) {
    await insertContacts(
      db.sql,
      batch.map((c) => ({
        campaign_name: campaign,
        phone_number: c.phone,
        name: null,
        time_zone: null,
        redial_time: null,
        contact_successful: ContactSuccessful.NotUsed,
        data: {},
      })),
    );
  }
}

/** The campaign and its contacts, as an operator and a CRM would make them, started. */
export async function startCampaign(run: Stack): Promise<Dialed> {
  const { db, sim, rng, campaign } = run;
  const contacts = makeContacts(rng, run.o.contacts);
  // one person, several rows: never two calls to them at once (invariant 9)
  const shared = shareNumbers(rng, contacts, SHARED_NUMBER_SHARE);
  const plans = new Map<string, OutcomeSpec[]>(
    contacts.filter((c) => c.phone.startsWith('+')).map((c) => [c.phone, planOutcomes(rng)]),
  );
  const applyScenario = () =>
    sim.setScenario({
      default: { outcome: 'human', ringSeconds: 2, talkSeconds: 5 },
      numbers: Object.fromEntries(plans),
    });
  applyScenario();
  const banned = new Set(contacts.filter((c) => c.banned).map((c) => c.phone));
  for (const batch of batches([...banned], INSERT_BATCH)) {
    await insertBannedNumbers(
      db.sql,
      batch.map((p) => ({ phone_number: p, reason: campaign })),
    );
  }
  run.cleanups.push(() => deleteBannedNumbersWithReason(db.sql, campaign));
  const created = await cli(createArgs(campaign), run.env);
  if (created.code !== 0) throw new Error(`campaign create failed:\n${created.out}`);
  await insertPlannedContacts(db, campaign, contacts);
  const startArgs = [
    'campaign',
    'start',
    campaign,
    '--refill-interval',
    '5s',
    '--call-timeout',
    '15s',
    '--lookahead',
    '10s',
  ];
  const start = await retry(
    () => cli(startArgs, run.env),
    (r) => r.code === 0,
    60_000,
  );
  if (start.code !== 0) throw new Error(`campaign start failed:\n${start.out}`);
  const campaignStarted = Date.now();
  run.log(
    `[${run.elapsed()}] campaign ${campaign}: ${run.o.contacts} contacts (${banned.size} on the do-not-call list, ` +
      `${shared} with another contact's number), ${run.workers} workers`,
  );
  return { plans, applyScenario, banned, campaignStarted };
}

/**
 * Rows per insert: a statement carries at most 65,535 parameters (7 a contact), and a 100,000
 * contact run would pass that in one.
 */
const INSERT_BATCH = 5000;

function* batches<T>(xs: T[], size: number): Generator<T[]> {
  for (let i = 0; i < xs.length; i += size) yield xs.slice(i, i + size);
}

/** `dialer campaign create`: the simulator's numbers around the clock, short retry delays. */
const createArgs = (campaign: string) => [
  'campaign',
  'create',
  campaign,
  '--caller-id',
  CALLER_ID,
  '--window',
  'daily 00:00-24:00',
  '--max-attempts',
  String(MAX_ATTEMPTS),
  '--lines',
  '20',
  '--calls-per-second',
  '50',
  '--ring-timeout',
  '20',
  '--retry',
  'default=2s',
  '--retry',
  'Busy=1s',
  '--retry',
  'AlertingTimeout=3s',
];

/** Where the campaign is: attempts recorded, contacts cached (3), contacts still to dial. */
export const progress = (run: Stack) => campaignProgress(run.db.sql, run.campaign, MAX_ATTEMPTS);
