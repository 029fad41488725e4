/**
 * Reading the histories a benchmark part produced: the executions a visibility query finds, each
 * run's events fetched as the server keeps them (payloads still encrypted), and an event's type
 * and time.
 */
import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';

export type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
export interface Execution {
  workflowId: string;
  runId: string;
}

export const eventMs = (e: { eventTime?: { seconds?: unknown; nanos?: number | null } | null }) =>
  Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);

/** `ActivityTaskScheduled` for an event whose attributes are `activityTaskScheduledEventAttributes`. */
export const eventTypeOfAttributes = (key: string) =>
  key.replace(/EventAttributes$/, '').replace(/^./, (c) => c.toUpperCase());

export const eventType = (e: object) =>
  eventTypeOfAttributes(
    Object.keys(e).find((k) => k.endsWith('EventAttributes') && (e as Record<string, unknown>)[k]) ??
      'unknown',
  );

// visibility is eventually consistent: wait until it lists every execution
async function listExecutions(client: Client, query: string, expected: number): Promise<Execution[]> {
  let executions: Execution[] = [];
  for (let tries = 0; tries < 60; tries++) {
    executions = [];
    for await (const w of client.workflow.list({ query })) executions.push(w);
    if (executions.length >= expected) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  return executions;
}

/**
 * Fetches the history of every execution (all runs) a visibility query finds, 16 at a time, and
 * hands each to `each`; the number of executions.
 */
export async function forEachHistory(
  client: Client,
  query: string,
  expected: number,
  each: (execution: Execution, events: HistoryEvent[]) => void,
): Promise<number> {
  const executions = await listExecutions(client, query, expected);
  const queue = [...executions];
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let e = queue.pop(); e; e = queue.pop()) {
        const h = await client.workflow.getHandle(e.workflowId, e.runId).fetchHistory();
        each(e, h.events ?? []);
      }
    }),
  );
  return executions.length;
}
