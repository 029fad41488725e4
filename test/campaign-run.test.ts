/**
 * The campaign's bookkeeping (workflows/campaign-run.ts) without a server: the races that are
 * hard to hit on purpose end to end.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CampaignRun, type ToStart } from '../workflows/campaign-run';
import {
  type CachedContact,
  type CampaignSettings,
  DEFAULT_RETRY_RULES,
  LastState,
} from '../domain/contract';
import { type CampaignCarry, DEFAULT_CAMPAIGN_OPTIONS } from '../workflows/shared';

const settings = {
  name: 'unit',
  maxAttempts: 3,
  lines: 2,
  callsPerSecond: 1,
  callerId: '+15005550006',
  ringTimeoutSeconds: 30,
  retryRules: DEFAULT_RETRY_RULES,
  machineDetection: 'off' as const,
  dialingMode: 'progressive',
};
const now = Date.parse('2026-11-25T12:00:00Z');
function newRun(s: CampaignSettings, carry?: CampaignCarry): CampaignRun {
  const run = new CampaignRun(DEFAULT_CAMPAIGN_OPTIONS, carry);
  run.settings = s;
  return run;
}
const contact = (id: number, redialAt: string | null = null, attemptNo = 1): CachedContact => ({
  id,
  phoneNumber: `+1500555${String(id).padStart(4, '0')}`,
  redialAt,
  numberOfContacts: attemptNo - 1,
  attemptNo,
  cachedFrom: redialAt ? 2 : 0,
});

test('a contact reserved again before its last attempt reported waits for that report (never lost at 3)', () => {
  const run = newRun(settings);
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
  const run = newRun(settings);
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
  const run = newRun(settings);
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

test('redials not due yet start a few at a time, soonest first, and never hold up a due contact', async () => {
  const run = newRun({ ...settings, lines: 1 });
  const later = (s: number) => new Date(now + s * 1000).toISOString();
  // thirty waiting redials, listed latest first, and one new contact
  run.addToCache(
    [...Array.from({ length: 30 }, (_, i) => contact(100 + i, later(30 - i))), contact(1)],
    null,
    now,
  );
  // each start stays on its way until the test lets it through
  const through = new Map<number, () => void>();
  const send = (starts: ToStart[]) =>
    starts.forEach((s) => run.track(new Promise((ok) => through.set(s.contact.id, () => ok(true))), s));
  const first = run.nextMoves(now).starts;
  assert.deepEqual(
    first.slice(0, 4).map((s) => [s.contact.id, s.lineGranted]),
    [
      [1, true],
      [129, false],
      [128, false],
      [127, false],
    ],
    'the due contact with a line, then the redials due soonest',
  );
  assert.equal(first.length, 21, 'the due contact and twenty waiting ones');
  assert.equal(run.cache.length, 10, 'the others stay cached');
  send(first);
  assert.deepEqual(run.nextMoves(now).starts, [], 'none while twenty starts are on their way');
  through.get(1)!(); // the one with a line counts for nothing here
  through.get(129)!();
  through.get(128)!();
  await new Promise((r) => setImmediate(r));
  assert.equal(run.movesPending, 18);
  assert.deepEqual(
    run.nextMoves(now).starts.map((s) => s.contact.id),
    [109, 108],
  );
});

// Contract §5: one order over everything that is due, wherever it waits

/** A child started for a redial not due yet: it waits on its own timer, without a line. */
function waitingChild(run: CampaignRun, c: CachedContact, at: number, agents: number | null = null): void {
  run.addToCache([c], null, at, agents);
  const { starts } = run.nextMoves(at);
  assert.deepEqual(
    starts.map((s) => [s.contact.id, s.lineGranted]),
    [[c.id, false]],
  );
}

const iso = (ms: number) => new Date(ms).toISOString();

test('one order: a free line goes to the oldest due redial, cached or on its own timer, asked for or not', () => {
  const run = newRun({ ...settings, lines: 1 });
  // one line busy with a new contact; two look-ahead children due at +10 s and +20 s
  run.addToCache([contact(1)], null, now);
  assert.equal(run.nextMoves(now).starts.length, 1);
  waitingChild(run, contact(2, iso(now + 10_000), 2), now);
  waitingChild(run, contact(3, iso(now + 20_000), 2), now);
  // at +25 s: both children are due; the cache holds an older due redial (due at +5 s) and a new one
  const t = now + 25_000;
  run.addToCache([contact(4, iso(now + 5_000), 2), contact(5)], null, t);
  run.requestLine({ contactId: 3, attemptNo: 2, dueAt: iso(now + 20_000) }); // only child 3 asked so far
  const order: number[] = [];
  for (let attempt = 0; attempt < 4; attempt++) {
    const busy = [...run.inFlight.values()].find((f) => f.hasLine)!;
    run.finished({
      contactId: busy.contactId,
      attemptNo: busy.attemptNo,
      lastState: LastState.Busy,
      contactSuccessful: 2,
      placed: true,
      redialTime: null,
    });
    const { grants, starts } = run.nextMoves(t);
    order.push(...grants.map((g) => g.contactId), ...starts.map((s) => s.contact.id));
  }
  assert.deepEqual(
    order,
    [4, 2, 3, 5],
    'redial +5 s (cached), +10 s (child, not asked), +20 s (child), then the new contact',
  );
});

