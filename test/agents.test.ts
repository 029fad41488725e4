/**
 * The agent step (telephony.md §1.4, §2 rows 15–20): a person who answers is bridged to a free
 * agent of the campaign, claimed atomically; what the agent's leg does decides the outcome; the
 * agent goes to wrap-up afterwards; with no agent free the person hears the safe-harbor message.
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

describe('agents', { timeout: 180_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ timeScale: 0.02 });
  });
  after(async () => stack?.stop());

  // [what happens, callee outcome, agent behaviour, agent status at start, LastState]
  const cases: [string, string, string, string, number][] = [
    ['bridged, the callee ends', 'human', 'answer', 'available', S.Connected],
    ['bridged, the agent ends first', 'agent-hangs-up', 'answer', 'available', S.AgentHangUp],
    ['the agent does not answer in time', 'human', 'no-answer', 'available', S.TransferTimeout],
    ['the agent is busy', 'human', 'busy', 'available', S.AgentTransfer],
    ['the person hangs up while the agent rings', 'human-hangs-up', 'answer', 'available', S.Abandoned],
    // its only agent is on another call: the campaign may dial (pacing counts it), nobody is free
    ['no agent is free', 'human', 'answer', 'on-call', S.NoAgent],
  ];

  for (const [what, outcome, behaviour, status, state] of cases) {
    test(`${what}: ${Object.entries(S).find(([, v]) => v === state)![0]}`, async () => {
      const name = uid('agents');
      const phone = testPhone();
      const agent = `client:${uid('agent')}`;
      stack.sim.setScenario({
        default: { outcome: 'human', ringSeconds: 1, talkSeconds: 5 },
        numbers: { [phone]: outcome },
        agents: { [agent]: behaviour as 'answer' },
      });
      await createCampaign(
        stack.env,
        name,
        '--max-attempts',
        '1',
        '--message',
        'Sorry, all agents are busy.',
      );
      const add = await runCli(['agents', 'add', agent, '--campaign', name, '--status', status], stack.env);
      assert.equal(add.code, 0, add.stderr);
      const [id] = await insertContacts(stack.db, name, [phone]);
      assert.equal((await runCli(['campaign', 'start', name, '--until-empty'], stack.env)).code, 0);
      await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();

      const [c] = await stack.db.sql<{ last_state: number; contact_successful: number }[]>`
        select last_state, contact_successful from contacts where id = ${id!}`;
      const [a] = await stack.db.sql<{ last_state: number; facts: Record<string, unknown> }[]>`
        select last_state, facts from call_attempts where contact_id = ${id!}`;
      assert.equal(c!.last_state, state, `facts: ${JSON.stringify(a!.facts)}`);
      assert.equal(a!.last_state, state);
      assert.equal(c!.contact_successful, state === S.Connected || state === S.AgentHangUp ? 1 : -1);
      const [call] = stack.sim.calls({ to: phone });
      const [row] = await stack.db.sql<
        { status: string; wrap_up_until: Date | null; current_call_sid: string | null }[]
      >`
        select status, wrap_up_until, current_call_sid from agents where endpoint = ${agent}`;
      if (status === 'on-call') {
        assert.equal(a!.facts.noAgentFree, true);
        assert.equal(call!.legs.length, 0, 'no agent was dialed');
        const said = call!.events.filter((e) => e.type === 'verb').map((e) => JSON.stringify(e.detail));
        assert.ok(
          said.some((s) => s.includes('Sorry, all agents are busy.')),
          `safe-harbor message played: ${said}`,
        );
        assert.equal(row!.status, 'on-call', 'the busy agent was not taken from its call');
      } else {
        assert.equal(a!.facts.agentStep, true);
        assert.equal(call!.legs.length, 1, 'the agent was dialed once');
        assert.equal(row!.status, 'wrap-up', 'the agent is in wrap-up after the call');
        assert.ok(row!.wrap_up_until && row!.current_call_sid === null);
      }
    });
  }

  test('agents add refuses a bad endpoint and an unknown campaign', async () => {
    const bad = await runCli(['agents', 'add', 'alice'], stack.env);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /not an agent endpoint/);
    const unknown = await runCli(
      ['agents', 'add', `client:${uid('a')}`, '--campaign', uid('nope')],
      stack.env,
    );
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /Unknown campaign/);
  });

  test('progressive pacing: with 3 agents and 10 lines, never more than 3 customers on the line', async () => {
    const name = uid('pacing');
    const phones = Array.from({ length: 12 }, testPhone);
    stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 5, talkSeconds: 50 } }); // ~1 s per call
    await createCampaign(stack.env, name, '--lines', '10', '--wrap-up', '0');
    for (let i = 0; i < 3; i++) {
      assert.equal(
        (await runCli(['agents', 'add', `client:${uid('pace')}`, '--campaign', name], stack.env)).code,
        0,
      );
    }
    const ids = await insertContacts(stack.db, name, phones);
    assert.equal(
      (await runCli(['campaign', 'start', name, '--until-empty', '--refill-interval', '1s'], stack.env)).code,
      0,
    );
    await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();

    const calls = phones.flatMap((p) => stack.sim.calls({ to: p }));
    const edges = calls.flatMap((c) => [
      [Date.parse(c.createdAt), 1],
      [Date.parse(c.endedAt!), -1],
    ]) as [number, number][];
    edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let live = 0;
    let most = 0;
    for (const [, d] of edges) most = Math.max(most, (live += d));
    assert.ok(most <= 3, `at most 3 calls at once, saw ${most}`);
    assert.equal(most, 3, 'and the 3 agents were used');
    const rows = await stack.db.sql<
      { last_state: number }[]
    >`select last_state from contacts where id = any(${ids})`;
    assert.deepEqual(
      rows.map((r) => r.last_state),
      ids.map(() => S.Connected),
      'no one answered into NoAgent',
    );
  });
});
