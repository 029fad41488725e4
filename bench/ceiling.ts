/**
 * One campaign's ceiling (issue 23): all of a campaign's decisions go through one workflow, whose
 * tasks run one at a time, so a campaign cannot dial faster than that workflow can take its
 * attempts, however many cores the rest has. Worked out from the throughput run's own figures:
 *
 * - the worker's CPU for the campaign's activations: its histories replayed in this process (the
 *   same activations, the same workflow code, with nothing else on the core), per attempt;
 * - the server's CPU for the campaign's events: the Temporal server's CPU over the run per
 *   history event of every workflow, times the campaign's events per attempt.
 *
 * ceiling = 1000 / (worker ms + server ms) attempts a second, for a campaign with a core to itself
 * on each side. Round trips are not in it: a task takes many attempts' signals at once when they
 * queue, so at the ceiling the campaign is bound by CPU, not by latency.
 */
import { Worker } from '@temporalio/worker';
import type { DataConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { workflowBundle } from '../harness/stack';

type History = temporal.api.history.v1.IHistory;

/** A run's history and its workflow id (the workflow code reads it). */
export interface ReplayableRun {
  workflowId: string;
  history: History;
}

export interface CeilingInput {
  attempts: number;
  /** Every run of the campaign's workflow. */
  campaignRuns: ReplayableRun[];
  /** A contact workflow's history: replayed first, so the timed replays do not pay for the set-up. */
  warmUp: ReplayableRun;
  /** History events of every workflow of the run (the campaign's and its children's). */
  totalEvents: number;
  /** The Temporal server's CPU over the run. */
  temporalCpuMs: number;
  dataConverter?: DataConverter;
}

export interface Ceiling {
  campaignEventsPerAttempt: number;
  campaignTasksPerAttempt: number;
  campaignWorkerCpuMsPerAttempt: number;
  campaignServerCpuMsPerAttempt: number;
  serverCpuMsPerCampaignTask: number;
  campaignCeilingPerSecond: number;
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Replays the histories one after the other in this process; the CPU it took (every thread). */
async function replayCpuMs(
  runs: ReplayableRun[],
  dataConverter: CeilingInput['dataConverter'],
): Promise<number> {
  const bundle = await workflowBundle();
  const options = { workflowBundle: bundle, ...(dataConverter ? { dataConverter } : {}) };
  const from = cpuNow();
  for (const run of runs) await Worker.runReplayHistory(options, run.history, run.workflowId);
  return cpuNow() - from;
}

const workflowTasks = (h: History) =>
  (h.events ?? []).filter((e) => e.workflowTaskCompletedEventAttributes).length;

export async function campaignCeiling(i: CeilingInput): Promise<Ceiling> {
  await replayCpuMs([i.warmUp], i.dataConverter);
  const workerMs = (await replayCpuMs(i.campaignRuns, i.dataConverter)) / i.attempts;
  const campaignEvents = i.campaignRuns.reduce((n, r) => n + (r.history.events?.length ?? 0), 0);
  const tasks = i.campaignRuns.reduce((n, r) => n + workflowTasks(r.history), 0);
  const serverMsPerEvent = i.temporalCpuMs / Math.max(1, i.totalEvents);
  const serverMs = (serverMsPerEvent * campaignEvents) / i.attempts;
  return {
    campaignEventsPerAttempt: round(campaignEvents / i.attempts),
    campaignTasksPerAttempt: round(tasks / i.attempts, 3),
    campaignWorkerCpuMsPerAttempt: round(workerMs),
    campaignServerCpuMsPerAttempt: round(serverMs),
    serverCpuMsPerCampaignTask: round((serverMsPerEvent * campaignEvents) / Math.max(1, tasks)),
    campaignCeilingPerSecond: Math.round(1000 / (workerMs + serverMs)),
  };
}
