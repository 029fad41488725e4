/**
 * The campaign's bookkeeping (workflows/campaign-run.ts) without a server: the races that are
 * hard to hit on purpose end to end.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CampaignRun } from '../workflows/campaign-run';
import {
  type CachedContact,
  DEFAULT_CAMPAIGN_OPTIONS,
  DEFAULT_RETRY_RULES,
  LastState,
} from '../workflows/shared';

const settings = {
  name: 'unit',
  maxAttempts: 3,
  lines: 2,
  callsPerSecond: 1,
  callerId: '+15005550006',
  ringTimeoutSeconds: 30,
  retryRules: DEFAULT_RETRY_RULES,
};
const now = Date.parse('2026-11-25T12:00:00Z');
const contact = (id: number, redialAt: string | null = null, attemptNo = 1): CachedContact => ({
  id,
  phoneNumber: `+1500555${String(id).padStart(4, '0')}`,
  redialAt,
  numberOfContacts: attemptNo - 1,
  attemptNo,
  cachedFrom: redialAt ? 2 : 0,
});

test('a contact reserved again before its last attempt reported waits for that report (never lost at 3)', () => {
  const run = new CampaignRun(settings, DEFAULT_CAMPAIGN_OPTIONS);
  run.addToCache([contact(1)], null, now);
  assert.deepEqual(
    run.nextMoves(now).starts.map((s) => s.contact.id),
    [1],
  );
  // the child recorded its outcome (row back at 2, due within the look-ahead) and the next
  // refill took the contact again, before the child's report reached the campaign
  const soon = new Date(now + 1000).toISOString();
  run.addToCache([contact(1, soon, 2)], null, now);
  assert.deepEqual(run.nextMoves(now).starts, [], 'not started while attempt 1 is in flight');
  assert.equal(run.cache.length, 1, 'kept in the cache, so pause/stop would give it back');
  assert.equal(run.done, false);
  run.finished({
    contactId: 1,
    attemptNo: 1,
    lastState: LastState.Busy,
    contactSuccessful: 2,
    placed: true,
    redialTime: soon,
  });
  const { starts } = run.nextMoves(now);
  assert.deepEqual(
    starts.map((s) => [s.contact.id, s.contact.attemptNo, s.lineGranted]),
    [[1, 2, false]],
  );
});

test('free lines go to due redials first, then new contacts; not-due redials start without a line', () => {
  const run = new CampaignRun(settings, DEFAULT_CAMPAIGN_OPTIONS);
  const past = (m: number) => new Date(now - m * 60_000).toISOString();
  const future = new Date(now + 30_000).toISOString();
  run.addToCache(
    [contact(10), contact(11), contact(5, past(1), 2), contact(6, past(9), 2), contact(7, future, 2)],
    null,
    now,
  );
  const { starts } = run.nextMoves(now);
  assert.deepEqual(
    starts.map((s) => [s.contact.id, s.lineGranted]),
    [
      [6, true],
      [5, true],
      [7, false],
    ],
  );
  assert.deepEqual(
    run.cache.map((c) => c.id),
    [10, 11],
    'new contacts wait for a line',
  );
  // the waiting redial's time comes: it asks for a line and gets the next free one before 10 and 11
  run.requestLine({ contactId: 7, attemptNo: 2, dueAt: future });
  run.finished({
    contactId: 6,
    attemptNo: 2,
    lastState: LastState.Connected,
    contactSuccessful: 1,
    placed: true,
    redialTime: null,
  });
  const next = run.nextMoves(now + 30_000);
  assert.deepEqual(
    next.grants.map((g) => g.contactId),
    [7],
  );
  assert.deepEqual(next.starts, []);
});

test('duplicate and stale reports are ignored', () => {
  const run = new CampaignRun(settings, DEFAULT_CAMPAIGN_OPTIONS);
  run.addToCache([contact(1)], null, now);
  run.nextMoves(now);
  const r = {
    contactId: 1,
    attemptNo: 1,
    lastState: LastState.Connected,
    contactSuccessful: 1 as const,
    placed: true,
    redialTime: null,
  };
  run.finished({ ...r, attemptNo: 7 });
  assert.equal(run.inFlight.size, 1);
  run.finished(r);
  run.finished(r);
  assert.equal(run.stats.attemptsFinished, 1);
});

test('redials not due yet start a few at a time, soonest first, and never hold up a due contact', () => {
  const run = new CampaignRun({ ...settings, lines: 1 }, DEFAULT_CAMPAIGN_OPTIONS);
  const later = (s: number) => new Date(now + s * 1000).toISOString();
  // thirty waiting redials, listed latest first, and one new contact
  run.addToCache(
    [...Array.from({ length: 30 }, (_, i) => contact(100 + i, later(30 - i))), contact(1)],
    null,
    now,
  );
  const first = run.nextMoves(now, 3);
  assert.deepEqual(
    first.starts.map((s) => [s.contact.id, s.lineGranted]),
    [
      [1, true],
      [129, false],
      [128, false],
      [127, false],
    ],
    'the due contact with a line, then the three redials due soonest',
  );
  assert.equal(run.cache.length, 27, 'the others stay cached');
  assert.deepEqual(run.nextMoves(now, 0).starts, [], 'none while three starts are on their way');
  const next = run.nextMoves(now, 2).starts.map((s) => s.contact.id);
  assert.deepEqual(next, [126, 125]);
  // without a limit (campaigns from before the pacing, replaying) all of them go at once
  assert.equal(run.nextMoves(now).starts.length, 25);
});
