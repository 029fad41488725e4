/**
 * `npm run bench`: the dialer against Temporal's own ceiling on the same machine
 * (docs/performance.md).
 *
 *   npm run bench -- [--quick] [--parts throughput,cost,lateness,crm,scale,memory,codec] [--out bench.json]
 *                    [--engine dev|postgres|dev,postgres] [--shards 4]
 *                    [--contacts 3000] [--redials 500] [--follow-ups 200] [--scale-contacts 1000000]
 *                    [--memory-contacts 20000] [--database-url postgres://…/dialer_bench]
 *
 * Every part runs on one stack (bench/stack.ts) and prints its figures beside a baseline measured
 * in the same run and the target for this machine; benchmarks report, they never fail on time.
 * With several engines the parts run on each in turn, a stack each, and one table has a column
 * per engine.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { campaignWorkflowId } from '../workflows/shared';
import { createCampaign, testPhone, uid } from '../harness/stack';
import { bareFanout } from './bare-fanout';
import { rawLoop } from './raw-loop';
import { summary, timerBaseline } from './redial-lateness';
import {
  BENCH_APPLICATION_NAME,
  type BenchStack,
  DEFAULT_BENCH_DATABASE_URL,
  ENGINES,
  type Engine,
  cpuMs,
  rssMb,
  startBenchStack,
} from './stack';
import { BackendCpu } from './pg-cpu';
import { crmLateness } from './crm-lateness';
import { dataScale } from './data-scale';
import { type HistoryEvent, eventMs, eventType, forEachHistory } from './histories';
import { HistoryPayloads, codecCost } from './codec';
import { engineLabel, printTable } from './table';
import { type ReplayableRun, campaignCeiling } from './ceiling';
import { summarizeProfiles } from './profile-top';
import { parseConfig } from '../infra/config';
import { dataConverterFor } from '../infra/payload-codec';

/** How many of the most frequent statements the cost part lists. */
const STATEMENTS_SHOWN = 12;

const PARTS = ['throughput', 'cost', 'lateness', 'crm', 'scale', 'memory', 'codec'] as const;
type Part = (typeof PARTS)[number];

interface Options {
  quick: boolean;
  engines: Engine[];
  shards: number;
  parts: Part[];
  out?: string;
  contacts: number;
  redials: number;
  followUps: number;
  spreadSeconds: number;
  scaleContacts: number;
  memoryContacts: number;
  databaseUrl: string;
}

/** The JSON `--out` writes: the keys (null for a part not run), then the details. */
export interface BenchReport {
  /** The Temporal server the figures were measured on, and its history shards (null: the dev server's own). */
  engine: Engine;
  shards: number | null;
  dialsPerSecond: number | null;
  bareDialsPerSecond: number | null;
  ratioToBare: number | null;
  rawDialsPerSecond: number | null;
  ratioToRaw: number | null;
  eventsPerAttempt: number | null;
  /** Statements the dialer's processes sent to its database per attempt (the proxy's count). */
  dbStatementsPerAttempt: number | null;
  /** Attempts a second one campaign's workflow can carry with a core to itself (bench/ceiling.ts). */
  campaignCeilingPerSecond: number | null;
  latenessP50Ms: number | null;
  latenessP99Ms: number | null;
  /** §8: a follow-up the CRM writes by SQL alone, from its redial_time to the create (p99). */
  crmLatenessP99Ms: number | null;
  selectionMs: number | null;
  rssGrowthMb: number | null;
  /** Payloads through the payload codec per attempt, and the worker CPU to convert them with and without it. */
  payloadsPerAttempt: number | null;
  codecCpuMsPerAttempt: number | null;
  codecBaselineCpuMsPerAttempt: number | null;
  details: Record<string, unknown>;
  machine: { cpus: number; model: string; memoryGb: number; node: string };
  seconds: number;
}

const benchStarted = Date.now();
/** The engine being measured, on each progress line when the run measures several. */
let logTag = '';
/** Progress on stderr, each line with the seconds since the run began (a part's length shows). */
const log = (line: string) =>
  console.error(`[${((Date.now() - benchStarted) / 1000).toFixed(0).padStart(4)} s]${logTag} ${line}`);
const round = (x: number, digits = 1) => Number(x.toFixed(digits));
/** CPU ms per attempt, null kept (a figure not measured on this engine). */
const perAttempt = (ms: number | null, n: number) => (ms === null ? null : round(ms / n));
async function insertContacts(
  s: BenchStack,
  campaign: string,
  n: number,
  row: (i: number) => Record<string, unknown> = () => ({}),
): Promise<void> {
  for (let i = 0; i < n; i += 5000) {
    const rows = Array.from({ length: Math.min(5000, n - i) }, (_, k) => ({
      campaign_name: campaign,
      phone_number: testPhone(),
      ...row(i + k),
    }));
    await s.db.sql`insert into contacts ${s.db.sql(rows)}`;
  }
}

