/**
 * Contract §5a, a campaign's life as the CRM sees it: an opened campaign stays open until an
 * operator pauses or stops it, picks up what the CRM writes after its last contact finished, and
 * costs almost nothing while it waits (no busy polling).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ContactSuccessful } from '../domain/contract';
import { campaignStatusQuery, campaignWorkflowId } from '../workflows/shared';
import {
  type Stack,
  createCampaign,
  eventually,
  insertContacts,
  runCli,
  startStack,
  testPhone,
  uid,
} from '../harness/stack';

describe('a campaign stays open until an operator pauses or stops it (§5a)', { timeout: 120_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ timeScale: 0.05 });
    stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 } });
  });
  after(async () => stack?.stop());

  const calls = async (phone: string) =>
    (
      (await (await fetch(`${stack.sim.url}/sim/calls`)).json()) as { to: string; createdAt: string }[]
    ).filter((c) => c.to === phone);

  test('an opened campaign picks up a follow-up written after its last contact finished', async () => {
    const name = uid('open');
    await createCampaign(stack.env, name);
    const phone = testPhone();
    const [id] = await insertContacts(stack.db, name, [phone]);
    assert.equal((await runCli(['campaign', 'start', name], stack.env)).code, 0);
    const handle = stack.client.workflow.getHandle(campaignWorkflowId(name));
    await eventually(
      async () => {
        const v = await handle.query(campaignStatusQuery);
        return v.stats.attemptsFinished === 1 && v.inFlight === 0 && v.cached === 0;
      },
      30_000,
      'the last contact finished',
    );
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal((await handle.describe()).status.name, 'RUNNING', 'nothing left to dial, and still open');

    // the agent's follow-up (Wiedervorlage), written by the CRM with SQL alone; and a new contact
    const at = new Date(Date.now() + 2000);
    await stack.db
      .sql`update contacts set contact_successful = ${ContactSuccessful.NoSuccess}, redial_time = ${at} where id = ${id!}`;
    const added = testPhone();
    await insertContacts(stack.db, name, [added]);
    const followUp = await eventually(
      async () => ((await calls(phone)).length === 2 ? calls(phone) : undefined),
      20_000,
      'the follow-up dialed',
    );
    assert.ok(Date.parse(followUp[1]!.createdAt) >= at.getTime(), 'not before its time');
    await eventually(async () => (await calls(added)).length === 1, 20_000, 'the new contact dialed');
    assert.equal((await handle.describe()).status.name, 'RUNNING');
    assert.equal((await runCli(['campaign', 'stop', name, '--wait'], stack.env)).code, 0);
    assert.equal((await handle.describe()).status.name, 'COMPLETED');
  });

  test('an open campaign with nothing to dial does not poll: its history stands still', async () => {
    const name = uid('idle');
    await createCampaign(stack.env, name);
    // a short refill interval: a campaign that polled while idle would wake every second
    assert.equal((await runCli(['campaign', 'start', name, '--refill-interval', '1s'], stack.env)).code, 0);
    const handle = stack.client.workflow.getHandle(campaignWorkflowId(name));
    await eventually(
      async () => (await handle.query(campaignStatusQuery)).status === 'running',
      20_000,
      'running',
    );
    await new Promise((r) => setTimeout(r, 2000));
    const length = async () => (await handle.describe()).historyLength;
    const before = await length();
    await new Promise((r) => setTimeout(r, 8000));
    assert.equal(await length(), before, 'no wake-ups while idle');
    // and it still answers the CRM at once
    const [id] = await insertContacts(stack.db, name, [testPhone()]);
    await eventually(
      async () =>
        (await stack.db.sql`select 1 from contacts where id = ${id!} and contact_successful = 1`).length ===
        1,
      20_000,
      'a contact added later dialed',
    );
    assert.equal((await runCli(['campaign', 'stop', name, '--wait'], stack.env)).code, 0);
  });
});
