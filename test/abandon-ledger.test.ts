/**
 * The abandon ledger: live answers and abandons per campaign over its rolling
 * 30 days (US) and the last 24 h (UK), from a scripted sequence of attempts over several days; and,
 * through a running campaign, the safe-harbor message a person hears when no agent takes them,
 * started within 2 s of the answer as the simulator records it, counted in `campaign status`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { abandonLedger, recentLedgers } from '../ops/abandon-ledger';
import { LastState as S, type LastStateName } from '../domain/contract';
import { campaignWorkflowId } from '../workflows/shared';
import {
  type Stack,
  createCampaign,
  insertContacts,
  runCli,
  startStack,
  testDatabase,
  testPhone,
  uid,
} from '../harness/stack';

const DAY = 24 * 3600_000;

describe('the abandon ledger over a scripted sequence of days', { timeout: 60_000 }, () => {
  const db = testDatabase();
  after(() => db.close());
  const campaign = uid('ledger');
  const now = new Date('2026-11-20T12:00:00Z');
  let contactId: number;
  let attemptNo = 0;

  /** `n` attempts of the campaign that ended `daysAgo` before `now` as `state`. */
  async function ended(daysAgo: number, state: LastStateName, n: number, durationSeconds = 30) {
    const at = new Date(now.getTime() - daysAgo * DAY);
    const rows = Array.from({ length: n }, () => ({
      campaign_name: campaign,
      contact_id: contactId,
      attempt_no: ++attemptNo,
      workflow_id: 'scripted',
      phone_number: '+15005550100',
      placed: true,
      ended_at: at,
      last_state: S[state],
      facts: { callDurationSeconds: durationSeconds },
    }));
    await db.sql`insert into call_attempts ${db.sql(rows)}`;
  }

  before(async () => {
    [contactId] = (await insertContacts(db, campaign, ['+15005550100'])) as [number];
    // 40 days ago: outside every window
    await ended(40, 'NoAgent', 10);
    // 20 days ago: 50 conversations, 1 nobody took
    await ended(20, 'Connected', 50);
    await ended(20, 'NoAgent', 1);
    // a day and a half ago: 20 conversations, a transfer the agent did not answer
    await ended(1.5, 'Connected', 19);
    await ended(1.5, 'TransferTimeout', 1);
    // the last 24 hours
    await ended(0.5, 'Connected', 25);
    await ended(0.5, 'AgentHangUp', 2);
    await ended(0.25, 'Abandoned', 1, 5); // waited 5 s for an agent: the dialer's abandon
    await ended(0.25, 'Abandoned', 1, 1); // hung up within 2 s of answering: a live answer only
    await ended(0.2, 'AgentTransfer', 1); // the agent's leg failed: abandoned
    await ended(0.1, 'AnsweringMachine', 4); // machines, busy lines and no-answers are neither
    await ended(0.1, 'Busy', 3);
    await ended(0.1, 'AlertingTimeout', 2);
  });

  test('30 days (US) and 24 h (UK): abandons over live answers', async () => {
    const l = await abandonLedger(db.sql, campaign, now);
    // 24 h: 25 + 2 + 2 Abandoned + 1 AgentTransfer live; abandons: the 5 s Abandoned and the transfer
    assert.deepEqual([l.last24Hours.liveAnswers, l.last24Hours.abandons], [30, 2]);
    assert.equal(l.last24Hours.rate, 2 / 30);
    // 30 days: those, and 20 from a day and a half ago (1 abandon), and 51 from 20 days ago (1)
    assert.deepEqual([l.last30Days.liveAnswers, l.last30Days.abandons], [101, 4]);
    assert.equal(l.last30Days.rate, 4 / 101);
    assert.equal(l.target, 0.03);
    assert.equal(l.overTarget, true, '6.7 % over 24 h and 4.0 % over 30 days are over 3 %');
  });

  test('days move out of the windows as time goes on', async () => {
    // 11 days later: the 20-day-old attempts are 31 days old, nothing is in the last 24 h
    const later = await abandonLedger(db.sql, campaign, new Date(now.getTime() + 11 * DAY));
    assert.deepEqual([later.last30Days.liveAnswers, later.last30Days.abandons], [50, 3]);
    assert.deepEqual(
      [later.last24Hours.liveAnswers, later.last24Hours.abandons, later.last24Hours.rate],
      [0, 0, null],
    );
    // a day before the scripted now: only the 20-day-old ones and the 40-day-old are out of 30 days
    const before = await abandonLedger(db.sql, campaign, new Date(now.getTime() - DAY));
    assert.deepEqual([before.last24Hours.liveAnswers, before.last24Hours.abandons], [20, 1]);
    assert.deepEqual([before.last30Days.liveAnswers, before.last30Days.abandons], [71, 2]);
    assert.equal(before.overTarget, true, '5 % over that 24 h');
  });

  test('a campaign’s own target decides whether it is over', async () => {
    const l = await abandonLedger(db.sql, campaign, now, 0.1);
    assert.equal(l.overTarget, false);
    const other = await abandonLedger(db.sql, uid('none'), now);
    assert.deepEqual(
      [other.last30Days.liveAnswers, other.last30Days.rate, other.overTarget],
      [0, null, false],
    );
  });
});

