/**
 * What an operator sees in the Temporal UI: contact workflows found by campaign and outcome
 * through visibility queries on our search attributes, and a memo with the contact's masked number
 * (never a full phone number or a name in search attributes or memo).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { LastState as S } from '../domain/contract';
import { campaignWorkflowId, contactWorkflowId } from '../workflows/shared';
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

describe('Temporal UI: search attributes and memo', { timeout: 180_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ timeScale: 0.02 });
  });
  after(async () => stack?.stop());

  test('a visibility query by campaign name and LastState finds exactly the right workflows', async () => {
    const name = uid('ui');
    const [busy, human1, human2] = [testPhone(), testPhone(), testPhone()];
    stack.sim.setScenario({
      default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 },
      numbers: { [busy]: 'busy' },
    });
    await createCampaign(stack.env, name, '--max-attempts', '1');
    const other = uid('ui-other');
    await createCampaign(stack.env, other, '--max-attempts', '1');
    const ids = await insertContacts(stack.db, name, [busy, human1, human2]);
    await stack.db.sql`update contacts set name = 'Ada Lovelace' where id = ${ids[1]!}`;
    await insertContacts(stack.db, other, [testPhone()]);
    for (const c of [name, other]) {
      assert.equal((await runCli(['campaign', 'start', c, '--until-empty'], stack.env)).code, 0);
      await stack.client.workflow.getHandle(campaignWorkflowId(c)).result();
    }
    const find = async (query: string) => {
      const found: string[] = [];
      for await (const wf of stack.client.workflow.list({ query })) found.push(wf.workflowId);
      return found.sort();
    };
    await eventually(
      async () => (await find(`CampaignName = "${name}" AND ContactSuccessful = 1`)).length === 2,
      30_000,
      'visibility to catch up',
    );
    assert.deepEqual(await find(`CampaignName = "${name}" AND LastState = ${S.Busy}`), [
      contactWorkflowId(name, ids[0]!),
    ]);
    assert.deepEqual(
      await find(`CampaignName = "${name}" AND LastState = ${S.Connected}`),
      [contactWorkflowId(name, ids[1]!), contactWorkflowId(name, ids[2]!)].sort(),
    );
    assert.equal(
      (await find(`CampaignName = "${name}"`)).length,
      4,
      'three contacts and the campaign itself',
    );

    const desc = await stack.client.workflow.getHandle(contactWorkflowId(name, ids[1]!)).describe();
    assert.deepEqual(desc.memo, { phone: desc.memo?.phone, attempt: 1 }, 'no name in the memo');
    assert.match(String(desc.memo?.phone), /^\+1500\*+\d\d$/, 'the number is masked');
    const visible = JSON.stringify({
      memo: desc.memo,
      sa: desc.searchAttributes,
      typed: desc.typedSearchAttributes,
    });
    for (const p of [busy, human1, human2])
      assert.ok(!visible.includes(p), `no full number ${p} in memo or search attributes`);
    assert.ok(!visible.includes('Lovelace'), 'no name in memo or search attributes');
  });
});
