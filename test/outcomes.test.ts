/**
 * telephony.md §2 end to end: each LastState that needs no agent, caused by the scenario that
 * causes it at the simulator, checked on the contact row and the attempt row. (The agent states —
 * NoAgent, AgentTransfer, AgentHangUp, TransferTimeout, Abandoned — come with the agents.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { LastState as S } from '../domain/contract';
import { campaignWorkflowId } from '../workflows/shared';
import {
  type Stack,
  insertContacts,
  runCli,
  startStack,
  testPhone,
  uid,
  createCampaign,
} from '../harness/stack';

describe('every non-agent outcome through the real SDK and the simulator', { timeout: 180_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ timeScale: 0.02 });
  });
  after(async () => stack?.stop());

  test('each scenario ends in its LastState; placed attempts count, rejected creates do not', async () => {
    const name = uid('outcomes');
    // [scenario outcome or special, LastState, placed at Twilio]
    const cases: [string, number, boolean][] = [
      ['human', S.Connected, true],
      ['busy', S.Busy, true],
      ['unreachable', S.Unreachable, true],
      ['wrong-number', S.WrongNumber, true],
      ['invalid', S.WrongNumber, false],
      ['incompatible', S.Incompatible, true],
      ['fax', S.Fax, true],
      ['machine', S.AnsweringMachine, true],
      ['no-line', S.NoLine, true],
      ['error', S.ErrorOccurred, true],
      ['no-answer', S.AlertingTimeout, true],
      ['reject', S.Rejected, true],
      ['blocked', S.Banned, false],
      ['on-our-list', S.Banned, false],
      ['unparsable', S.WrongNumber, false],
    ];
    const numbers: Record<string, string> = {};
    const phones = cases.map(([outcome]) => {
      if (outcome === 'unparsable') return 'not a number';
      const p = testPhone();
      if (outcome !== 'on-our-list') numbers[p] = outcome;
      return p;
    });
    stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 2 }, numbers });
    const banned = phones[cases.findIndex(([o]) => o === 'on-our-list')]!;
    await stack.db
      .sql`insert into banned_numbers (phone_number, reason) values (${banned}, 'test') on conflict do nothing`;
    await createCampaign(stack.env, name, '--max-attempts', '1', '--amd', 'hangup');
    const ids = await insertContacts(stack.db, name, phones);
    assert.equal((await runCli(['campaign', 'start', name, '--until-empty'], stack.env)).code, 0);
    await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();

    for (const [i, [outcome, state, placed]] of cases.entries()) {
      const id = ids[i]!;
      const [c] = await stack.db.sql<
        { contact_successful: number; last_state: number; number_of_contacts: number }[]
      >`
        select contact_successful, last_state, number_of_contacts from contacts where id = ${id}`;
      const [a] = await stack.db.sql<
        { last_state: number; placed: boolean; call_sid: string | null; facts: Record<string, unknown> }[]
      >`
        select last_state, placed, call_sid, facts from call_attempts where contact_id = ${id}`;
      const label = `${outcome} (contact ${id})`;
      assert.equal(c!.last_state, state, `${label}: contact last_state; facts ${JSON.stringify(a?.facts)}`);
      assert.equal(a!.last_state, state, `${label}: attempt last_state`);
      assert.equal(a!.placed, placed, `${label}: placed`);
      assert.equal(c!.number_of_contacts, placed ? 1 : 0, `${label}: number_of_contacts`);
      assert.equal(c!.contact_successful, state === S.Connected ? 1 : -1, `${label}: contact_successful`);
      assert.ok(a!.facts && Object.keys(a!.facts).length > 0, `${label}: the raw facts are stored`);
      const calls = stack.sim.calls({ to: phones[i]! });
      assert.equal(calls.length, placed ? 1 : 0, `${label}: calls at the simulator`);
    }
    // the number on our list never reached Twilio, not even as a rejected create
    assert.equal(stack.sim.rejections().filter((r) => JSON.stringify(r).includes(banned)).length, 0);
  });
});