/** Starts the campaign, waits for it to end, printing progress; the seconds it took. */
async function runCampaign(
  s: BenchStack,
  name: string,
  n: number,
  /** Called every second with the attempts recorded so far. */
  onSample?: (recorded: number) => void,
): Promise<{ seconds: number; recordedAt: number[] }> {
  const t0 = Date.now();
  // a batch run: it ends by itself once everyone is dialed (open is the default, §5a)
  const started = await s.dialer(['campaign', 'start', name, '--until-empty']);
  if (started.code !== 0) throw new Error(`campaign start: ${started.stderr}`);
  const recordedAt: number[] = [];
  let last = 0;
  const sampler = setInterval(() => {
    onSample?.(recordedAt.at(-1) ?? 0);
    void s.db.sql<{ n: number }[]>`
      select count(*)::int as n from call_attempts where campaign_name = ${name} and recorded_at is not null`.then(
      ([r]) => {
        recordedAt.push(r!.n);
        const secs = (Date.now() - t0) / 1000;
        if (secs - last >= 10) {
          last = secs;
          log(`  ${r!.n}/${n} attempts recorded after ${secs.toFixed(0)} s`);
        }
      },
      () => undefined,
    );
  }, 1000);
  try {
    await s.client.workflow.getHandle(campaignWorkflowId(name)).result();
  } finally {
    clearInterval(sampler);
  }
  return { seconds: (Date.now() - t0) / 1000, recordedAt };
}

/** Every contact dialed exactly once, none left at 3, one simulator call each. */
async function checkOnce(s: BenchStack, name: string, n: number): Promise<string | null> {
  const [r] = await s.db.sql<{ done: number; at3: number; attempts: number }[]>`
    select count(*) filter (where contact_successful = 1 and number_of_contacts = 1)::int as done,
           count(*) filter (where contact_successful = 3)::int as at3,
           (select count(*)::int from call_attempts where campaign_name = ${name}) as attempts
    from contacts where campaign_name = ${name}`;
  if (r!.done !== n || r!.at3 !== 0 || r!.attempts !== n)
    return `${r!.done}/${n} dialed once, ${r!.at3} left at 3, ${r!.attempts} attempts`;
  return null;
}

interface HistoryStats {
  executions: number;
  events: number;
  activities: number;
  signals: number;
  timers: number;
  childStarts: number;
  /**
   * Where a contact workflow's time goes: for each event type, the mean ms from the event before
   * it (WorkflowTaskStarted: a task waiting in its queue; WorkflowTaskCompleted: the worker
   * running it; ActivityTaskStarted: an activity waiting, e.g. for the calls-per-second limit).
   */
  msBeforeEvent: Record<string, number>;
  /**
   * The campaign workflow (all its runs): its workflow tasks run one at a time, so the share of
   * the wall time it spends in them (queued or running) says how close one campaign is to its
   * own ceiling.
   */
  campaign: {
    runs: number;
    events: number;
    workflowTasks: number;
    busyFraction: number;
    eventsPerSecond: number;
    /**
     * Workflow tasks the server refused (continue-as-new with events it had not seen:
     * UNHANDLED_COMMAND), and the time from the first refused task of a streak to the next
     * completed one: the campaign stood still that long.
     */
    failedTasks: number;
    failedTaskCauses: Record<string, number>;
    stalledMs: number;
  };
}

/** The campaign's runs, summed: what its workflow tasks cost and how long they stalled. */
interface CampaignTally {
  runs: number;
  events: number;
  workflowTasks: number;
  busyMs: number;
  first: number;
  last: number;
  stalledMs: number;
  causes: Record<string, number>;
}

function tallyCampaignRun(campaign: CampaignTally, events: HistoryEvent[]): void {
  campaign.runs++;
  campaign.events += events.length;
  let scheduled = 0;
  let stallFrom: number | null = null;
  for (const ev of events) {
    if (ev.workflowTaskScheduledEventAttributes) scheduled = eventMs(ev);
    if (ev.workflowTaskCompletedEventAttributes) {
      campaign.workflowTasks++;
      campaign.busyMs += eventMs(ev) - scheduled;
      if (stallFrom !== null) campaign.stalledMs += eventMs(ev) - stallFrom;
      stallFrom = null;
    }
    const failed = ev.workflowTaskFailedEventAttributes;
    if (failed) {
      const cause = (
        temporal.api.enums.v1.WorkflowTaskFailedCause[failed.cause ?? 0] ?? String(failed.cause)
      ).replace(/^WORKFLOW_TASK_FAILED_CAUSE_/, '');
      campaign.causes[cause] = (campaign.causes[cause] ?? 0) + 1;
      campaign.busyMs += eventMs(ev) - scheduled;
      stallFrom ??= scheduled;
    }
  }
  campaign.first = Math.min(campaign.first, eventMs(events[0]!));
  campaign.last = Math.max(campaign.last, eventMs(events.at(-1)!));
}

