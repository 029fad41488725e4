/**
 * Workers are stateless and scale out: two worker processes share one campaign, both place calls
 * (each attempt records the worker that sent its create), one is stopped with SIGTERM in the middle
 * and drains what it holds, and the campaign completes with every invariant held.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { temporal } from '@temporalio/proto';
import { campaignWorkflowId } from '../workflows/shared';
import {
  createCampaign,
  eventually,
  insertContacts,
  repoRoot,
  runCli,
  startStack,
  testPhone,
  uid,
} from './helpers';

const { TaskQueueType } = temporal.api.enums.v1;

test(
  'two worker processes share a campaign; one stops with SIGTERM mid-run; nothing is lost or doubled',
  { timeout: 240_000 },
  async () => {
    const stack = await startStack({ timeScale: 0.5 }, { worker: false });
    const workers: { proc: ChildProcess; exited: Promise<number | null>; out: string[] }[] = [];
    try {
      stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 3 } });
      for (let i = 0; i < 2; i++) {
        const proc = spawn(
          process.execPath,
          ['--import', 'tsx', path.join(repoRoot, 'client/main.ts'), 'worker'],
          {
            env: stack.env,
            stdio: ['ignore', 'ignore', 'pipe'],
          },
        );
        const out: string[] = [];
        proc.stderr!.on('data', (d) => out.push(String(d)));
        workers.push({ proc, out, exited: new Promise((r) => proc.on('exit', (code) => r(code))) });
      }
      const pollers = async () =>
        (
          await stack.client.workflowService.describeTaskQueue({
            namespace: stack.client.options.namespace,
            taskQueue: { name: stack.taskQueue },
            taskQueueType: TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
          })
        ).pollers ?? [];
      await eventually(async () => (await pollers()).length >= 2, 60_000, 'both workers to poll');

      const name = uid('scale');
      const n = 40;
      await createCampaign(stack.env, name, '--lines', '10', '--max-attempts', '1');
      const phones = Array.from({ length: n }, testPhone);
      const ids = await insertContacts(stack.db, name, phones);
      assert.equal((await runCli(['campaign', 'start', name], stack.env)).code, 0);

      // stop the first worker once some calls are recorded and others are under way
      await eventually(
        async () => {
          const [r] = await stack.db.sql<{ n: number }[]>`
        select count(*)::int as n from call_attempts where campaign_name = ${name} and recorded_at is not null`;
          return r!.n >= 8;
        },
        60_000,
        'calls to be recorded',
      );
      const stopped = workers[0]!;
      stopped.proc.kill('SIGTERM');
      assert.equal(
        await stopped.exited,
        0,
        `the stopped worker drains and exits cleanly:\n${stopped.out.join('')}`,
      );

      const result = await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();
      assert.equal(result.status, 'completed');

      const contacts = await stack.db.sql<
        { id: string; contact_successful: number; number_of_contacts: number }[]
      >`
      select id, contact_successful, number_of_contacts from contacts where campaign_name = ${name}`;
      assert.equal(contacts.filter((c) => c.contact_successful === 3).length, 0, 'no contact left at 3');
      assert.ok(
        contacts.every((c) => c.contact_successful === 1 && c.number_of_contacts === 1),
        'each reached once',
      );
      const attempts = await stack.db.sql<
        { contact_id: string; worker_identity: string | null; placed: boolean }[]
      >`
      select contact_id, worker_identity, placed from call_attempts where campaign_name = ${name}`;
      assert.equal(attempts.length, n, 'one attempt per contact');
      for (const [i, p] of phones.entries()) {
        assert.equal(stack.sim.calls({ to: p }).length, 1, `contact ${ids[i]}: one call at the simulator`);
      }
      const identities = new Set(attempts.map((a) => a.worker_identity));
      assert.ok(!identities.has(null), 'every attempt records its worker');
      assert.equal(identities.size, 2, `both workers placed calls: ${[...identities].join(', ')}`);
      const stoppedPid = String(stopped.proc.pid);
      assert.ok(
        [...identities].some((id) => id!.startsWith(`${stoppedPid}@`)),
        'the stopped worker had placed calls',
      );
    } finally {
      for (const w of workers) w.proc.kill('SIGTERM');
      await Promise.all(workers.map((w) => w.exited));
      await stack.stop();
    }
  },
);
