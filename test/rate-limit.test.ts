/**
 * telephony.md §1.4: a campaign's calls per second holds across all workers. A second worker
 * process polls the same task queues; every create still goes through the campaign's dialing
 * task queue, which Temporal's server dispatches at the campaign's rate.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';
import { temporal } from '@temporalio/proto';
import { campaignWorkflowId, contactWorkflowId, dialTaskQueue } from '../workflows/shared';
import {
  type Stack,
  createCampaign,
  eventually,
  insertContacts,
  repoRoot,
  runCli,
  startStack,
  testPhone,
  uid,
} from '../harness/stack';

const { TaskQueueType } = temporal.api.enums.v1;

async function pollerIdentities(stack: Stack, taskQueue: string, type: number): Promise<Set<string>> {
  const r = await stack.client.workflowService.describeTaskQueue({
    namespace: stack.client.options.namespace,
    taskQueue: { name: taskQueue },
    taskQueueType: type,
  });
  return new Set((r.pollers ?? []).map((p) => p.identity ?? ''));
}

/** The identity of the worker that ran the attempt's placeCall, from the contact's history. */
async function placedBy(stack: Stack, workflowId: string): Promise<string> {
  const history = await stack.client.workflow.getHandle(workflowId).fetchHistory();
  const events = history.events ?? [];
  const scheduled = events.find(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'placeCall',
  );
  assert.ok(scheduled, `${workflowId} scheduled placeCall`);
  const started = events.find(
    (e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId ?? '') === String(scheduled.eventId),
  );
  return started?.activityTaskStartedEventAttributes?.identity ?? '';
}

describe('calls per second across workers', { timeout: 180_000 }, () => {
  test('two worker processes together keep a campaign at its rate; both place calls', async () => {
    const stack = await startStack({ timeScale: 0.02 });
    let other: ChildProcess | undefined;
    try {
      stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 0, talkSeconds: 0 } });
      other = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'client/main.ts'), 'worker'], {
        env: stack.env,
        stdio: 'ignore',
      });
      // both processes poll the campaign task queue before the campaign starts
      await eventually(
        async () =>
          (await pollerIdentities(stack, stack.taskQueue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)).size >= 2,
        60_000,
      );

      const cps = 2;
      const n = 16;
      const name = uid('rate');
      await createCampaign(stack.env, name, '--lines', String(n), '--calls-per-second', String(cps));
      const phones = Array.from({ length: n }, testPhone);
      const ids = await insertContacts(stack.db, name, phones);
      const start = await runCli(['campaign', 'start', name, '--until-empty'], stack.env);
      assert.equal(start.code, 0, start.stderr);
      await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();

      const created = stack.sim
        .calls()
        .filter((c) => phones.includes(c.to))
        .map((c) => Date.parse(c.createdAt))
        .sort((a, b) => a - b);
      assert.equal(created.length, n, 'one call per contact');
      // Temporal's server dispatches the queue like a token bucket: short bursts (here up to 4
      // at once), the rate on average. So any stretch of t seconds holds at most rate × t plus
      // a burst of twice the rate, and one to spare for timing jitter; unlimited, 16 creates
      // would all fall within about a second.
      const burst = 2 * cps + 1;
      for (let i = 0; i < created.length; i++) {
        for (let j = i + 1; j < created.length; j++) {
          const seconds = (created[j]! - created[i]!) / 1000;
          assert.ok(
            j - i + 1 <= cps * seconds + burst,
            `${j - i + 1} creates within ${seconds} s at ${cps}/s: ${created.map((t) => t - created[0]!).join(' ')}`,
          );
        }
      }
      const identities = new Set(
        await Promise.all(ids.map((id) => placedBy(stack, contactWorkflowId(name, id)))),
      );
      assert.ok(identities.size >= 2, `both workers placed calls: ${[...identities].join(', ')}`);
      const dialers = await pollerIdentities(
        stack,
        dialTaskQueue(stack.taskQueue, name),
        TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
      );
      assert.ok(dialers.size >= 2, 'both processes served the dialing queue');
    } finally {
      other?.kill('SIGTERM');
      await stack.stop();
    }
  });
});