function tallyGaps(gaps: Record<string, number>, events: HistoryEvent[]): void {
  for (let i = 1; i < events.length; i++) {
    const type = eventType(events[i]!);
    gaps[type] = (gaps[type] ?? 0) + eventMs(events[i]!) - eventMs(events[i - 1]!);
  }
}

function tallyEvents(stats: HistoryStats, events: HistoryEvent[]): void {
  for (const ev of events) {
    stats.events++;
    if (ev.activityTaskScheduledEventAttributes) stats.activities++;
    if (ev.workflowExecutionSignaledEventAttributes) stats.signals++;
    if (ev.timerStartedEventAttributes) stats.timers++;
    if (ev.startChildWorkflowExecutionInitiatedEventAttributes) stats.childStarts++;
  }
}

function campaignStats(campaign: CampaignTally): HistoryStats['campaign'] {
  const span = Math.max(1, campaign.last - campaign.first);
  return {
    runs: campaign.runs,
    events: campaign.events,
    workflowTasks: campaign.workflowTasks,
    busyFraction: round(campaign.busyMs / span, 2),
    eventsPerSecond: round((campaign.events * 1000) / span),
    failedTasks: Object.values(campaign.causes).reduce((a, b) => a + b, 0),
    failedTaskCauses: campaign.causes,
    stalledMs: campaign.stalledMs,
  };
}

/** Reads the histories of the workflows a visibility query finds (all runs). */
/** Histories historyStats keeps for the ceiling: every run of the campaign, and one contact's. */
interface KeptHistories {
  campaignRuns: ReplayableRun[];
  contact?: ReplayableRun;
}

async function historyStats(
  client: Client,
  query: string,
  expected: number,
  keep?: KeptHistories,
): Promise<HistoryStats> {
  const stats: HistoryStats = {
    executions: 0,
    events: 0,
    activities: 0,
    signals: 0,
    timers: 0,
    childStarts: 0,
    msBeforeEvent: {},
    campaign: {
      runs: 0,
      events: 0,
      workflowTasks: 0,
      busyFraction: 0,
      eventsPerSecond: 0,
      failedTasks: 0,
      failedTaskCauses: {},
      stalledMs: 0,
    },
  };
  const gaps: Record<string, number> = {};
  let contactExecutions = 0;
  const campaign: CampaignTally = {
    runs: 0,
    events: 0,
    workflowTasks: 0,
    busyMs: 0,
    first: Infinity,
    last: 0,
    stalledMs: 0,
    causes: {},
  };
  stats.executions = await forEachHistory(client, query, expected, (e, events) => {
    if (e.workflowId.startsWith('campaign/')) {
      tallyCampaignRun(campaign, events);
      keep?.campaignRuns.push({ workflowId: e.workflowId, history: { events } });
    } else {
      if (keep) keep.contact ??= { workflowId: e.workflowId, history: { events } };
      contactExecutions++;
      tallyGaps(gaps, events);
    }
    tallyEvents(stats, events);
  });
  stats.campaign = campaignStats(campaign);
  for (const [type, ms] of Object.entries(gaps).sort((a, b) => b[1] - a[1]))
    stats.msBeforeEvent[type] = round(ms / Math.max(1, contactExecutions));
  return stats;
}

type Pids = { temporal: number; worker: number; server: number };

/**
 * Watches PostgreSQL's backends for Temporal's databases (none on the dev server) and, with
 * `dialer`, for the dialer's own database (the benchmark's connections left out); null when
 * PostgreSQL's processes cannot be read here.
 */
async function watchPostgres(s: BenchStack, dialer: boolean): Promise<BackendCpu | null> {
  if (!dialer && !s.temporalDatabases.length) return null;
  return await BackendCpu.start(s.databaseUrl, {
    temporal: { databases: s.temporalDatabases },
    ...(dialer
      ? { dialer: { databases: [s.dialerDatabase], excludeApplication: BENCH_APPLICATION_NAME } }
      : {}),
  });
}

/** PostgreSQL's CPU ms for Temporal (null on the dev server, or unreadable) and for the dialer. */
async function postgresCpu(s: BenchStack, meter: BackendCpu | null) {
  const ms = meter ? await meter.stop() : null;
  return {
    postgresForTemporal: ms && s.temporalDatabases.length ? ms.temporal! : null,
    postgresForDialer: ms?.dialer ?? null,
  };
}

/** CPU the stack's processes, this one, and PostgreSQL's backends spent while `work` ran, in ms. */
async function cpuWhile<T>(s: BenchStack, pids: Pids, work: () => Promise<T>) {
  const meter = await watchPostgres(s, true);
  const cpu0 = {
    temporal: cpuMs(pids.temporal),
    worker: cpuMs(pids.worker),
    server: cpuMs(pids.server),
    bench: process.cpuUsage(),
  };
  const result = await work();
  const cpu = {
    temporal: cpuMs(pids.temporal) - cpu0.temporal,
    worker: cpuMs(pids.worker) - cpu0.worker,
    server: cpuMs(pids.server) - cpu0.server,
    benchAndSimulator: (() => {
      const u = process.cpuUsage(cpu0.bench);
      return (u.user + u.system) / 1000;
    })(),
    ...(await postgresCpu(s, meter)),
  };
  return { result, cpu };
}

