/**
 * telephony.md §1 under faults: a create whose answer never arrives (the call exists all the
 * same), callbacks delivered twice and out of order, and a final callback that never comes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { campaignWorkflowId, LastState as S } from '../workflows/shared';
import { insertContacts, runCli, startStack, testPhone, uid, createCampaign } from './helpers';

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
  const start = await runCli(['campaign', 'start', name, ...startArgs], stack.env);
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
});
