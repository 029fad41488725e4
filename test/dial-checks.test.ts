/**
 * The checks inside the placing step, right before the create (§5, telephony §1.1): the placing
 * activity on its own against the real database, the real twilio SDK and the simulator, at a fixed
 * clock. A number that maps to several zones follows the strictest; caps count the contact's
 * earlier attempts; an attempt held back sends nothing and says why in the decision log.
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
import { createLogger } from '../infra/logger';
import { createTwilioClient } from '../infra/twilio';
import { type RunningSimulator, startSimulator } from '../simulator';
import { DEFAULT_RETRY_RULES } from '../domain/contract';
import { type AttemptResult } from '../workflows/shared';
import { CALLER_ID, cfg, insertContacts, testDatabase, uid } from '../harness/stack';

/** 09:00 in New York (EDT), 06:00 in Los Angeles, 03:00 in Honolulu, 23:00 in Guam. */
const NOW = new Date('2026-07-01T13:00:00Z');

describe('the checks inside the placing step', { timeout: 60_000 }, () => {
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
      clock: () => NOW,
      publicBaseUrl: 'http://127.0.0.1:9', // nobody listens: the webhooks are not what is tested
      defaultRegion: 'US',
    });
  });
  after(async () => {
    await sim?.close();
    await connection?.close();
    await db.close();
  });

  /** A campaign with these rules and one contact; the input of its first attempt. */
  async function attempt(
    phone: string,
    rules: string,
    opts: { timeZone?: string } = {},
  ): Promise<PlaceCallInput> {
    const campaign = uid('checks');
    await db.sql.unsafe(
      `insert into campaigns (name, caller_id, retry_rules${rules ? ', ' + rules.split('=')[0] : ''})
       values ($1, $2, '{}'${rules ? ', $3' : ''})`,
      rules ? [campaign, CALLER_ID, rules.slice(rules.indexOf('=') + 1)] : [campaign, CALLER_ID],
    );
    const [contactId] = await insertContacts(db, campaign, [phone]);
    if (opts.timeZone)
      await db.sql`update contacts set time_zone = ${opts.timeZone} where id = ${contactId!}`;
    return {
      campaign,
      contactId: contactId!,
      attemptNo: 1,
      workflowId: `contact/${campaign}/${contactId}`,
      phoneNumber: phone,
      callerId: CALLER_ID,
      ringTimeoutSeconds: 30,
      dueAt: null,
      machineDetection: 'off',
      callTimeoutMs: 60_000,
    };
  }
  const place = (input: PlaceCallInput): Promise<PlaceCallResult> =>
    new MockActivityEnvironment().run(activities.placeCall, input);
  const unique = (prefix: string) => `${prefix}${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;

  test('a number in several zones follows the strictest: a New York number is dialed, a toll-free one waits', async () => {
    const newYork = unique('+1212');
    const tollFree = unique('+1800');
    const ny = await place(await attempt(newYork, ''));
    assert.equal(ny.kind, 'placed', 'the default window 08:00–21:00 is open at 09:00 in New York');
    const free = await place(await attempt(tollFree, ''));
    // a toll-free number may ring anywhere in the North American plan: from Guam (UTC+10) to
    // Pago Pago (UTC-11) and Newfoundland (UTC-2:30 in July); 08:00–21:00 holds in all of them
    // only from 08:00 in Guam (22:00Z) to 21:00 in Newfoundland (23:30Z)
    assert.equal(free.kind, 'delayed');
    assert.ok(free.kind === 'delayed');
    assert.equal(free.rule, 'window');
    assert.equal(free.until, '2026-07-01T22:00:00.000Z');
    assert.match(free.reason, /outside the window in at least one of the callee's \d+ zones/);
    assert.equal(sim.calls({ to: tollFree }).length, 0, 'nothing sent');
  });

  test('held back: the decision log says why and until when; nothing reaches Twilio', async () => {
    const phone = unique('+1213'); // Los Angeles: 06:00
    const input = await attempt(phone, '');
    const r = await place(input);
    assert.ok(r.kind === 'delayed');
    assert.equal(r.until, '2026-07-01T15:00:00.000Z', '08:00 in Los Angeles');
    const events = await contactEvents(db.sql, input.contactId);
    assert.deepEqual(
      events.map((e) => [e.kind, e.until]),
      [['delayed', '2026-07-01T15:00:00.000Z']],
    );
    assert.match(events[0]!.reason, /it is Wed 06:00:00 in America\/Los_Angeles/);
    assert.equal(sim.calls({ to: phone }).length, 0);
    const [row] =
      await db.sql`select create_requested_at from call_attempts where contact_id = ${input.contactId}`;
    assert.equal(row!.create_requested_at, null, 'no create was ever asked for');
  });

  test('the contact’s time_zone wins over its number; the campaign’s zone serves numbers with none', async () => {
    // a New York number whose contact lives in Berlin (15:00 there): dialed
    const berlin = await attempt(unique('+1212'), 'calling_window=daily 14:00-16:00', {
      timeZone: 'Europe/Berlin',
    });
    assert.equal((await place(berlin)).kind, 'placed');
    // an international network number maps to no zone: not dialed unless the campaign names one
    const satellite = unique('+88216');
    const none = await place(await attempt(satellite, ''));
    assert.ok(none.kind === 'final' && none.facts.notDialed, JSON.stringify(none));
    assert.match(none.facts.notDialed!.reason, /no time zone is known/);
    const withZone = await attempt(unique('+88216'), 'time_zone=America/New_York');
    assert.equal((await place(withZone)).kind, 'placed');
  });

  test('a minimum gap counts the contact’s attempts in every campaign', async () => {
    const phone = unique('+1212');
    const input = await attempt(phone, 'min_attempt_gap_seconds=14400'); // 4 h
    await db.sql`insert into call_attempts (campaign_name, contact_id, attempt_no, workflow_id, phone_number, create_requested_at, placed)
      values ('elsewhere', ${input.contactId}, 1, 'x', ${phone}, ${new Date(NOW.getTime() - 3600_000)}, true)`;
    const r = await place(input);
    assert.ok(r.kind === 'delayed');
    assert.equal(r.rule, 'min-gap');
    assert.equal(r.until, '2026-07-01T16:00:00.000Z', 'the attempt an hour ago, and 4 h after it');
  });

  test('the do-not-call list is read first: a listed number outside its window ends Banned at once', async () => {
    const phone = unique('+1213');
    await db.sql`insert into banned_numbers (phone_number, reason) values (${phone}, 'test')`;
    const r = await place(await attempt(phone, ''));
    assert.deepEqual(r, { kind: 'final', facts: { banned: true } });
  });

  test('a number no window can ever open for (no zone known) gets an undialed attempt, tried again in 24 h', async () => {
    const phone = unique('+88216');
    const input = await attempt(phone, '');
    const r = await place(input);
    assert.ok(r.kind === 'final' && r.facts.notDialed);
    assert.equal(r.facts.notDialed.retryAt, '2026-07-02T13:00:00.000Z');
    assert.equal(sim.calls({ to: phone }).length, 0);
    const recorded: AttemptResult = await new MockActivityEnvironment().run(activities.recordOutcome, {
      ...input,
      facts: r.facts,
      maxAttempts: 3,
      retryRules: DEFAULT_RETRY_RULES,
    });
    assert.equal(recorded.placed, false);
    assert.equal(recorded.redialTime, '2026-07-02T13:00:00.000Z');
    const [row] = await db.sql`select number_of_contacts from contacts where id = ${input.contactId}`;
    assert.equal(row!.number_of_contacts, 0, 'not placed, not counted');
  });
});