async function throughputAndCost(s: BenchStack, o: Options, report: BenchReport): Promise<void> {
  const n = o.contacts;
  const details: Record<string, unknown> = {};
  report.details.throughput = details;
  // 1. the dialer
  const name = uid('bench-tp');
  await createCampaign(s.env, name, '--calls-per-second', '1000', '--lines', '100');
  await insertContacts(s, name, n);
  log(`throughput: campaign ${name}, ${n} contacts answered at once, 100 lines…`);
  const pids = { temporal: s.temporalPid(), worker: s.workerPid(), server: s.serverPid() };
  const statements0 = s.proxy.statements;
  const tally0 = new Map(s.proxy.byStatement);
  const {
    result: { seconds },
    cpu,
  } = await cpuWhile(s, pids, () => runCampaign(s, name, n));
  const statements = {
    total: s.proxy.statements - statements0,
    top: s.proxy.topStatements(STATEMENTS_SHOWN, tally0),
  };
  const problem = await checkOnce(s, name, n);
  if (problem) throw new Error(`the throughput campaign did not dial everyone exactly once: ${problem}`);
  report.dialsPerSecond = round(n / seconds);
  details.dialer = { contacts: n, seconds: round(seconds) };
  log(`  dialer: ${n} in ${seconds.toFixed(1)} s = ${report.dialsPerSecond}/s`);

  if (o.parts.includes('cost')) details.cost = await costPerAttempt(s, name, n, report, statements, cpu);
  if (!o.parts.includes('throughput')) return;
  details.bare = await bareCeiling(s, o, pids.temporal, report);
  details.raw = await rawPrice(s, n, report);
}

async function costPerAttempt(
  s: BenchStack,
  name: string,
  n: number,
  report: BenchReport,
  statements: { total: number; top: { statement: string; count: number }[] },
  cpu: Awaited<ReturnType<typeof cpuWhile>>['cpu'],
): Promise<Record<string, unknown>> {
  // the campaign's history, for a profile of where its time goes (temporal workflow show …)
  const history = await s.client.workflow.getHandle(campaignWorkflowId(name)).fetchHistory();
  const historyFile = path.join(s.workDir, 'throughput-campaign-history.json');
  fs.writeFileSync(historyFile, JSON.stringify(history));
  log(`  the campaign's history: ${historyFile}`);
  const kept: KeptHistories = { campaignRuns: [] };
  const h = await historyStats(s.client, `CampaignName = '${name}'`, n + 1, kept);
  report.eventsPerAttempt = round(h.events / n);
  report.dbStatementsPerAttempt = round(statements.total / n, 1);
  log('  the campaign’s ceiling: its histories replayed…');
  const ceiling = await campaignCeiling({
    attempts: n,
    campaignRuns: kept.campaignRuns,
    warmUp: kept.contact ?? kept.campaignRuns[0]!,
    totalEvents: h.events,
    temporalCpuMs: cpu.temporal,
    dataConverter: dataConverterFor(parseConfig(process.env)),
  });
  report.campaignCeilingPerSecond = ceiling.campaignCeilingPerSecond;
  return {
    attempts: n,
    executions: h.executions,
    eventsPerAttempt: report.eventsPerAttempt,
    activitiesPerAttempt: round(h.activities / n, 2),
    signalsPerAttempt: round(h.signals / n, 2),
    timersPerAttempt: round(h.timers / n, 2),
    dbStatementsPerAttempt: report.dbStatementsPerAttempt,
    // which statements, per attempt (the proxy names them by their text's first words)
    statementsPerAttempt: statements.top.map((t) => ({
      perAttempt: round(t.count / n, 2),
      statement: t.statement,
    })),
    temporalCpuMsPerAttempt: round(cpu.temporal / n),
    // PostgreSQL's backends serving Temporal's two databases (null: the dev server, SQLite inside it)
    temporalPostgresCpuMsPerAttempt: perAttempt(cpu.postgresForTemporal, n),
    // and those serving the dialer's own database (its worker, webhook server and CLI)
    dialerPostgresCpuMsPerAttempt: perAttempt(cpu.postgresForDialer, n),
    workerCpuMsPerAttempt: round(cpu.worker / n),
    webhookServerCpuMsPerAttempt: round(cpu.server / n),
    simulatorAndDriverCpuMsPerAttempt: round(cpu.benchAndSimulator / n),
    contactWorkflowMsBeforeEvent: h.msBeforeEvent,
    campaignWorkflow: { ...h.campaign, ...ceiling },
  };
}

