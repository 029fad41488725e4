import type { WorkflowHandle } from '@temporalio/client';
import type { Command } from 'commander';
import type { Database } from '../../db/client';
import { countAttempts, countAttemptsByLastState, redialLateness } from '../../db/queries/call-attempts';
import {
  type CampaignDeps,
  type CampaignStatusReport,
  campaignStatus,
  createCampaign,
  startCampaign,
} from '../../ops/campaign-operations';
import { addContacts } from '../../ops/contact-import';
import { addToDnc } from '../../ops/dnc';
import { applyRetryOptions, intArg } from '../parse';
import { CommandContext, UserError } from '../context';
import { printOutput } from '../output';
import { printProgress } from './campaign';
import { lazy, type DevStack } from './services';
import { type EngineChoice, addEngineOptions, engineChoice } from './engine';
import { DEFAULT_RETRY_RULES, lastStateName, lastStateNames } from '../../domain/contract';
import { campaignWorkflowId, stopSignal } from '../../workflows/shared';

/**
 * `dialer demo` (npm run demo): a campaign on embedded defaults that shows most LastStates,
 * redials during the run, live progress, and a summary that comes from the database.
 */

/** What the demo's numbers do, attempt by attempt (simulator scenario entries). */
const MIX: [weight: number, outcomes: string[]][] = [
  [36, ['human']],
  [10, ['busy', 'human']],
  [8, ['no-answer', 'human']],
  [6, ['busy', 'busy', 'busy']],
  [8, ['machine']],
  [4, ['fax']],
  [6, ['wrong-number']],
  [6, ['unreachable', 'unreachable', 'human']],
  [4, ['reject', 'human']],
  [4, ['no-line', 'human']],
  [3, ['incompatible']],
  [3, ['error', 'human']],
  [1, ['invalid']],
  [1, ['blocked']],
];

/** The campaign's counts as `campaign status` gives them, and what the run itself measured. */
export interface DemoSummary extends Pick<
  CampaignStatusReport,
  'contacts' | 'byContactSuccessful' | 'byLastState' | 'attempts'
> {
  campaign: string;
  seconds: number;
  /** Every attempt's outcome, redials included: the states the run went through. */
  attemptsByLastState: Record<string, number>;
  callsPlaced: number;
  redials: number;
  redialLatenessMs: { p50: number | null; p99: number | null; max: number | null };
  temporalUi: string | null;
  /** The operator's console (sign in with DIALER_API_TOKEN); up while the demo runs, and after with --keep-running. */
  consoleUrl: string;
  /** How to sign in to the console: with DIALER_API_TOKEN, or the token kept in the data folder. */
  consoleSignIn: string;
}

