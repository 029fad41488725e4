/**
 * The fault-injection run (contract §9, docs/development.md): the real stack in separate
 * processes (Temporal: the dev server on a file or temporal-server on PostgreSQL; the webhook/API
 * server, several workers; PostgreSQL behind a proxy that can cut it; the Twilio simulator in this
 * process), a campaign with random outcomes and short retry delays, and a seeded schedule of
 * faults. When everything has settled it stops the campaign and checks the database,
 * call_attempts and the simulator's calls against the contract (checks.ts). stack.ts starts the
 * stack and the campaign, temporal.ts the Temporal server, faults.ts injects the faults,
 * measure.ts samples memory and reads the campaign's histories and the workers' logs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connectDatabase } from '../db/client';
import { attemptsOfCampaign } from '../db/queries/call-attempts';
import { contactsOfCampaign } from '../db/queries/contacts';
import { ensureDatabase, migrateDatabase } from '../db/migrate';
import { config } from '../infra/config';
import { campaignWorkflowId } from '../workflows/shared';
import { callRecord, checkRun, summarise, INVARIANTS, type Invariant } from './checks';
import { injectFaults } from './faults';
import {
  campaignHistories,
  type CampaignHistories,
  countWorkerLogs,
  RssSampler,
  type RssSeries,
  type WorkerLogCounts,
} from './measure';
import { type ChaosEngine, type CrmEdit, ENGINE_FAULT_KINDS, type FaultKind, Rng } from './plan';
import { NAMESPACE } from './temporal';
import {
  CALLER_ID,
  type ChaosOptions,
  type ChaosRun,
  cli,
  MAX_ATTEMPTS,
  progress,
  retry,
  type RunContext,
  sleep,
  type Stack,
  startCampaign,
  startStack,
  type Tally,
} from './stack';

export type { ChaosOptions } from './stack';

export interface ChaosReport {
  seed: number;
  engine: ChaosEngine;
  campaign: string;
  contacts: number;
  attempts: number;
  calls: number;
  /** The engine's kinds only. */
  faults: Partial<Record<FaultKind, number>>;
  crmEdits: Record<CrmEdit, { applied: number; refused: number }>;
  violations: Record<Invariant, number>;
  /** The contacts involved, per violated invariant. */
  violatingContacts: Partial<Record<Invariant, number[]>>;
  /** The first violations in words. */
  examples: string[];
  /** Process exits nobody asked for, per process (restarted by the supervisor). */
  crashes: Record<string, number>;
  /** Temporal launches that failed and were tried again (its database cut meanwhile, a port taken). */
  temporalFailedLaunches: number;
  /** The campaign had not settled when the settle timeout ran out. */
  settled: boolean;
  outcomes: Record<string, number>;
  /** Attempts whose callbacks were all lost: decided from the fetched call, which has no SIP code. */
  decidedWithoutSipCode: number;
  seconds: number;
  /** From the campaign's start until it settled (or the settle timeout ran out). */
  campaignSeconds: number;
  /** Placed attempts (calls sent to Twilio) per second of campaignSeconds. */
  dialsPerSecond: number;
  /** The campaign workflow's runs and refused workflow tasks, from its histories (or why not read). */
  campaignWorkflow: CampaignHistories | { error: string };
  /** The workers' logs: failed workflow tasks of any workflow, and error lines. */
  workerLogs: WorkerLogCounts;
  /** Resident memory per process (workers, the webhook server, Temporal, this driver with the simulator). */
  rss: Record<string, RssSeries>;
  /** postgres engine: Temporal's two databases, their size at the end in bytes, and whether they were dropped. */
  temporalDatabases?: { bytes: Record<string, number>; dropped: boolean };
  workDir: string;
}

const FINAL_STATES = [4, 1000]; // WrongNumber, Banned (the default final set)

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const ctx = newContext(o);
  // Ctrl-C or a kill of the driver stops what it started (the dev server runs in its own group)
  const interrupted = async (signal: NodeJS.Signals) => {
    ctx.log(`${signal}: stopping the processes this run started`);
    for (const c of [...ctx.cleanups].reverse()) await c().catch(() => undefined);
    process.exit(130);
  };
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);

  await ensureDatabase(o.databaseUrl);
  await migrateDatabase(o.databaseUrl);
  const db = connectDatabase(o.databaseUrl, { max: 4 });
  ctx.cleanups.push(() => db.close());
  try {
    const stack = await startStack(ctx, db);
    const sampler = sampleMemory(stack);
    try {
      const run: ChaosRun = { ...stack, ...(await startCampaign(stack)), tally: newTally(ctx.o.engine) };
      await injectFaults(run);
      const settled = await settle(run);
      const campaignMs = Date.now() - run.campaignStarted;
      await stop(run);
      return await report(run, settled, campaignMs, sampler.finish());
    } finally {
      sampler.stop();
    }
  } finally {
    process.off('SIGINT', interrupted).off('SIGTERM', interrupted);
    for (const c of ctx.cleanups.reverse()) await c().catch(() => undefined);
  }
}