// 2. the ceiling: the bare fan-out on the same server
async function bareCeiling(
  s: BenchStack,
  o: Options,
  temporalPid: number,
  report: BenchReport,
): Promise<Record<string, unknown>> {
  const n = o.contacts;
  log(`throughput: bare fan-out of ${n} children, 100 in flight…`);
  const meter = await watchPostgres(s, false);
  const bareCpu0 = { temporal: cpuMs(temporalPid), bench: process.cpuUsage() };
  const bare = await bareFanout(n, 100, s.temporalAddress);
  const bareTemporal = cpuMs(temporalPid) - bareCpu0.temporal;
  const { postgresForTemporal } = await postgresCpu(s, meter);
  const bareWorker = (() => {
    const u = process.cpuUsage(bareCpu0.bench);
    return (u.user + u.system) / 1000;
  })();
  report.bareDialsPerSecond = bare.perSecond;
  report.ratioToBare = round(report.dialsPerSecond! / bare.perSecond, 2);
  const bareDetails: Record<string, unknown> = {
    children: n,
    seconds: bare.seconds,
    temporalCpuMsPerChild: round(bareTemporal / n),
    temporalPostgresCpuMsPerChild: perAttempt(postgresForTemporal, n),
    workerCpuMsPerChild: round(bareWorker / n),
  };
  if (o.parts.includes('cost')) {
    const parent = await historyStats(s.client, `WorkflowId = '${bare.workflowId}'`, 1);
    const children = await historyStats(s.client, `WorkflowId STARTS_WITH '${bare.workflowId}/child-'`, n);
    bareDetails.eventsPerChild = round((parent.events + children.events) / n);
    bareDetails.childMsBeforeEvent = children.msBeforeEvent;
  }
  log(`  bare: ${bare.perSecond}/s`);
  return bareDetails;
}

// 3. the price of durability: the same activity code in a plain loop
async function rawPrice(s: BenchStack, n: number, report: BenchReport): Promise<Record<string, unknown>> {
  const rawName = uid('bench-raw');
  await createCampaign(s.env, rawName, '--calls-per-second', '1000', '--lines', '100');
  await insertContacts(s, rawName, n);
  log(`throughput: raw loop (no Temporal) over ${n} contacts, 100 in flight…`);
  const rawStatements0 = s.proxy.statements;
  const raw = await rawLoop({
    db: s.appDb,
    temporal: s.client,
    simulatorUrl: s.sim.url,
    campaign: rawName,
    inFlight: 100,
  });
  const rawProblem = await checkOnce(s, rawName, n);
  if (rawProblem) throw new Error(`the raw loop did not dial everyone exactly once: ${rawProblem}`);
  report.rawDialsPerSecond = round(raw.attempts / raw.seconds);
  report.ratioToRaw = round(report.dialsPerSecond! / report.rawDialsPerSecond, 2);
  log(`  raw: ${report.rawDialsPerSecond}/s`);
  return {
    attempts: raw.attempts,
    seconds: round(raw.seconds),
    dbStatementsPerAttempt: round((s.proxy.statements - rawStatements0) / raw.attempts, 1),
  };
}

async function lateness(s: BenchStack, o: Options, report: BenchReport): Promise<void> {
  const m = o.redials;
  const spreadMs = o.spreadSeconds * 1000;
  const name = uid('bench-late');
  await createCampaign(s.env, name, '--calls-per-second', '1000', '--lines', '100');
  const t0 = Date.now() + 8000;
  const due = (i: number) => new Date(t0 + Math.round((i * spreadMs) / m));
  await insertContacts(s, name, m, (i) => ({
    contact_successful: 2,
    number_of_contacts: 1,
    redial_time: due(i),
  }));
  log(`lateness: ${m} redials due from +8 s over ${o.spreadSeconds} s…`);
  await runCampaign(s, name, m);
  const rows = await s.db.sql<{ late: number }[]>`
    select extract(epoch from (create_requested_at - due_at)) * 1000 as late
    from call_attempts where campaign_name = ${name} and due_at is not null`;
  const dialer = summary(rows.map((r) => Number(r.late)));
  // a campaign that stood still (a refused continue-as-new) makes every redial due meanwhile late
  const { campaign } = await historyStats(s.client, `CampaignName = '${name}'`, m + 1);
  log(`lateness: baseline, ${m} bare durable timers over ${o.spreadSeconds} s…`);
  const bt0 = Date.now() + 5000;
  const bare = summary(
    await timerBaseline(
      Array.from({ length: m }, (_, i) => new Date(bt0 + Math.round((i * spreadMs) / m))),
      s.temporalAddress,
    ),
  );
  report.latenessP50Ms = Math.round(dialer.p50);
  report.latenessP99Ms = Math.round(dialer.p99);
  report.details.lateness = {
    redials: m,
    spreadSeconds: o.spreadSeconds,
    dialerMs: mapValues(dialer, Math.round),
    bareTimersMs: mapValues(bare, Math.round),
    early: rows.filter((r) => Number(r.late) < 0).length,
    campaignRuns: campaign.runs,
    campaignFailedTasks: campaign.failedTaskCauses,
    campaignStalledMs: campaign.stalledMs,
  };
}

