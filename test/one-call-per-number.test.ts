/**
 * Invariant 9 (docs/contract.md §9): a person is never in two calls from the dialer at once,
 * whatever rows the CRM wrote. The placing step on its own (the race between two placing steps,
 * a stale hold, a workflow that cannot wait), then two running campaigns whose SQL-inserted rows
 * share numbers, checked against the simulator's own list of calls.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Connection } from '@temporalio/client';
import { temporalClient } from '../infra/temporal-connection';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../activities';
import type { PlaceCallInput, PlaceCallResult } from '../activities/calls';
import { twilioCalls } from '../activities/twilio-calls';
import { SIMULATOR_ACCOUNT_SID, SIMULATOR_AUTH_TOKEN } from '../infra/config';
import { contactEvents } from '../ops/contact-events';
import { NUMBER_BUSY_RETRY_MS } from '../domain/dial-rules';
import { createLogger } from '../infra/logger';
import { createTwilioClient } from '../infra/twilio';
import { type RunningSimulator, type SimCall, startSimulator } from '../simulator';
import { DEFAULT_RETRY_RULES } from '../domain/contract';
import { campaignWorkflowId } from '../workflows/shared';
import {
  ALL_DAY,
  CALLER_ID,
  type Stack,
  cfg,
  createCampaign,
  eventually,
  insertContacts,
  runCli,
  startStack,
  testDatabase,
  testPhone,
  uid,
} from '../harness/stack';

describe('the placing step holds one call per number', { timeout: 60_000 }, () => {
  const db = testDatabase();
  let sim: RunningSimulator;
  let connection: Connection;
  let activities: ReturnType<typeof createActivities>;
  before(async () => {
    sim = await startSimulator({
      accountSid: SIMULATOR_ACCOUNT_SID,
      authToken: SIMULATOR_AUTH_TOKEN,
      scenario: { default: { outcome: 'no-answer' } },
      logger: createLogger('silent'),
    });
    connection = await Connection.connect({ address: cfg.temporal.address });
    activities = createActivities({
      db,
      calls: twilioCalls(
        createTwilioClient({
          accountSid: SIMULATOR_ACCOUNT_SID,
          authToken: SIMULATOR_AUTH_TOKEN,
          apiBaseUrl: sim.url,
        }),
      ),
      temporal: temporalClient(connection, cfg),
      clock: () => new Date(),
      publicBaseUrl: 'http://127.0.0.1:9', // nobody listens: the webhooks are not what is tested
      defaultRegion: 'US',
    });
  });
  after(async () => {
    await sim?.close();
    await connection?.close();
    await db.close();
  });

  /** First attempts of `n` contacts with this number, in a new campaign open around the clock. */
  async function attempts(phone: string, n: number) {
    const campaign = uid('busy');
    await db.sql`insert into campaigns (name, caller_id, retry_rules, calling_window)
      values (${campaign}, ${CALLER_ID}, '{}', ${ALL_DAY})`;
    const ids = await insertContacts(
      db,
      campaign,
      Array.from({ length: n }, () => phone),
    );
    return ids.map((contactId): PlaceCallInput => ({
      campaign,
      contactId,
      attemptNo: 1,
      workflowId: `contact/${campaign}/${contactId}`,
      phoneNumber: phone,
      callerId: CALLER_ID,
      ringTimeoutSeconds: 30,
      dueAt: null,
      machineDetection: 'off',
      callTimeoutMs: 60_000,
    }));
  }
  const place = (input: PlaceCallInput): Promise<PlaceCallResult> =>
    new MockActivityEnvironment().run(activities.placeCall, input);
  const hold = async (phone: string) =>
    (
      await db.sql<
        { campaign_name: string; contact_id: string }[]
      >`select campaign_name, contact_id from call_attempts where live_number = ${phone}`
    ).map((r) => `${r.campaign_name}/${r.contact_id}`);

  test('eight placing steps for one number at once, in two campaigns: one creates, seven wait', async () => {
    const phone = testPhone();
    const inputs = [...(await attempts(phone, 4)), ...(await attempts(phone, 4))];
    const before = Date.now();
    const results = await Promise.all(inputs.map(place));
    const placed = results.flatMap((r, i) => (r.kind === 'placed' ? [inputs[i]!] : []));
    const winnerCall = results.find((r) => r.kind === 'placed');
    assert.equal(placed.length, 1, `one placed: ${JSON.stringify(results)}`);
    assert.equal(sim.calls({ to: phone }).length, 1, 'one create reached Twilio');
    const winner = placed[0]!;
    assert.deepEqual(await hold(phone), [`${winner.campaign}/${winner.contactId}`]);
    for (const [i, r] of results.entries()) {
      if (r.kind === 'placed') continue;
      assert.ok(r.kind === 'delayed', `attempt ${i}: ${JSON.stringify(r)}`);
      assert.equal(r.rule, 'number-busy');
      const wait = new Date(r.until).getTime() - before;
      assert.ok(
        wait >= NUMBER_BUSY_RETRY_MS - 100 && wait < NUMBER_BUSY_RETRY_MS + 10_000,
        `waits ${wait} ms`,
      );
      assert.match(
        r.reason,
        new RegExp(`in a call for contact ${winner.contactId} of campaign "${winner.campaign}"`),
      );
      // the decision log says so (`dialer contacts why`)
      const events = await contactEvents(db.sql, inputs[i]!.contactId);
      assert.deepEqual(
        events.map((e) => [e.kind, e.until]),
        [['delayed', r.until]],
      );
    }

    // the call ends: the number is free, and the next attempt is placed
    await new MockActivityEnvironment().run(activities.recordOutcome, {
      campaign: winner.campaign,
      contactId: winner.contactId,
      attemptNo: 1,
      facts: { callSid: winnerCall?.kind === 'placed' ? winnerCall.callSid : '', callStatus: 'no-answer' },
      maxAttempts: 3,
      retryRules: DEFAULT_RETRY_RULES,
    });
    assert.deepEqual(await hold(phone), [], 'the recorded attempt let the number go');
    const next = inputs.find((x) => x !== winner)!;
    assert.equal((await place(next)).kind, 'placed');
    assert.equal(sim.calls({ to: phone }).length, 2);
  });

  test('a hold committed between the check and the mark: the mark waits for it, is refused, and the attempt waits', async () => {
    const phone = testPhone();
    const [first, second] = await attempts(phone, 2);
    await db.sql`insert into call_attempts (campaign_name, contact_id, attempt_no, workflow_id, phone_number)
      values (${first!.campaign}, ${first!.contactId}, 1, ${first!.workflowId}, ${phone})`;
    let placing: Promise<PlaceCallResult> | undefined;
    await db.sql.begin(async (tx) => {
      // another placing step's mark, not committed yet: the second one's check cannot see it
      await tx`update call_attempts set create_requested_at = now(), live_number = ${phone},
          live_until = now() + interval '1 minute'
        where campaign_name = ${first!.campaign} and contact_id = ${first!.contactId}`;
      placing = place(second!);
      // its mark now waits on the unique index for this transaction
      await eventually(async () => {
        const [w] = await db.sql<{ n: number }[]>`
          select count(*)::int as n from pg_stat_activity
          where wait_event_type = 'Lock' and query like 'update "call_attempts" set%'`;
        return w!.n > 0;
      }, 10_000);
    });
    const r = await placing!;
    assert.ok(r.kind === 'delayed', JSON.stringify(r));
    assert.equal(r.rule, 'number-busy');
    assert.match(r.reason, new RegExp(`contact ${first!.contactId} of campaign "${first!.campaign}"`));
    assert.equal(sim.calls({ to: phone }).length, 0, 'nothing sent');
    assert.deepEqual(await hold(phone), [`${first!.campaign}/${first!.contactId}`]);
  });

  test('the index refuses a second hold on a number, whatever writes it', async () => {
    const phone = testPhone();
    const [a, b] = await attempts(phone, 2);
    assert.equal((await place(a!)).kind, 'placed');
    await db.sql`insert into call_attempts (campaign_name, contact_id, attempt_no, workflow_id, phone_number)
      values (${b!.campaign}, ${b!.contactId}, 1, ${b!.workflowId}, ${phone})`;
    await assert.rejects(
      db.sql`update call_attempts set live_number = ${phone}, live_until = now() + interval '1 minute'
        where campaign_name = ${b!.campaign} and contact_id = ${b!.contactId}`,
      (err: { code?: string; constraint_name?: string }) =>
        err.code === '23505' && err.constraint_name === 'call_attempts_live_number_idx',
    );
  });

  test('a hold past its call timeout (a crashed attempt that never ended) is freed and the number dialed', async () => {
    const phone = testPhone();
    const [stale, fresh] = await attempts(phone, 2);
    await db.sql`insert into call_attempts (campaign_name, contact_id, attempt_no, workflow_id, phone_number,
        create_requested_at, live_number, live_until)
      values (${stale!.campaign}, ${stale!.contactId}, 1, ${stale!.workflowId}, ${phone},
        now() - interval '20 minutes', ${phone}, now() - interval '1 second')`;
    const r = await place(fresh!);
    assert.equal(r.kind, 'placed');
    assert.deepEqual(await hold(phone), [`${fresh!.campaign}/${fresh!.contactId}`]);
  });
});