function demoNumbers(n: number): { phones: string[]; scenario: Record<string, string[]> } {
  const total = MIX.reduce((a, [w]) => a + w, 0);
  const phones: string[] = [];
  const scenario: Record<string, string[]> = {};
  const base = 5550000 + (Date.now() % 4000) * 1000; // distinct numbers for each run
  for (let i = 0; i < n; i++) {
    const phone = `+1500${String(base + i).padStart(7, '0')}`;
    let pick = ((i * 37) % total) + 1; // spread the outcomes over the list
    const entry = MIX.find(([w]) => (pick -= w) <= 0)!;
    phones.push(phone);
    scenario[phone] = entry[1];
  }
  return { phones, scenario };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface DemoOptions extends EngineChoice {
  contacts: number;
  keepRunning?: boolean;
  json?: boolean;
}

export function registerDemoCommand(program: Command, ctx: () => CommandContext): void {
  const demo = program
    .command('demo')
    .description('run a demo campaign on embedded defaults: live progress, then a summary from the database')
    .option('--contacts <n>', 'contacts in the demo campaign', intArg(5, 5000), 100)
    .option('--keep-running', 'keep the stack and the Temporal UI up after the summary (Ctrl-C stops)')
    .option('--json', 'print the summary as JSON')
    .action((o: DemoOptions) => runDemo(ctx(), o));
  addEngineOptions(demo);
}

/** SIGINT and SIGTERM noted (not acted on) until `off()`: the demo stops its campaign itself. */
function noteInterrupts() {
  const state = { interrupted: false, off: () => {} };
  const onSignal = () => {
    state.interrupted = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  state.off = () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  return state;
}

async function runDemo(given: CommandContext, o: DemoOptions): Promise<void> {
  const { startDev } = lazy<typeof import('./services')>('./services');
  // the progress is the output: logs only for warnings, unless LOG_LEVEL asks for more
  const cfg = process.env.LOG_LEVEL ? given.cfg : { ...given.cfg, logLevel: 'warn' as const };
  const stack: DevStack = await startDev(cfg, {
    simulatorTimeScale: 0.2,
    quiet: true,
    engine: engineChoice(o),
  });
  // Temporal through the stack's configuration: its payload key (the data folder's, unless set)
  const c = new CommandContext(stack.cfg);
  const signals = noteInterrupts();
  const name = `demo-${new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}`;
  const { connectDatabase } = lazy<typeof import('../../db/client')>('../../db/client');
  const database = connectDatabase(stack.cfg.databaseUrl, { max: 2 });
  const deps = { db: database, temporal: () => c.temporal(), taskQueue: c.cfg.temporal.taskQueue };
  try {
    if (!stack.simulated) {
      throw new UserError('The demo dials through the simulator: unset TWILIO_* to run it.');
    }
    await setUpDemo(stack, database, name, o.contacts);
    const t0 = Date.now();
    // a batch run: the demo ends with its campaign, once nothing is left to dial (§5a's opt-in)
    await startCampaign(deps, name, {
      refillIntervalMs: 2000,
      lookaheadMs: 10_000,
      finishWhenDone: true,
    });
    const handle = (await c.temporal()).workflow.getHandle(campaignWorkflowId(name));
    await watchDemo(deps, name, handle, o, signals);
    if (signals.interrupted) {
      await handle.signal(stopSignal).catch(() => undefined);
      console.error('interrupted: the demo campaign was told to stop');
      return;
    }
    const report = await campaignStatus(deps, name);
    const summary = await summarise(
      report,
      database,
      (Date.now() - t0) / 1000,
      stack,
      c.cfg.temporal.namespace,
    );
    printOutput(o, summary, printSummary);
    if (o.keepRunning && !signals.interrupted) await keepRunning(signals, stack.consoleUrl);
  } finally {
    signals.off();
    await database.close();
    await c.close();
    await stack.cleanup();
  }
}

/**
 * The demo's scenario in the simulator, its campaign (retries after a few seconds, so that redials
 * happen while you watch), two of its numbers on the do-not-call list, and its contacts.
 */
async function setUpDemo(stack: DevStack, database: Database, name: string, contacts: number): Promise<void> {
  const { phones, scenario } = demoNumbers(contacts);
  const put = await fetch(`${stack.cfg.twilio.apiBaseUrl}/sim/scenario`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      default: { outcome: 'human', ringSeconds: 4, talkSeconds: 8 },
      numbers: scenario,
    }),
  });
  if (!put.ok) throw new Error(`the simulator refused the demo scenario: ${await put.text()}`);
  const short = Object.fromEntries(lastStateNames.map((n, i) => [n, 3 + (i % 4)]));
  const retryRules = applyRetryOptions(DEFAULT_RETRY_RULES, { ...short, default: 5 }, undefined);
  // the simulator's numbers are nobody's: the demo dials them around the clock
  await createCampaign(database, {
    name,
    callerId: '+15005550006',
    maxAttempts: 3,
    lines: 10,
    callsPerSecond: 10,
    ringTimeoutSeconds: 15,
    retryRules,
    machineDetection: 'hangup',
    callingWindow: 'daily 00:00-24:00',
  });
  await addToDnc(database.sql, phones.slice(-2), 'demo');
  const rows = phones.map((p, i) => ({ phoneNumber: p, name: `Demo contact ${i + 1}` }));
  await addContacts(database.sql, { campaign: name, contacts: rows }, stack.cfg.defaultRegion);
  console.error(
    `demo campaign ${name}: ${contacts} contacts (2 on the do-not-call list), 10 lines, retries after 3–6 s`,
  );
  console.error(`operator console: ${stack.consoleUrl} (${stack.signIn})`);
}

