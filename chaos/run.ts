/**
 * The fault-injection run (contract §9, docs/development.md): the real stack in separate
 * processes (Temporal dev server on a file, the webhook/API server, several workers; PostgreSQL
 * behind a proxy that can cut it; the Twilio simulator in this process), a campaign with random
 * outcomes and short retry delays, and a seeded schedule of faults. When everything has settled
 * it stops the campaign and checks the database, call_attempts and the simulator's calls against
 * the contract (checks.ts). stack.ts starts the stack and the campaign, faults.ts injects the faults.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connectDatabase } from '../db/client';
import { attemptsOfCampaign } from '../db/queries/call-attempts';
import { contactsOfCampaign } from '../db/queries/contacts';
import { ensureDatabase, migrateDatabase } from '../db/migrate';
import { config } from '../infra/config';
import { checkRun, summarise, INVARIANTS, type Invariant } from './checks';
import { injectFaults } from './faults';
import { type CrmEdit, FAULT_KINDS, type FaultKind, Rng } from './plan';
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
  startCampaign,
  startStack,
  type Tally,
} from './stack';

export type { ChaosOptions } from './stack';

export interface ChaosReport {
  seed: number;
  campaign: string;
  contacts: number;
  attempts: number;
  calls: number;
  faults: Record<FaultKind, number>;
  crmEdits: Record<CrmEdit, { applied: number; refused: number }>;
  violations: Record<Invariant, number>;
  /** The contacts involved, per violated invariant. */
  violatingContacts: Partial<Record<Invariant, number[]>>;
  /** The first violations in words. */
  examples: string[];
  /** Process exits nobody asked for, per process (restarted by the supervisor). */
  crashes: Record<string, number>;
  /** The campaign had not settled when the settle timeout ran out. */
  settled: boolean;
  outcomes: Record<string, number>;
  /** Attempts whose callbacks were all lost: decided from the fetched call, which has no SIP code. */
  decidedWithoutSipCode: number;
  seconds: number;
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
    const run: ChaosRun = { ...stack, ...(await startCampaign(stack)), tally: newTally() };
    await injectFaults(run);
    const settled = await settle(run);
    await stop(run);
    return await report(run, settled);
  } finally {
    process.off('SIGINT', interrupted).off('SIGTERM', interrupted);
    for (const c of ctx.cleanups.reverse()) await c().catch(() => undefined);
  }
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

function newTally(): Tally {
  return {
    faults: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>,
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
  let lastLog = 0;
  while (Date.now() < deadline) {
    const p = await progress(run);
    if (p.cached === 0 && p.open === 0) return true;
    if (Date.now() - lastLog > 5000) {
      run.log(`[${run.elapsed()}] ${p.recorded} attempts recorded, ${p.cached} cached, ${p.open} to dial`);
      lastLog = Date.now();
    }
    await sleep(500);
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
async function report(run: ChaosRun, settled: boolean): Promise<ChaosReport> {
  const { tally } = run;
  const records = { ...(await readRecords(run)), retriedPosts: tally.retriedPosts };
  const seen = { decidedWithoutSipCode: [] as number[] };
  const violations = checkRun(records, seen);
  const { counts, contacts: violating } = summarise(violations);
  const outcomes: Record<string, number> = {};
  for (const a of records.attempts) outcomes[String(a.lastState)] = (outcomes[String(a.lastState)] ?? 0) + 1;
  return {
    seed: run.o.seed,
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
    crashes: Object.fromEntries(run.services.map((s) => [s.name, s.crashes])),
    settled,
    outcomes,
    decidedWithoutSipCode: seen.decidedWithoutSipCode.length,
    seconds: Math.round((Date.now() - run.started) / 100) / 10,
    workDir: run.workDir,
  };
}

async function readRecords(run: ChaosRun) {
  return {
    maxAttempts: MAX_ATTEMPTS,
    finalStates: FINAL_STATES,
    contacts: await contactsOfCampaign(run.db.db, run.campaign),
    attempts: await attemptsOfCampaign(run.db.db, run.campaign),
    calls: run.sim.calls().filter((c) => c.from === CALLER_ID),
    rejections: run.sim.rejections(),
    banned: run.banned,
    resets: run.tally.resets,
  };
}

export function formatReport(r: ChaosReport): string {
  const lines = [
    `chaos run, seed ${r.seed}: ${r.seconds} s`,
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
      .join(', ')}`,
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
