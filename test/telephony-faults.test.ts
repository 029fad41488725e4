/**
 * telephony.md §1 under faults: a create whose answer never arrives (the call exists all the
 * same), callbacks delivered twice and out of order, and a final callback that never comes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LastState as S } from '../domain/contract';
import { campaignWorkflowId } from '../workflows/shared';
import { insertContacts, runCli, startStack, testPhone, uid, createCampaign } from '../harness/stack';

async function runCampaign(
  stack: Awaited<ReturnType<typeof startStack>>,
  phones: string[],
  startArgs: string[] = [],
  setup?: (name: string) => Promise<void>,
): Promise<{ name: string; ids: number[] }> {
  const name = uid('fault');
  await createCampaign(stack.env, name, '--max-attempts', '1', '--lines', '3');
  await setup?.(name);
  const ids = await insertContacts(stack.db, name, phones);
  const start = await runCli(['campaign', 'start', name, '--until-empty', ...startArgs], stack.env);
  assert.equal(start.code, 0, start.stderr);
  await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();
  return { name, ids };
}

describe('telephony under faults', { timeout: 180_000 }, () => {
  test('a create that times out after Twilio made the call is retried without a second call', async () => {
    // the simulator creates the call at once but answers 2.5 s later; our SDK gives up after 1 s
    const stack = await startStack({ timeScale: 0.02, createDelayMs: 2500 }, { twilioTimeoutMs: 1000 });
    try {
      const phones = [testPhone(), testPhone()];
      stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 2 } });
      const { name, ids } = await runCampaign(stack, phones);
      for (const [i, p] of phones.entries()) {
        assert.equal(stack.sim.calls({ to: p }).length, 1, `exactly one call to ${p}`);
        const [a] = await stack.db.sql<{ call_sid: string; last_state: number }[]>`
          select call_sid, last_state from call_attempts where campaign_name = ${name} and contact_id = ${ids[i]!}`;
        assert.equal(
          a!.call_sid,
          stack.sim.calls({ to: p })[0]!.sid,
          'the attempt adopted the call that exists',
        );
        assert.equal(a!.last_state, S.Connected);
      }
    } finally {
      await stack.stop();
    }
  });

  test('duplicated and out-of-order callbacks: each attempt recorded once, with the right state', async () => {
    const stack = await startStack({ timeScale: 0.02, callbacks: { duplicate: true, outOfOrder: true } });
    try {
      const outcomes = ['human', 'busy', 'no-answer', 'unreachable', 'reject', 'human'];
      const phones = outcomes.map(() => testPhone());
      stack.sim.setScenario({
        default: { outcome: 'human', ringSeconds: 1, talkSeconds: 2 },
        numbers: Object.fromEntries(phones.map((p, i) => [p, outcomes[i]!])),
      });
      const { name, ids } = await runCampaign(stack, phones);
      const want = [S.Connected, S.Busy, S.AlertingTimeout, S.Unreachable, S.Rejected, S.Connected];
      for (const [i, id] of ids.entries()) {
        const rows = await stack.db.sql<{ last_state: number }[]>`
          select last_state from call_attempts where campaign_name = ${name} and contact_id = ${id}`;
        assert.deepEqual(
          rows.map((r) => r.last_state),
          [want[i]],
          `${outcomes[i]}: one attempt`,
        );
        const [c] = await stack.db.sql<{ number_of_contacts: number; last_state: number }[]>`
          select number_of_contacts, last_state from contacts where id = ${id}`;
        assert.deepEqual(
          [c!.number_of_contacts, c!.last_state],
          [1, want[i]],
          `${outcomes[i]}: counted once`,
        );
      }
      const deliveries = stack.sim.calls().flatMap((c) => c.callbacks).length;
      assert.ok(deliveries > stack.sim.calls().length * 2, 'callbacks really were duplicated');
    } finally {
      await stack.stop();
    }
  });

  test('a final callback that never comes: the workflow asks Twilio after the call timeout', async () => {
    const stack = await startStack({ timeScale: 0.02, callbacks: { dropEvents: ['completed'] } });
    try {
      const phones = [testPhone(), testPhone()];
      stack.sim.setScenario({
        default: { outcome: 'human', ringSeconds: 1, talkSeconds: 2 },
        numbers: { [phones[1]!]: 'busy' },
      });
      const { name, ids } = await runCampaign(stack, phones, ['--call-timeout', '2s']);
      const rows = await stack.db.sql<
        { contact_id: string; last_state: number; facts: { callStatus?: string } }[]
      >`
        select contact_id, last_state, facts from call_attempts where campaign_name = ${name} order by contact_id`;
      assert.deepEqual(
        rows.map((r) => [Number(r.contact_id), r.last_state, r.facts.callStatus]),
        [
          [ids[0], S.Connected, 'completed'],
          [ids[1], S.Busy, 'busy'],
        ],
      );
      const completed = stack.sim
        .calls()
        .flatMap((c) => c.callbacks)
        .filter((d) => d.kind === 'status' && d.event === 'completed');
      assert.ok(
        completed.length > 0 && completed.every((d) => d.dropped),
        'every completed callback was dropped',
      );
    } finally {
      await stack.stop();
    }
  });

  test('a call still live after the call timeout is ended, and decided from what Twilio says then', async () => {
    const stack = await startStack({ timeScale: 0.02 });
    try {
      const phone = testPhone();
      // bridged to an agent, a conversation that would last 2,000 s of simulated time (40 s here)
      stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 2000 } });
      const { name } = await runCampaign(stack, [phone], ['--call-timeout', '2s'], async (campaign) => {
        const add = await runCli(
          ['agents', 'add', `client:${uid('long')}`, '--campaign', campaign],
          stack.env,
        );
        assert.equal(add.code, 0, add.stderr);
      });
      const [call] = stack.sim.calls({ to: phone });
      assert.equal(call!.status, 'completed');
      assert.equal(call!.endedBy, 'api', 'we hung it up through the REST API');
      assert.ok(
        Date.parse(call!.endedAt!) - Date.parse(call!.createdAt) < 20_000,
        'well before the callee would have',
      );
      const [a] = await stack.db.sql<
        { last_state: number }[]
      >`select last_state from call_attempts where campaign_name = ${name}`;
      assert.equal(a!.last_state, S.Connected);
    } finally {
      await stack.stop();
    }
  });
  test('a create refused with 20429 (Too Many Requests) is tried again after a pause and placed', async () => {
    // Twilio's API concurrency limit, here one request at a time; every create takes 1 s to answer
    const stack = await startStack(
      { timeScale: 0.02, maxConcurrentRequests: 1, createDelayMs: 1000 },
      { tooManyRequestsBackoffMs: [700, 1400, 2800, 5600] },
    );
    try {
      const phones = [testPhone(), testPhone(), testPhone()];
      stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 2 } });
      const { name, ids } = await runCampaign(stack, phones);
      const refused = stack.sim.rejections().filter((r) => r.code === 20429);
      assert.ok(refused.length > 0, 'creates collided and were refused with 20429');
      for (const [i, p] of phones.entries()) {
        assert.equal(stack.sim.calls({ to: p }).length, 1, `one call to ${p}`);
        const rows = await stack.db.sql<{ last_state: number; placed: boolean }[]>`
          select last_state, placed from call_attempts where campaign_name = ${name} and contact_id = ${ids[i]!}`;
        assert.deepEqual(
          rows.map((r) => [r.last_state, r.placed]),
          [[S.Connected, true]],
          `${p}: one attempt, placed, Connected`,
        );
      }
    } finally {
      await stack.stop();
    }
  });

  test('20429 on every try ends the attempt as NoLine with nothing placed; the redial follows the rule', async () => {
    // one create holds the only request slot for 5 s; the other's tries all fall inside it
    const stack = await startStack(
      { timeScale: 0.02, maxConcurrentRequests: 1, createDelayMs: 5000 },
      { tooManyRequestsBackoffMs: [100, 200, 300] },
    );
    try {
      const phones = [testPhone(), testPhone()];
      stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 2 } });
      const name = uid('fault');
      await createCampaign(stack.env, name, '--lines', '2', '--retry', 'NoLine=8s');
      const ids = await insertContacts(stack.db, name, phones);
      const start = await runCli(['campaign', 'start', name, '--until-empty'], stack.env);
      assert.equal(start.code, 0, start.stderr);
      await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();

      const attempts = await stack.db.sql<
        {
          contact_id: string;
          attempt_no: number;
          last_state: number;
          placed: boolean;
          facts: { createError?: { code: number } };
          recorded_at: Date;
        }[]
      >`select contact_id, attempt_no, last_state, placed, facts, recorded_at from call_attempts
        where campaign_name = ${name} order by contact_id, attempt_no`;
      const refusedContact = attempts.find((a) => a.last_state === S.NoLine);
      assert.ok(refusedContact, `one contact's first attempt ended NoLine: ${JSON.stringify(attempts)}`);
      const b = Number(refusedContact.contact_id);
      const bPhone = phones[ids.indexOf(b)]!;
      const bAttempts = attempts.filter((a) => Number(a.contact_id) === b);
      assert.deepEqual(
        bAttempts.map((a) => [a.attempt_no, a.last_state, a.placed, a.facts.createError?.code ?? null]),
        [
          [1, S.NoLine, false, 20429],
          [2, S.Connected, true, null],
        ],
      );
      assert.equal(
        stack.sim.rejections().filter((r) => r.to === bPhone && r.code === 20429).length,
        4,
        'the first try and three more, one per pause',
      );
      assert.equal(stack.sim.calls({ to: bPhone }).length, 1, 'only the redial reached the callee');
      const [c] = await stack.db.sql<{ number_of_contacts: number; contact_successful: number }[]>`
        select number_of_contacts, contact_successful from contacts where id = ${b}`;
      assert.deepEqual(
        [c!.number_of_contacts, c!.contact_successful],
        [1, 1],
        'the refused try did not count',
      );
      const gap = bAttempts[1]!.recorded_at.getTime() - bAttempts[0]!.recorded_at.getTime();
      assert.ok(gap >= 8000, `the redial waited for the NoLine rule (8 s), not ${gap} ms`);
    } finally {
      await stack.stop();
    }
  });
});