/** The workers', the server's, Temporal's and this process's (the simulator's) RSS over the run. */
function sampleMemory(stack: Stack): RssSampler {
  const processes = [
    ...stack.services.map((s) => ({ name: s.name, pid: () => s.pid })),
    { name: 'temporal', pid: () => stack.temporal.process.pid },
    { name: 'driver', pid: () => process.pid },
  ];
  return new RssSampler(processes, stack.started, stack.o.sampleEveryMs ?? 30_000);
}

function newContext(o: ChaosOptions): RunContext {
  const started = Date.now();
  const workDir = o.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `dialer-chaos-${o.seed}-`));
  fs.mkdirSync(path.join(workDir, 'logs'), { recursive: true });
  return {
    o,
    started,
    log: o.log ?? ((line: string) => console.error(line)),
    elapsed: () => `${((Date.now() - started) / 1000).toFixed(1)}s`,
    rng: new Rng(o.seed),
    workers: o.workers ?? 2,
    workDir,
    toolsDir: config().toolsDir,
    cleanups: [],
  };
}

function newTally(engine: ChaosEngine = 'dev'): Tally {
  return {
    faults: Object.fromEntries(ENGINE_FAULT_KINDS[engine].map((k) => [k, 0])),
    crmEdits: {
      'follow-up': { applied: 0, refused: 0 },
      'redial-now': { applied: 0, refused: 0 },
      reset: { applied: 0, refused: 0 },
      'add-contacts': { applied: 0, refused: 0 },
    },
    resets: new Map(),
    retriedPosts: [],
    background: [],
  };
}

/** Waits until nothing is cached and nothing is left to dial; false when the timeout ran out first. */
async function settle(run: ChaosRun): Promise<boolean> {
  const timeoutMs = run.o.settleTimeoutMs ?? 600_000;
  const deadline = Date.now() + timeoutMs;
  // the progress query counts the campaign's rows: with 100,000 contacts it is asked every 5 s
  const pollMs = Math.min(5000, Math.max(500, run.o.contacts / 20));
  let lastLog = 0;
  while (Date.now() < deadline) {
    const p = await progress(run);
    if (p.cached === 0 && p.open === 0) return true;
    if (Date.now() - lastLog > Math.max(5000, timeoutMs / 1000)) {
      run.log(`[${run.elapsed()}] ${p.recorded} attempts recorded, ${p.cached} cached, ${p.open} to dial`);
      lastLog = Date.now();
    }
    await sleep(pollMs);
  }
  run.log(`[${run.elapsed()}] not settled after ${timeoutMs / 1000} s: stopping anyway`);
  return false;
}

/** Stops the campaign, lets the simulator's calls end, and stops the processes (SIGTERM: they drain). */
async function stop(run: ChaosRun): Promise<void> {
  const stopped = await retry(
    () => cli(['campaign', 'stop', run.campaign, '--wait'], run.env),
    (r) => r.code === 0,
    120_000,
  );
  if (stopped.code !== 0) run.log(`campaign stop failed:\n${stopped.out}`);
  await run.sim.idle(30_000).catch(() => run.log('the simulator still had live calls'));
  await Promise.all(run.services.map((s) => s.stop()));
}

/** Reads the three records, checks them, and counts what the run did. */
async function report(
  run: ChaosRun,
  settled: boolean,
  campaignMs: number,
  rss: Record<string, RssSeries>,
): Promise<ChaosReport> {
  const { tally } = run;
  const records = { ...(await readRecords(run)), retriedPosts: tally.retriedPosts };
  const seen = { decidedWithoutSipCode: [] as number[] };
  const violations = checkRun(records, seen);
  const { counts, contacts: violating } = summarise(violations);
  const outcomes: Record<string, number> = {};
  let placed = 0;
  for (const a of records.attempts) {
    outcomes[String(a.lastState)] = (outcomes[String(a.lastState)] ?? 0) + 1;
    if (a.placed) placed++;
  }
  return {
    seed: run.o.seed,
    engine: run.o.engine ?? 'dev',
    campaign: run.campaign,
    contacts: records.contacts.length,
    attempts: records.attempts.length,
    calls: records.calls.length,
    faults: tally.faults,
    crmEdits: tally.crmEdits,
    violations: counts,
    violatingContacts: violating,
    examples: violations
      .slice(0, 20)
      .map((v) => `${v.invariant}: contact ${v.contactId ?? '?'}: ${v.detail}`),
    crashes: {
      ...Object.fromEntries(run.services.map((s) => [s.name, s.crashes])),
      temporal: run.temporal.process.crashes,
    },
    temporalFailedLaunches: run.temporal.process.failedLaunches,
    settled,
    outcomes,
    decidedWithoutSipCode: seen.decidedWithoutSipCode.length,
    seconds: Math.round((Date.now() - run.started) / 100) / 10,
    campaignSeconds: Math.round(campaignMs / 100) / 10,
    dialsPerSecond: Math.round((placed / (campaignMs / 1000)) * 100) / 100,
    ...(await engineFacts(run)),
    rss,
    workDir: run.workDir,
  };
}

