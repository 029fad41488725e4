/**
 * What a run measures besides the invariants (run.ts), for the long runs (100,000 contacts): the
 * processes' memory over time, the campaign workflow's runs (continue-as-new) and its refused
 * workflow tasks from its histories, and the workers' logs' refused tasks and errors.
 */
import fs from 'node:fs';
import { temporal } from '@temporalio/proto';
import { connectTemporal } from '../infra/temporal-connection';

/** A process to sample: its name and, when it runs, its pid (a restarted worker has a new one). */
export interface Sampled {
  name: string;
  pid: () => number | undefined;
}

export interface RssSeries {
  minMb: number;
  maxMb: number;
  lastMb: number;
  /** [seconds since the run started, MB], at most MAX_POINTS of them (thinned evenly). */
  samples: [number, number][];
}

const MAX_POINTS = 120;
const mb = (bytes: number) => Math.round(bytes / 1048576);

/** The resident set of a process, in bytes, from /proc (Linux); undefined when it is gone. */
function rssOf(pid: number): number | undefined {
  if (pid === process.pid) return process.memoryUsage().rss;
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

const YOUNG_SECONDS = 5;
/** Clock ticks per second of /proc's times (USER_HZ: 100 on Linux's usual builds). */
const TICKS = 100;

/** How long a process has run, from /proc (Linux); undefined when it cannot be read. */
function ageSeconds(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the fields after the command's closing parenthesis: state is the 3rd field, starttime the 22nd
    const startTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    const uptime = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    return Number.isFinite(startTicks) && Number.isFinite(uptime) ? uptime - startTicks / TICKS : undefined;
  } catch {
    return undefined;
  }
}

/** Samples each process's RSS every `everyMs` (and once more at stop), per name across restarts. */
export class RssSampler {
  private readonly series = new Map<string, [number, number][]>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly processes: Sampled[],
    private readonly started: number,
    everyMs: number,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  private sample(): void {
    const at = Math.round((Date.now() - this.started) / 1000);
    for (const p of this.processes) {
      const pid = p.pid();
      const rss = pid === undefined ? undefined : rssOf(pid);
      if (rss === undefined) continue; // down (killed, restarting): nothing to sample
      // a process just started is still loading (a few MB): not yet a figure of its own
      if (pid !== process.pid && (ageSeconds(pid!) ?? Infinity) < YOUNG_SECONDS) continue;
      const points = this.series.get(p.name) ?? [];
      points.push([at, mb(rss)]);
      this.series.set(p.name, points);
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One last sample, then each process's figures. */
  finish(): Record<string, RssSeries> {
    this.stop();
    this.sample();
    const out: Record<string, RssSeries> = {};
    for (const [name, points] of this.series) {
      const values = points.map(([, v]) => v);
      const step = Math.ceil(points.length / MAX_POINTS);
      out[name] = {
        minMb: Math.min(...values),
        maxMb: Math.max(...values),
        lastMb: values.at(-1)!,
        samples: points.filter((_, i) => i % step === 0 || i === points.length - 1),
      };
    }
    return out;
  }
}

/** The campaign workflow's runs, from their histories. */
export interface CampaignHistories {
  runs: number;
  /** Runs that ended by continuing as new (runs − 1 when the last one ended otherwise). */
  continuedAsNew: number;
  events: number;
  /** WorkflowTaskFailed events in its histories, per cause: tasks the server refused or the worker failed. */
  workflowTaskFailed: Record<string, number>;
  /** WorkflowTaskTimedOut events: tasks a killed worker held (expected under worker-kill). */
  workflowTaskTimedOut: number;
}

const EventType = temporal.api.enums.v1.EventType;
const Cause = temporal.api.enums.v1.WorkflowTaskFailedCause;

/**
 * Walks the campaign's runs from the newest back to the first (each run's first event names the
 * run it continued), reading every event of each: no visibility query, so nothing is missed
 * while visibility lags.
 */
export async function campaignHistories(
  address: string,
  namespace: string,
  workflowId: string,
): Promise<CampaignHistories> {
  const conn = await connectTemporal(address, { callMs: 60_000 });
  const out: CampaignHistories = {
    runs: 0,
    continuedAsNew: 0,
    events: 0,
    workflowTaskFailed: {},
    workflowTaskTimedOut: 0,
  };
  try {
    let runId: string | undefined = ''; // '': the newest run
    while (runId !== undefined) {
      runId = await readRun(conn.workflowService, namespace, workflowId, runId, out);
      out.runs++;
    }
  } finally {
    await conn.close();
  }
  return out;
}

type Service = Awaited<ReturnType<typeof connectTemporal>>['workflowService'];

/** Counts one run's events into `out`; returns the run it continued, if any. */
async function readRun(
  service: Service,
  namespace: string,
  workflowId: string,
  runId: string,
  out: CampaignHistories,
): Promise<string | undefined> {
  let previous: string | undefined;
  let pageToken: Uint8Array | undefined;
  do {
    const page = await service.getWorkflowExecutionHistory({
      namespace,
      execution: { workflowId, runId },
      nextPageToken: pageToken,
      maximumPageSize: 1000,
    });
    for (const e of page.history?.events ?? []) {
      out.events++;
      if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
        previous = e.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
      if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW) out.continuedAsNew++;
      if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT) out.workflowTaskTimedOut++;
      if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED) {
        const cause = Cause[e.workflowTaskFailedEventAttributes?.cause ?? 0] ?? 'unknown';
        const name = String(cause)
          .replace(/^WORKFLOW_TASK_FAILED_CAUSE_/, '')
          .toLowerCase();
        out.workflowTaskFailed[name] = (out.workflowTaskFailed[name] ?? 0) + 1;
      }
    }
    pageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (pageToken);
  return previous;
}

/** What the workers' logs say went wrong: failed workflow tasks (the SDK's warning) and error lines. */
export interface WorkerLogCounts {
  /** "Failing workflow task" lines: a task a worker failed (any workflow: campaign or contact). */
  failingWorkflowTask: number;
  /** Lines logged at error level or above (pino 50, 60). */
  errors: number;
}

/** Reads the log files line by line (a long run's logs may be large). */
export async function countWorkerLogs(files: string[]): Promise<WorkerLogCounts> {
  const out: WorkerLogCounts = { failingWorkflowTask: 0, errors: 0 };
  for (const file of files) {
    if (!fs.existsSync(file)) continue;
    let rest = '';
    for await (const chunk of fs.createReadStream(file, { encoding: 'utf8' })) {
      const lines = (rest + (chunk as string)).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) count(line, out);
    }
    count(rest, out);
  }
  return out;
}

function count(line: string, out: WorkerLogCounts): void {
  if (line.includes('Failing workflow task')) out.failingWorkflowTask++;
  if (/"level":(50|60)[,}]/.test(line)) out.errors++;
}