/** Live progress each second until the campaign ends or the demo is interrupted. */
async function watchDemo(
  deps: CampaignDeps,
  name: string,
  handle: WorkflowHandle,
  o: DemoOptions,
  signals: { interrupted: boolean },
): Promise<void> {
  const tty = process.stdout.isTTY && !o.json;
  let ended = false;
  void handle.result().finally(() => (ended = true));
  while (!ended && !signals.interrupted) {
    const report = await campaignStatus(deps, name);
    if (!o.json) {
      if (tty) process.stdout.write('\x1b[2J\x1b[H');
      printProgress(report);
    }
    await sleep(1000);
  }
}

/** --keep-running: the stack (the console and the Temporal UI with it) stays up until Ctrl-C. */
async function keepRunning(signals: { interrupted: boolean }, consoleUrl: string): Promise<void> {
  console.error(`the stack keeps running (the console at ${consoleUrl}); Ctrl-C stops it`);
  await new Promise<void>((resolve) => {
    if (signals.interrupted) return resolve();
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

/** The campaign's status report (counts per ContactSuccessful and LastState) and its attempts. */
async function summarise(
  report: CampaignStatusReport,
  database: Database,
  seconds: number,
  stack: DevStack,
  namespace: string,
): Promise<DemoSummary> {
  const { sql } = database;
  const name = report.name;
  const als = await countAttemptsByLastState(sql, name);
  const a = await countAttempts(sql, name);
  const late = await redialLateness(sql, name);
  const round = (v: number | null) => (v === null ? null : Math.round(Number(v)));
  const query = encodeURIComponent(`CampaignName = "${name}"`);
  return {
    campaign: name,
    seconds: Math.round(seconds),
    contacts: report.contacts,
    byContactSuccessful: report.byContactSuccessful,
    byLastState: report.byLastState,
    attemptsByLastState: Object.fromEntries(
      als.map((r) => [r.ls === null ? 'none' : (lastStateName(r.ls) ?? String(r.ls)), r.n]),
    ),
    attempts: a.attempts,
    callsPlaced: a.placed,
    redials: a.redials,
    redialLatenessMs: { p50: round(late.p50), p99: round(late.p99), max: round(late.max) },
    temporalUi: stack.uiUrl ? `${stack.uiUrl}/namespaces/${namespace}/workflows?query=${query}` : null,
    consoleUrl: stack.consoleUrl,
    consoleSignIn: stack.signIn,
  };
}

function printSummary(s: DemoSummary): void {
  const table = (title: string, rows: Record<string, number>) =>
    [title, ...Object.entries(rows).map(([k, v]) => `  ${k.padEnd(18)} ${String(v).padStart(5)}`)].join('\n');
  console.log(
    [
      '',
      `demo campaign ${s.campaign} finished in ${s.seconds} s`,
      table('contacts per ContactSuccessful', s.byContactSuccessful),
      table('contacts per LastState (their last attempt)', s.byLastState),
      table('attempts per LastState (redials included)', s.attemptsByLastState),
      `attempts ${s.attempts} (calls placed ${s.callsPlaced}, redials ${s.redials})`,
      `redial lateness (redial_time → create): p50 ${s.redialLatenessMs.p50 ?? '—'} ms, p99 ${s.redialLatenessMs.p99 ?? '—'} ms, max ${s.redialLatenessMs.max ?? '—'} ms`,
      s.temporalUi
        ? `Temporal UI, this campaign's workflows: ${s.temporalUi}`
        : 'Temporal UI: wherever your Temporal server serves it (filter: CampaignName = "' +
          s.campaign +
          '")',
      `Operator console: ${s.consoleUrl} (${s.consoleSignIn}; --keep-running keeps it up)`,
    ].join('\n'),
  );
}