async function memory(s: BenchStack, o: Options, report: BenchReport): Promise<void> {
  const n = o.memoryContacts;
  const metricsUrl = await s.restartWorker({ metrics: true });
  const pid = s.workerPid();
  const idle = rssMb(pid);
  const name = uid('bench-mem');
  await createCampaign(s.env, name, '--calls-per-second', '1000', '--lines', '100');
  await insertContacts(s, name, n);
  log(`memory: worker RSS through a ${n}-contact campaign (idle worker: ${idle.toFixed(0)} MB)…`);
  const samples: { rss: number; done: number; inside?: WorkerMemory }[] = [];
  const { seconds } = await runCampaign(s, name, n, (done) => {
    const sample: (typeof samples)[number] = { rss: rssMb(pid), done };
    samples.push(sample);
    // what the worker says of itself, every 5th second (a scrape costs it a few ms)
    if (metricsUrl && samples.length % 5 === 1)
      void workerMemory(metricsUrl).then(
        (m) => (sample.inside = m),
        () => undefined,
      );
  });
  // growth is measured from the first sample after 5 % of the attempts (code loaded, caches warm)
  const warm = samples.find((x) => x.done >= n * 0.05) ?? samples[0]!;
  const end = samples.at(-1)!;
  const peak = Math.max(...samples.map((x) => x.rss));
  report.rssGrowthMb = round(end.rss - warm.rss);
  report.details.memory = {
    contacts: n,
    seconds: round(seconds),
    dialsPerSecond: round(n / seconds),
    idleMb: round(idle),
    warmMb: round(warm.rss),
    endMb: round(end.rss),
    peakMb: round(peak),
    // the shape of the curve: RSS at each tenth of the attempts (a leak climbs, a cache levels off)
    mbByTenth: Array.from({ length: 10 }, (_, k) =>
      round((samples.find((x) => x.done >= (n * (k + 1)) / 10) ?? end).rss),
    ),
    // where RSS goes, by tenth of the attempts: the worker's main-thread V8 heap (its size, and
    // the least of it in use: the live heap after a collection), its external memory, and the
    // rest (the workflow threads' heaps, the SDK core's native memory); and the workflows cached
    insideByTenth: Array.from({ length: 10 }, (_, k) => {
      const xs = samples.filter(
        (y) => y.inside && y.done >= (n * k) / 10 && (y.done < (n * (k + 1)) / 10 || k === 9),
      );
      if (!xs.length) return null;
      const mean = (f: (m: WorkerMemory, rss: number) => number) =>
        round(xs.reduce((a, y) => a + f(y.inside!, y.rss), 0) / xs.length);
      return {
        rssMb: mean((_, rss) => rss),
        mainHeapTotalMb: mean((m) => m.mainHeapTotalMb),
        mainHeapUsedMinMb: Math.min(...xs.map((y) => y.inside!.mainHeapUsedMb)),
        externalMb: mean((m) => m.externalMb),
        restMb: mean((m, rss) => rss - m.mainHeapTotalMb - m.externalMb),
        cachedWorkflowsMax: Math.max(...xs.map((y) => y.inside!.cachedWorkflows ?? 0)),
      };
    }),
    samples: samples.length,
  };
}

/** Contacts of the codec part's campaign: one batch, so the campaign's selection counts as in a big one. */
const CODEC_CONTACTS = 100;
/** Attempts' worth of payloads the codec part converts, with the codec and without. */
const CODEC_REPETITIONS = 2000;

async function codec(s: BenchStack, report: BenchReport): Promise<void> {
  const n = CODEC_CONTACTS;
  const [payloadCodec] = s.client.options.loadedDataConverter.payloadCodecs;
  if (!payloadCodec) throw new Error('the bench stack has no payload codec (DIALER_PAYLOAD_KEYS)');
  const name = uid('bench-codec');
  await createCampaign(s.env, name, '--calls-per-second', '1000', '--lines', '100');
  await insertContacts(s, name, n);
  log(`codec: a ${n}-contact campaign, then its payloads converted with and without the codec…`);
  await runCampaign(s, name, n);
  const problem = await checkOnce(s, name, n);
  if (problem) throw new Error(`the codec part's campaign did not dial everyone exactly once: ${problem}`);
  const payloads = new HistoryPayloads();
  const executions = await forEachHistory(s.client, `CampaignName = '${name}'`, n + 1, (_, events) =>
    payloads.add(events),
  );
  const cost = await codecCost(payloadCodec, payloads, n, CODEC_REPETITIONS);
  report.payloadsPerAttempt = cost.payloadsPerAttempt;
  report.codecCpuMsPerAttempt = cost.codecCpuMsPerAttempt;
  report.codecBaselineCpuMsPerAttempt = cost.codecBaselineCpuMsPerAttempt;
  report.details.codec = { executions, ...cost };
}

