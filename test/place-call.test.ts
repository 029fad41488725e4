/**
 * telephony.md §1, at most one call per attempt: the placing activity on its own, against the real
 * database, the real twilio SDK and the simulator, in the states a crash can leave an attempt in.
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
import { createLogger } from '../infra/logger';
import { createTwilioClient } from '../infra/twilio';
import { type RunningSimulator, startSimulator } from '../simulator';
import { ALL_DAY, CALLER_ID, cfg, insertContacts, testDatabase, testPhone, uid } from '../harness/stack';

describe('placeCall after a crash between the create and storing its SID', { timeout: 60_000 }, () => {
  const db = testDatabase();
  let sim: RunningSimulator;
  let connection: Connection;
  let activities: ReturnType<typeof createActivities>;
  let sdk: ReturnType<typeof createTwilioClient>;
  before(async () => {
    // no-answer rings for the whole timeout: the calls stay live while the test looks at them
    sim = await startSimulator({
      accountSid: SIMULATOR_ACCOUNT_SID,
      authToken: SIMULATOR_AUTH_TOKEN,
      scenario: { default: { outcome: 'no-answer' } },
      logger: createLogger('silent'),
    });
    connection = await Connection.connect({ address: cfg.temporal.address });
    sdk = createTwilioClient({
      accountSid: SIMULATOR_ACCOUNT_SID,
      authToken: SIMULATOR_AUTH_TOKEN,
      apiBaseUrl: sim.url,
    });
    activities = createActivities({
      db,
      calls: twilioCalls(sdk),
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

  /** An attempt whose create was sent, as a crash before the SID was stored leaves it. */
  async function crashedAttempt(campaign: string, phone: string) {
    await db.sql`insert into campaigns (name, caller_id, retry_rules, calling_window)
      values (${campaign}, ${CALLER_ID}, ${db.sql.json({})}, ${ALL_DAY})`;
    const [contactId] = await insertContacts(db, campaign, [phone]);
    await db.sql`insert into call_attempts (campaign_name, contact_id, attempt_no, workflow_id, phone_number, create_requested_at)
      values (${campaign}, ${contactId!}, 1, ${'contact/' + campaign}, ${phone}, now())`;
    return {
      campaign,
      contactId: contactId!,
      attemptNo: 1,
      workflowId: `contact/${campaign}/${contactId}`,
      phoneNumber: phone,
      callerId: CALLER_ID,
      ringTimeoutSeconds: 30,
      dueAt: null,
      machineDetection: 'off' as const,
      callTimeoutMs: 60_000,
    };
  }
  const place = (input: PlaceCallInput): Promise<PlaceCallResult> =>
    new MockActivityEnvironment().run(activities.placeCall, input);
  const sidOf = async (campaign: string) =>
    (
      await db.sql<
        { call_sid: string | null }[]
      >`select call_sid from call_attempts where campaign_name = ${campaign}`
    )[0]!.call_sid;

  test('the call the crashed try made is adopted; no second call', async () => {
    const phone = testPhone();
    const input = await crashedAttempt(uid('adopt'), phone);
    const made = await sdk.calls.create({ to: phone, from: CALLER_ID, url: 'http://127.0.0.1:9/a' });
    const placed = await place(input);
    assert.deepEqual(placed, { kind: 'placed', callSid: made.sid });
    assert.equal(await sidOf(input.campaign), made.sid);
    assert.equal(sim.calls({ to: phone }).length, 1);
  });

  test('a call another attempt owns (same number, same caller id) is not adopted: ours is created', async () => {
    const phone = testPhone();
    const input = await crashedAttempt(uid('mine'), phone);
    // another campaign dialed the same number from the same caller id, and stored its SID
    const other = uid('other');
    const [otherContact] = await insertContacts(db, other, [phone]);
    const theirs = await sdk.calls.create({ to: phone, from: CALLER_ID, url: 'http://127.0.0.1:9/b' });
    await db.sql`insert into call_attempts (campaign_name, contact_id, attempt_no, workflow_id, phone_number, call_sid, placed)
      values (${other}, ${otherContact!}, 1, ${'contact/' + other}, ${phone}, ${theirs.sid}, true)`;

    const placed = await place(input);
    assert.equal(placed.kind, 'placed');
    const sid = (placed as { callSid: string }).callSid;
    assert.notEqual(sid, theirs.sid, 'the other attempt keeps its call');
    assert.equal(await sidOf(input.campaign), sid);
    assert.deepEqual(
      sim
        .calls({ to: phone })
        .map((c) => c.sid)
        .sort(),
      [theirs.sid, sid].sort(),
      'exactly one call each',
    );
  });
});