describe('abandoned calls in a running campaign', { timeout: 180_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ timeScale: 0.02 });
  });
  after(async () => stack?.stop());

  test('no agent free: the safe-harbor message starts within 2 s of the answer, and the ledger counts it', async () => {
    const name = uid('harbor');
    const [busy, transfer] = [testPhone(), testPhone()];
    const agent = `client:${uid('agent')}`;
    stack.sim.setScenario({
      default: { outcome: 'human', ringSeconds: 1, talkSeconds: 30 },
      agents: { [agent]: 'no-answer' },
    });
    await createCampaign(
      stack.env,
      name,
      '--max-attempts',
      '1',
      '--lines',
      '1',
      '--message',
      'We will call you back.',
    );
    // the only agent is on another call: the campaign may dial (pacing counts it), nobody is free
    assert.equal(
      (await runCli(['agents', 'add', agent, '--campaign', name, '--status', 'on-call'], stack.env)).code,
      0,
    );
    await insertContacts(stack.db, name, [busy]);
    assert.equal((await runCli(['campaign', 'start', name, '--until-empty'], stack.env)).code, 0);
    await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();

    const [call] = stack.sim.calls({ to: busy });
    assert.ok(call?.answeredAt && call.messageStartedAt, JSON.stringify(call));
    const wait = new Date(call.messageStartedAt).getTime() - new Date(call.answeredAt).getTime();
    assert.ok(wait >= 0 && wait <= 2000, `the message started ${wait} ms after the answer`);

    // an agent who does not answer the transfer: the person hears the message too, not silence
    await stack.db.sql`update agents set status = 'available' where endpoint = ${agent}`;
    await insertContacts(stack.db, name, [transfer]);
    assert.equal((await runCli(['campaign', 'start', name, '--until-empty'], stack.env)).code, 0);
    await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();
    const [second] = stack.sim.calls({ to: transfer });
    const said = second!.events.filter((e) => e.type === 'verb').map((e) => JSON.stringify(e.detail));
    assert.ok(
      said.some((s) => s.includes('We will call you back.')),
      said.join('\n'),
    );

    const status = await runCli(['campaign', 'status', name, '--json'], stack.env);
    assert.equal(status.code, 0, status.stderr);
    const report = JSON.parse(status.stdout) as {
      byLastState: Record<string, number>;
      abandons: { last24Hours: { liveAnswers: number; abandons: number; rate: number }; overTarget: boolean };
    };
    assert.deepEqual(report.byLastState, { NoAgent: 1, TransferTimeout: 1 });
    assert.deepEqual(
      [
        report.abandons.last24Hours.liveAnswers,
        report.abandons.last24Hours.abandons,
        report.abandons.overTarget,
      ],
      [2, 2, true],
    );
    // what /metrics shows, in one statement for every recent campaign: the same counts
    const recent = (await recentLedgers(stack.db.sql)).find((l) => l.campaign === name);
    assert.deepEqual(recent?.last24Hours, { liveAnswers: 2, abandons: 2 });
    assert.deepEqual(recent?.last30Days, { liveAnswers: 2, abandons: 2 });
    const text = await runCli(['campaign', 'status', name], stack.env);
    assert.match(
      text.stdout,
      /abandoned calls \(target 3\.0 %, OVER IT\): 30 days 2 abandoned of 2 live answers \(100\.0 %\)/,
    );
  });
});