describe('two running campaigns whose rows share numbers', { timeout: 240_000 }, () => {
  let stack: Stack;
  before(async () => {
    // calls of about 6 s: ring 10 s and talk 50 s at a tenth of real time
    stack = await startStack({ timeScale: 0.1 });
    stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 10, talkSeconds: 50 } });
  });
  after(async () => stack?.stop());

  test('never two calls to one number at once; every contact is dialed; `contacts why` shows the wait', async () => {
    const [a, b] = [uid('shared-a'), uid('shared-b')];
    for (const name of [a, b]) await createCampaign(stack.env, name, '--lines', '4');
    const [twice, both] = [testPhone(), testPhone()];
    // `twice`: twice in campaign a and once in b; `both`: once in each; the rest their own
    const idsA = await insertContacts(stack.db, a, [twice, twice, both, testPhone(), testPhone()]);
    const idsB = await insertContacts(stack.db, b, [twice, both, testPhone()]);
    try {
      // both at once, so that their first calls to the shared numbers fall together
      const started = await Promise.all(
        [a, b].map((name) =>
          runCli(['campaign', 'start', name, '--until-empty', '--refill-interval', '2s'], stack.env),
        ),
      );
      for (const r of started) assert.equal(r.code, 0, r.stderr);
      await Promise.all([a, b].map((n) => stack.client.workflow.getHandle(campaignWorkflowId(n)).result()));
    } finally {
      for (const name of [a, b]) await runCli(['campaign', 'stop', name, '--wait'], stack.env);
    }

    const calls = (await (await fetch(`${stack.sim.url}/sim/calls`)).json()) as SimCall[];
    for (const [number, n] of [
      [twice, 3],
      [both, 2],
    ] as const) {
      const to = calls
        .filter((c) => c.to === number)
        .sort((x, y) => Date.parse(x.createdAt) - Date.parse(y.createdAt));
      assert.equal(to.length, n, `${n} calls to the shared number`);
      for (let i = 1; i < to.length; i++) {
        const prev = to[i - 1]!;
        assert.ok(prev.endedAt, 'the earlier call ended');
        assert.ok(
          Date.parse(to[i]!.createdAt) >= Date.parse(prev.endedAt),
          `call ${to[i]!.sid} created at ${to[i]!.createdAt}, while ${prev.sid} was live until ${prev.endedAt}`,
        );
      }
    }
    const rows = await stack.db.sql<{ id: string; contact_successful: number; number_of_contacts: number }[]>`
      select id, contact_successful, number_of_contacts from contacts where id in ${stack.db.sql([...idsA, ...idsB])}`;
    assert.equal(rows.length, 8);
    for (const r of rows) assert.deepEqual([r.id, r.contact_successful, r.number_of_contacts], [r.id, 1, 1]);

    // the contacts that waited for their number say so
    const waited: string[] = [];
    for (const id of [...idsA.slice(0, 3), ...idsB.slice(0, 2)]) {
      const why = await runCli(['contacts', 'why', String(id), '--json'], stack.env);
      assert.equal(why.code, 0, why.stderr);
      const events = (JSON.parse(why.stdout) as { events: { kind: string; reason: string }[] }).events;
      const delayed = events.filter((e) => e.kind === 'delayed');
      for (const e of delayed)
        assert.match(e.reason, /^the number is in a call for contact \d+ of campaign "shared-/);
      if (delayed.length) waited.push(String(id));
    }
    assert.ok(waited.length >= 2, `at least one contact per shared number waited: ${waited.join(', ')}`);
  });
});