interface WorkerMemory {
  mainHeapUsedMb: number;
  mainHeapTotalMb: number;
  externalMb: number;
  cachedWorkflows: number | null;
}

/** The worker's own memory figures, from its Prometheus metrics. */
async function workerMemory(url: string): Promise<WorkerMemory> {
  const text = await (await fetch(url)).text();
  const value = (name: string) => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text);
    return m ? Number(m[1]) : null;
  };
  const mb = (name: string) => round((value(name) ?? NaN) / 2 ** 20);
  return {
    mainHeapUsedMb: mb('dialer_process_nodejs_heap_size_used_bytes'),
    mainHeapTotalMb: mb('dialer_process_nodejs_heap_size_total_bytes'),
    externalMb: mb('dialer_process_nodejs_external_memory_bytes'),
    cachedWorkflows: value('temporal_sticky_cache_size'),
  };
}

const mapValues = <T extends Record<string, number>>(o: T, f: (x: number) => number) =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v)])) as T;

function positive(what: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be a whole number ≥ 1`);
    return n;
  };
}

function benchCommand(): Command {
  return new Command('bench')
    .description('the dialer against Temporal’s own ceiling on this machine')
    .option(
      '--quick',
      'small sizes (200 contacts, 100 redials over 10 s, 50 CRM follow-ups, 100,000 rows, 100 for memory; the codec part keeps its 100): about 150 s; its figures are dominated by start-up',
    )
    .option('--parts <list>', `comma-separated parts: ${PARTS.join(',')}`, PARTS.join(','))
    .option('--out <file>', 'write the report as JSON')
    .option(
      '--engine <list>',
      `the Temporal server: ${ENGINES.join(' or ')}, or both comma-separated (the parts run on each in turn)`,
      'dev',
    )
    .option('--shards <n>', 'history shards of the postgres engine', positive('--shards'), 4)
    .option('--profile', 'write CPU profiles of the worker (all threads) into the run’s folder')
    .option('--contacts <n>', 'throughput campaign size (default 3000; quick 200)', positive('--contacts'))
    .option('--redials <n>', 'redials for the lateness part (default 500; quick 100)', positive('--redials'))
    .option(
      '--follow-ups <n>',
      'follow-ups the CRM writes by SQL in the crm part (default 200; quick 50)',
      positive('--follow-ups'),
    )
    .option(
      '--scale-contacts <n>',
      'contacts for the data-scale part (default 1000000; quick 100000)',
      positive('--scale-contacts'),
    )
    .option(
      '--memory-contacts <n>',
      'campaign size for the memory part (default 20000; quick 100)',
      positive('--memory-contacts'),
    )
    .option(
      '--database-url <url>',
      'the benchmark database',
      process.env.BENCH_DATABASE_URL ?? DEFAULT_BENCH_DATABASE_URL,
    )
    .parse();
}

/** The command line, checked, with each size's default (quick or full). */
function parseOptions(): Options & { profile: boolean } {
  const program = benchCommand();
  const v = program.opts<{
    quick?: boolean;
    profile?: boolean;
    parts: string;
    engine: string;
    shards: number;
    out?: string;
    contacts?: number;
    redials?: number;
    followUps?: number;
    scaleContacts?: number;
    memoryContacts?: number;
    databaseUrl: string;
  }>();
  const parts = v.parts.split(',').map((p) => p.trim());
  const unknown = parts.filter((p) => !(PARTS as readonly string[]).includes(p));
  if (unknown.length) program.error(`unknown part ${unknown.join(', ')} (parts: ${PARTS.join(', ')})`);
  const engines = [...new Set(v.engine.split(',').map((e) => e.trim()))];
  const bad = engines.filter((e) => !(ENGINES as readonly string[]).includes(e));
  if (bad.length) program.error(`unknown engine ${bad.join(', ')} (engines: ${ENGINES.join(', ')})`);
  const quick = v.quick === true;
  const o: Options = {
    quick,
    engines: engines as Engine[],
    shards: v.shards,
    parts: parts as Part[],
    ...(v.out ? { out: v.out } : {}),
    contacts: v.contacts ?? (quick ? 200 : 3000),
    redials: v.redials ?? (quick ? 100 : 500),
    followUps: v.followUps ?? (quick ? 50 : 200),
    spreadSeconds: quick ? 10 : 60,
    scaleContacts: v.scaleContacts ?? (quick ? 100_000 : 1_000_000),
    memoryContacts: v.memoryContacts ?? (quick ? 100 : 20_000),
    databaseUrl: v.databaseUrl,
  };
  return { ...o, profile: v.profile === true };
}

async function newReport(engine: Engine, shards: number): Promise<BenchReport> {
  const cpus = (await import('node:os')).cpus();
  return {
    engine,
    shards: engine === 'postgres' ? shards : null,
    dialsPerSecond: null,
    bareDialsPerSecond: null,
    ratioToBare: null,
    rawDialsPerSecond: null,
    ratioToRaw: null,
    eventsPerAttempt: null,
    dbStatementsPerAttempt: null,
    campaignCeilingPerSecond: null,
    latenessP50Ms: null,
    latenessP99Ms: null,
    crmLatenessP99Ms: null,
    selectionMs: null,
    rssGrowthMb: null,
    payloadsPerAttempt: null,
    codecCpuMsPerAttempt: null,
    codecBaselineCpuMsPerAttempt: null,
    details: {},
    machine: {
      cpus: cpus.length,
      model: cpus[0]?.model ?? 'unknown',
      memoryGb: round((await import('node:os')).totalmem() / 2 ** 30),
      node: process.version,
    },
    seconds: 0,
  };
}

/** Runs the parts asked for, in order; `save` writes --out. */
async function runParts(
  s: BenchStack,
  o: Options,
  report: BenchReport,
  started: number,
  save: () => void,
): Promise<void> {
  // each part's figures are printed, and --out written, as soon as the part is done
  const checkpoint = (part: string) => {
    log(`${part}: ${JSON.stringify(report.details[part] ?? null)}`);
    report.seconds = round((Date.now() - started) / 1000);
    save();
  };
  if (o.parts.includes('throughput') || o.parts.includes('cost')) {
    await throughputAndCost(s, o, report);
    checkpoint('throughput');
  }
  if (o.parts.includes('lateness')) {
    await lateness(s, o, report);
    checkpoint('lateness');
  }
  if (o.parts.includes('crm')) {
    const crm = await crmLateness(s, { followUps: o.followUps, spreadSeconds: o.spreadSeconds, log });
    report.crmLatenessP99Ms = crm.crmMs.p99;
    report.details.crm = crm;
    checkpoint('crm');
  }
  if (o.parts.includes('scale')) {
    const scale = await dataScale(s.db, { contacts: o.scaleContacts, campaigns: 10, log });
    report.selectionMs = scale.selectionMs;
    report.details.scale = scale;
    checkpoint('scale');
  }
  if (o.parts.includes('memory')) {
    await memory(s, o, report);
    checkpoint('memory');
  }
  if (o.parts.includes('codec')) {
    await codec(s, report);
    checkpoint('codec');
  }
}

/**
 * What --out holds: one engine's report, or with several `{ engines: { dev: …, postgres: … } }`,
 * each report as one engine alone would write it.
 */
function writeOut(o: Options, reports: BenchReport[]): void {
  if (!o.out) return;
  const json =
    o.engines.length === 1 ? reports[0] : { engines: Object.fromEntries(reports.map((r) => [r.engine, r])) };
  fs.writeFileSync(o.out, JSON.stringify(json, null, 2) + '\n');
}

/** Stops the stack running now (or starting): what a signal or a crash must do. */
let stopCurrent: (() => Promise<void>) | undefined;

/** Every part asked for on one engine's stack, stopped after (its databases dropped). */
async function runEngine(o: Options & { profile: boolean }, engine: Engine, reports: BenchReport[]) {
  const report = await newReport(engine, o.shards);
  reports.push(report);
  if (o.engines.length > 1) logTag = ` [${engineLabel(report)}]`;
  const started = Date.now();
  const s = await startBenchStack({
    databaseUrl: o.databaseUrl,
    engine,
    shards: o.shards,
    log,
    profileWorker: o.profile,
    registerStop: (stop) => (stopCurrent = stop),
  });
  try {
    await runParts(s, o, report, started, () => writeOut(o, reports));
  } finally {
    await s.stop();
    stopCurrent = undefined;
  }
  // the worker wrote its profiles as it stopped: where its CPU went (bench/profile-top.ts)
  const profiles = path.join(s.workDir, 'profiles');
  if (o.profile && fs.existsSync(profiles)) {
    report.details.workerProfile = { folder: profiles, ...summarizeProfiles(profiles, 12) };
    log(`worker profiles: ${profiles} (npx tsx bench/profile-top.ts ${profiles})`);
  }
  // the stack's start and stop included
  report.seconds = round((Date.now() - started) / 1000);
  writeOut(o, reports);
}

async function main(): Promise<void> {
  const o = parseOptions();
  const stopOnSignal = () => void (stopCurrent?.() ?? Promise.resolve()).finally(() => process.exit(130));
  process.once('SIGINT', stopOnSignal).once('SIGTERM', stopOnSignal);
  // the Temporal server runs in its own process group: a crash of the driver must not leave it running
  process.once('uncaughtException', (err) => {
    console.error(err);
    void (stopCurrent?.() ?? Promise.resolve()).finally(() => process.exit(1));
  });
  const reports: BenchReport[] = [];
  for (const engine of o.engines) await runEngine(o, engine, reports);
  logTag = '';
  printTable(reports);
  const machine = reports[0]!.machine;
  const took = reports.map((r) => `${r.seconds} s on ${engineLabel(r)}`).join(', ');
  console.log(`took ${took}; ${machine.cpus} × ${machine.model}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