test('one order: a child held back by the window gets no line before the window opens', () => {
  const run = newRun({ ...settings, lines: 1 });
  run.addToCache([contact(1, iso(now - 60_000), 2)], null, now);
  run.nextMoves(now);
  run.returnLine(1, 2, { until: iso(now + 60_000), rule: 'window' });
  run.addToCache([contact(2)], null, now);
  assert.deepEqual(
    run.nextMoves(now).starts.map((s) => s.contact.id),
    [2],
  );
  run.finished({
    contactId: 2,
    attemptNo: 1,
    lastState: LastState.Busy,
    contactSuccessful: 2,
    placed: true,
    redialTime: null,
  });
  assert.deepEqual(run.nextMoves(now + 30_000).grants, [], 'window still closed');
  assert.deepEqual(
    run.nextMoves(now + 60_000).grants.map((g) => g.contactId),
    [1],
  );
});

test('one order: with every line busy nothing is granted, and the lines follow the agents', () => {
  const run = newRun({ ...settings, lines: 3 });
  run.addToCache([contact(1), contact(2), contact(3)], null, now, 1);
  assert.deepEqual(
    run.nextMoves(now).starts.map((s) => s.contact.id),
    [1],
    'one free agent',
  );
  run.addToCache([], null, now, 1);
  waitingChild(run, { ...contact(4, iso(now + 1000), 2) }, now, 1);
  assert.deepEqual(run.nextMoves(now + 2000), { grants: [], starts: [] }, 'the one agent is busy');
  run.addToCache([], null, now + 2000, 2);
  assert.deepEqual(
    run.nextMoves(now + 2000).grants.map((g) => g.contactId),
    [4],
    'a second agent: the due child before the new contacts',
  );
});

test('an idle open campaign looks at the database only at the idle interval; a change or a redial brings it back', () => {
  const run = newRun(settings);
  const idle = DEFAULT_CAMPAIGN_OPTIONS.idleRefillIntervalMs;
  run.startRefill(now);
  run.addToCache([], null, now);
  assert.equal(run.idle, true);
  assert.equal(run.nextRefillAt(), now + idle);
  run.startRefill(now);
  run.addToCache([], iso(now + 3_600_000), now);
  assert.equal(run.idle, false, 'a redial pending');
  assert.equal(run.nextRefillAt(), now + DEFAULT_CAMPAIGN_OPTIONS.refillIntervalMs);
  run.startRefill(now);
  run.addToCache([], null, now);
  run.changed = true;
  assert.ok(run.nextRefillAt() < now + 1000, 'a signal refills at once');
});

test('a change told while a look at the database runs makes the campaign look again', () => {
  const run = newRun(settings);
  run.startRefill(now);
  run.ask('refill'); // the CRM's row committed after the reservation's snapshot
  run.addToCache([], null, now);
  assert.equal(run.idle, false);
  assert.ok(run.nextRefillAt() < now + 1000);
});

test('a CRM redial: the cache moves, a waiting child is rescheduled, a dialing one gets it after its call', () => {
  const run = newRun({ ...settings, lines: 1 });
  run.addToCache([contact(1), contact(2)], null, now);
  run.nextMoves(now); // 1 dialing, 2 cached
  waitingChild(run, contact(3, iso(now + 60_000), 2), now);
  const at = iso(now + 600_000);
  assert.equal(run.routeRedial({ contactId: 2, at }, now), 'cached');
  assert.equal(run.cache.find((c) => c.id === 2)?.redialAt, at);
  assert.equal(run.routeRedial({ contactId: 3, at }, now), 'child');
  assert.equal(run.inFlight.get(3)?.dueAt, at, 'the campaign knows the new time');
  assert.equal(run.routeRedial({ contactId: 1, at }, now), 'child');
  assert.equal(run.routeRedial({ contactId: 9, at }, now), 'row');
  assert.equal(run.idle, false);
  const ended = {
    lastState: LastState.AgentHangUp,
    contactSuccessful: 1 as const,
    placed: true,
    redialTime: null,
  };
  assert.deepEqual(
    run.finished({ contactId: 1, attemptNo: 1, ...ended }),
    { contactId: 1, at },
    'written after the call',
  );
  // a child that took the new time itself dials it: nothing is written after it
  run.routeRedial({ contactId: 3, at }, now);
  run.inFlight.get(3)!.hasLine = true;
  run.routeRedial({ contactId: 3, at }, now);
  assert.equal(run.finished({ contactId: 3, attemptNo: 2, ...ended, honouredReschedule: at }), undefined);
  const carried = newRun(settings, run.carry());
  assert.equal(carried.redialsAfterCall.size, 0);
});

test('the status view shows a pause or a stop as soon as it is asked for', () => {
  const run = newRun(settings);
  assert.equal(run.view('running').status, 'running');
  run.paused = true;
  assert.equal(run.view('running').status, 'paused');
  run.paused = false;
  assert.equal(run.view('paused').status, 'running', 'resumed');
  run.stopping = true;
  assert.equal(run.view('running').status, 'stopping');
  assert.equal(run.view('stopped').status, 'stopped');
});

test('one order: a child whose start is still on its way gets no line until it runs (a grant to it would be lost)', async () => {
  const run = newRun({ ...settings, lines: 1 });
  waitingChild(run, contact(7, iso(now + 1000), 2), now);
  let started!: () => void;
  run.track(new Promise((ok) => (started = () => ok(true))), { contact: contact(7), lineGranted: false });
  assert.deepEqual(run.nextMoves(now + 2000).grants, [], 'not started yet');
  assert.equal(run.inFlight.get(7)?.hasLine, false, 'no line counted for it');
  started();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    run.nextMoves(now + 2000).grants.map((g) => g.contactId),
    [7],
  );
});