/** What Temporal kept of the run: the campaign's histories, the workers' logs, the databases' size. */
async function engineFacts(
  run: ChaosRun,
): Promise<Pick<ChaosReport, 'campaignWorkflow' | 'workerLogs' | 'temporalDatabases'>> {
  const campaignWorkflow = await campaignHistories(
    run.temporal.address,
    NAMESPACE,
    campaignWorkflowId(run.campaign),
  ).catch((err: unknown) => ({ error: err instanceof Error ? err.message : String(err) }));
  const workerLogs = await countWorkerLogs(
    run.workerServices.map((s) => path.join(run.workDir, 'logs', `${s.name}.log`)),
  );
  const dbs = run.temporal.databases;
  const bytes = dbs ? await dbs.sizes().catch(() => ({})) : undefined;
  return {
    campaignWorkflow,
    workerLogs,
    ...(dbs && bytes ? { temporalDatabases: { bytes, dropped: dbs.dropped } } : {}),
  };
}

async function readRecords(run: ChaosRun) {
  return {
    maxAttempts: MAX_ATTEMPTS,
    finalStates: FINAL_STATES,
    contacts: await contactsOfCampaign(run.db.db, run.campaign),
    attempts: await attemptsOfCampaign(run.db.db, run.campaign),
    calls: run.sim
      .records()
      .filter((c) => c.from === CALLER_ID)
      .map(callRecord),
    rejections: run.sim.rejections(),
    banned: run.banned,
    resets: run.tally.resets,
  };
}

export function formatReport(r: ChaosReport): string {
  const lines = [
    `chaos run, seed ${r.seed}, engine ${r.engine}: ${r.seconds} s (the campaign ${r.campaignSeconds} s, ${r.dialsPerSecond} dials/s)`,
    `  contacts ${r.contacts}, attempts ${r.attempts}, calls at the simulator ${r.calls}${r.settled ? '' : ' (NOT SETTLED)'}`,
    `  faults: ${Object.entries(r.faults)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')}`,
    `  CRM edits: ${Object.entries(r.crmEdits)
      .map(([k, v]) => `${k} ${v.applied}${v.refused ? ` (+${v.refused} refused)` : ''}`)
      .join(', ')}`,
    `  attempts decided from a fetched call without its SIP code (every callback lost): ${r.decidedWithoutSipCode}`,
    `  crashes (restarted): ${Object.entries(r.crashes)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')}; Temporal launches that failed and were tried again: ${r.temporalFailedLaunches}`,
    ...formatMeasures(r),
    '  invariants:',
    ...Object.entries(r.violations).map(
      ([k, n]) =>
        `    ${n === 0 ? 'held    ' : `VIOLATED ${n}`} ${INVARIANTS[k as Invariant]}` +
        (n ? ` — contacts ${(r.violatingContacts[k as Invariant] ?? []).slice(0, 20).join(', ')}` : ''),
    ),
    ...r.examples.map((e) => `    ${e}`),
  ];
  return lines.join('\n');
}

const megabytes = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MB`;

/** The long run's figures: the campaign's runs, refused tasks, memory, Temporal's databases. */
function formatMeasures(r: ChaosReport): string[] {
  const h = r.campaignWorkflow;
  const failed = 'error' in h ? {} : h.workflowTaskFailed;
  const failedText = Object.entries(failed)
    .map(([cause, n]) => `${cause} ${n}`)
    .join(', ');
  return [
    'error' in h
      ? `  campaign workflow: its histories could not be read (${h.error})`
      : `  campaign workflow: ${h.runs} run${h.runs === 1 ? '' : 's'} (${h.continuedAsNew} continue-as-new), ${h.events} events; ` +
        `workflow tasks failed in its histories: ${failedText || 0}; timed out: ${h.workflowTaskTimedOut}`,
    `  workers' logs: ${r.workerLogs.failingWorkflowTask} "Failing workflow task" (any workflow), ${r.workerLogs.errors} error lines`,
    `  RSS in MB, min/max/last: ${Object.entries(r.rss)
      .map(([name, s]) => `${name} ${s.minMb}/${s.maxMb}/${s.lastMb}`)
      .join(', ')}`,
    ...(r.temporalDatabases
      ? [
          `  Temporal's databases at the end: ${Object.entries(r.temporalDatabases.bytes)
            .map(([name, b]) => `${name} ${megabytes(b)}`)
            .join(', ')}${r.temporalDatabases.dropped ? ' (dropped)' : ' (kept)'}`,
        ]
      : []),
  ];
}
