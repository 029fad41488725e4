/**
 * Workers are stateless and scale out: two worker processes share one campaign, both place calls
 * (each attempt records the worker that sent its create), one is stopped with SIGTERM in the middle
 * and drains what it holds, and the survivor dials the rest: every contact exactly once.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawnDialer } from '../harness/processes';
import { test } from 'node:test';
import { campaignWorkflowId } from '../workflows/shared';
import {
  createCampaign,
  eventually,
  insertContacts,
  runCli,
  startStack,
  testPhone,
  uid,
} from '../harness/stack';

test(
  'two worker processes share a campaign; one stops with SIGTERM mid-run; nothing is lost or doubled',
  { timeout: 240_000 },
  async () => {
    const stack = await startStack({ timeScale: 0.5 }, { worker: false });
    const workers: { proc: ChildProcess; exited: Promise<number | null>; out: string[] }[] = [];
    try {
      stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 3 } });
      for (let i = 0; i < 2; i++) {
        // info: the test waits for each worker's "serving a campaign’s dialing queue" line
        const proc = spawnDialer(
          ['worker'],
          { ...stack.env, LOG_LEVEL: 'info' },
          {
            stdio: ['ignore', 'ignore', 'pipe'],
          },
        );
        const out: string[] = [];
        proc.stderr!.on('data', (d) => out.push(String(d)));
        workers.push({ proc, out, exited: new Promise((r) => proc.on('exit', (code) => r(code))) });
      }

      // The campaign starts empty and keeps running, so that both workers serve its dialing queue
      // (each finds it within a sweep) before there is anything to dial.
      const name = uid('scale');
      const n = 40;
      await createCampaign(stack.env, name, '--lines', '10', '--max-attempts', '1');
      assert.equal((await runCli(['campaign', 'start', name], stack.env)).code, 0);
      const serves = (w: (typeof workers)[number]) =>
        w.out
          .join('')
          .split('\n')
          .some((line) => line.includes('serving a campaign’s dialing queue') && line.includes(`"${name}"`));
      await eventually(async () => workers.every(serves), 60_000, 'both workers to serve the dialing queue');

      const phones = Array.from({ length: n }, testPhone);
      const ids = await insertContacts(stack.db, name, phones);
      assert.equal((await runCli(['campaign', 'refill', name], stack.env)).code, 0);

      // stop the first worker once each worker has placed calls and others are under way
      const placedBy = async () => {
        const rows = await stack.db.sql<{ worker_identity: string; n: number }[]>`
          select worker_identity, count(*)::int as n from call_attempts
          where campaign_name = ${name} and worker_identity is not null group by worker_identity`;
        return workers.map((w) => rows.find((r) => r.worker_identity.startsWith(`${w.proc.pid}@`))?.n ?? 0);
      };
      await eventually(
        async () => {
          const [first, second] = await placedBy();
          return first! >= 2 && second! >= 1;
        },
        60_000,
        'both workers to place calls',
      );
      const stopped = workers[0]!;
      stopped.proc.kill('SIGTERM');
      assert.equal(
        await stopped.exited,
        0,
        `the stopped worker drains and exits cleanly:\n${stopped.out.join('')}`,
      );

      // the survivor dials the rest
      await eventually(
        async () => {
          const [r] = await stack.db.sql<{ n: number }[]>`
            select count(*)::int as n from contacts
            where campaign_name = ${name} and contact_successful in (0, 3)`;
          return r!.n === 0;
        },
        120_000,
        'every contact to be dialed',
      );
      assert.equal((await runCli(['campaign', 'stop', name, '--wait'], stack.env)).code, 0);

      const result = await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();
      assert.equal(result.status, 'stopped');

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
