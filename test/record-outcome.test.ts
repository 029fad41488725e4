/**
 * An attempt's statements (issue 23: at most 6 per attempt) and its outcome written exactly once
 * (§7) now that the outcome goes in one statement: the placing and recording activities on their
 * own, against the real database behind a proxy that counts statements, the real twilio SDK and
 * the simulator.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Connection } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../activities';
import type { PlaceCallInput, PlaceCallResult } from '../activities/calls';
import type { AttemptResult } from '../workflows/shared';
import type { RecordOutcomeInput } from '../activities/record-outcome';
import { twilioCalls } from '../activities/twilio-calls';
import { type Database, connectDatabase } from '../db/client';
import { DEFAULT_RETRY_RULES, LastState } from '../domain/contract';
import { SIMULATOR_ACCOUNT_SID, SIMULATOR_AUTH_TOKEN } from '../infra/config';
import { createLogger } from '../infra/logger';
import { temporalClient } from '../infra/temporal-connection';
import { createTwilioClient } from '../infra/twilio';
import { contactEvents } from '../ops/contact-events';
import { type RunningSimulator, startSimulator } from '../simulator';
import { PgProxy } from '../harness/pg-proxy';
import { ALL_DAY, CALLER_ID, cfg, insertContacts, testDatabase, uid } from '../harness/stack';

describe('an attempt in few statements, its outcome once', { timeout: 60_000 }, () => {
  const db = testDatabase();
  let proxied: Database;
  let proxy: PgProxy;
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
    ({ proxy } = await PgProxy.inFrontOf(cfg.testDatabaseUrl));
    const url = new URL(cfg.testDatabaseUrl);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    // one connection per client, opened before anything is counted (a new one reads the types)
    proxied = connectDatabase(url.toString(), { max: 1 });
    connection = await Connection.connect({ address: cfg.temporal.address });
    activities = createActivities({
      db: proxied,
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
    await proxied?.close();
    await proxy?.close();
    await sim?.close();
    await connection?.close();
    await db.close();
  });

  const unique = () => `+1212${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;

  /** A campaign of one contact (no caps), the contact cached with `count` contacts so far. */
  async function firstAttempt(count = 0): Promise<PlaceCallInput> {
    const campaign = uid('stmts');
    await db.sql`insert into campaigns (name, caller_id, retry_rules, calling_window)
      values (${campaign}, ${CALLER_ID}, '{}', ${ALL_DAY})`;
    const phone = unique();
    const [contactId] = await insertContacts(db, campaign, [phone], { number_of_contacts: count });
    return {
      campaign,
      contactId: contactId!,
      attemptNo: count + 1,
      workflowId: `contact/${campaign}/${contactId}`,
      phoneNumber: phone,
      callerId: CALLER_ID,
      ringTimeoutSeconds: 30,
      dueAt: null,
      machineDetection: 'off',
      callTimeoutMs: 60_000,
    };
  }

  /** Runs an activity; the statements it sent. */
  async function counted<T>(run: () => Promise<T>): Promise<{ result: T; statements: number }> {
    const before = proxy.statements;
    const result = await run();
    return { result, statements: proxy.statements - before };
  }

  const place = (input: PlaceCallInput): Promise<PlaceCallResult> =>
    new MockActivityEnvironment().run(activities.placeCall, input);
  const record = (input: RecordOutcomeInput): Promise<AttemptResult> =>
    new MockActivityEnvironment().run(activities.recordOutcome, input);

  async function placed(input: PlaceCallInput): Promise<string> {
    const r = await place(input);
    assert.equal(r.kind, 'placed');
    return r.kind === 'placed' ? r.callSid : '';
  }

  const outcomeOf = (input: PlaceCallInput, callSid: string, cachedCount: number): RecordOutcomeInput => ({
    campaign: input.campaign,
    contactId: input.contactId,
    attemptNo: input.attemptNo,
    facts: { callSid, callStatus: 'no-answer' },
    maxAttempts: 3,
    retryRules: DEFAULT_RETRY_RULES,
    known: { numberOfContacts: cachedCount, placed: true },
  });

  test('a call is placed in 3 statements and its outcome recorded in 1, with its events', async () => {
    const warmUp = await firstAttempt();
    await record(outcomeOf(warmUp, await placed(warmUp), 0));
    const input = await firstAttempt();
    const p = await counted(() => place(input));
    assert.equal(p.result.kind, 'placed');
    const callSid = p.result.kind === 'placed' ? p.result.callSid : '';
    assert.equal(p.statements, 3, 'the attempt with its checks, the create marked, the SID stored');
    const r = await counted(() => record(outcomeOf(input, callSid, 0)));
    assert.equal(r.statements, 1);
    assert.equal(r.result.lastState, LastState.AlertingTimeout, 'no answer: telephony §2');
    const [row] = await db.sql`select contact_successful, number_of_contacts, last_state, cached_by
      from contacts where id = ${input.contactId}`;
    assert.deepEqual(
      { ...row },
      {
        contact_successful: 2,
        number_of_contacts: 1,
        last_state: LastState.AlertingTimeout,
        cached_by: null,
      },
    );
    const events = await contactEvents(db.sql, input.contactId);
    assert.deepEqual(
      events.map((e) => e.kind),
      ['dialed', 'outcome'],
    );
    assert.deepEqual(events[1]!.details, {
      lastState: LastState.AlertingTimeout,
      contactSuccessful: 2,
      placed: true,
      numberOfContacts: 1,
    });
  });

  test('a count the CRM changed after caching is not overwritten: the outcome counts from the row', async () => {
    const input = await firstAttempt(1);
    const callSid = await placed(input);
    await db.sql`update contacts set number_of_contacts = 0 where id = ${input.contactId}`;
    const r = await record(outcomeOf(input, callSid, 1));
    const [row] = await db.sql`select number_of_contacts from contacts where id = ${input.contactId}`;
    assert.equal(row!.number_of_contacts, 1, 'the row said 0 when the outcome came: 0 + 1');
    assert.equal(r.contactSuccessful, 2, 'one of three attempts used: redialed');
  });

  test('recorded once: two recorders at once and a retry after all return the same, one count, one event', async () => {
    const input = await firstAttempt();
    const callSid = await placed(input);
    const o = outcomeOf(input, callSid, 0);
    const [a, b] = await Promise.all([record(o), record(o)]);
    const again = await record({ ...o, known: undefined });
    assert.deepEqual(a, b);
    assert.deepEqual(again, a);
    const [row] = await db.sql`select number_of_contacts from contacts where id = ${input.contactId}`;
    assert.equal(row!.number_of_contacts, 1);
    const outcomes = (await contactEvents(db.sql, input.contactId)).filter((e) => e.kind === 'outcome');
    assert.equal(outcomes.length, 1);
  });

  test('an attempt that ended before its create is recorded from its row (no count)', async () => {
    const input = await firstAttempt();
    await db.sql`insert into banned_numbers (phone_number, reason) values (${input.phoneNumber}, 'test')`;
    const p = await place(input);
    assert.deepEqual(p, { kind: 'final', facts: { banned: true } });
    const r = await record({
      ...outcomeOf(input, '', 0),
      facts: p.kind === 'final' ? p.facts : {},
      known: undefined,
    });
    assert.equal(r.placed, false);
    const [row] =
      await db.sql`select number_of_contacts, contact_successful from contacts where id = ${input.contactId}`;
    assert.deepEqual({ ...row }, { number_of_contacts: 0, contact_successful: -1 });
  });
});
