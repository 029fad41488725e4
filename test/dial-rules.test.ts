/**
 * The checks at the moment of dialing as a pure function (§5): the calling
 * window and the attempt caps, from a contact's earlier attempts to "dial now" or "not before".
 * Fixed instants; no database, no Temporal.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type DialRuleSettings, type PastAttempt, checkDial, dialRules } from '../domain/dial-rules';
import { isOpen } from '../domain/calling-window';

const at = (iso: string) => new Date(iso);
const HOUR = 3600_000;
const rules = (over: Partial<DialRuleSettings> = {}) =>
  dialRules({
    callingWindow: 'daily 00:00-24:00',
    timeZone: null,
    maxAttemptsPerDay: null,
    maxAttemptsPer24h: null,
    minAttemptGapSeconds: null,
    abandonCooloff: false,
    ...over,
  });
const tried = (...isos: string[]): PastAttempt[] => isos.map((i) => ({ at: at(i), abandonedAt: null }));
const NY = ['America/New_York'];

describe('caps on a contact’s attempts', () => {
  test('no rules, no history: dial now', () => {
    assert.deepEqual(checkDial(rules(), NY, [], at('2026-07-01T15:00:00Z')), { dial: true });
  });

  test('per calendar day in the callee’s time: the next try is at local midnight', () => {
    // 2026-07-01 in New York (EDT, UTC-4): two attempts that day already
    const r = rules({ maxAttemptsPerDay: 2 });
    const history = tried('2026-07-01T13:00:00Z', '2026-07-01T17:00:00Z');
    const v = checkDial(r, NY, history, at('2026-07-01T20:00:00Z'));
    assert.equal(v.dial, false);
    assert.ok(!v.dial);
    assert.equal(v.rule, 'per-day');
    assert.deepEqual(v.until, at('2026-07-02T04:00:00Z'), 'midnight in New York');
    // one attempt on the day before (local) does not count: 03:00Z on 07-01 is 23:00 on 06-30 in New York
    const before = tried('2026-07-01T03:00:00Z', '2026-07-01T17:00:00Z');
    assert.deepEqual(checkDial(r, NY, before, at('2026-07-01T20:00:00Z')), { dial: true });
  });

  test('per calendar day over several zones: capped if the day is full in any of them', () => {
    const r = rules({ maxAttemptsPerDay: 1 });
    const zones = ['America/New_York', 'America/Los_Angeles'];
    const now = at('2026-07-01T05:30:00Z'); // 01:30 on 07-01 in New York, 22:30 on 06-30 in Los Angeles
    // an attempt at 04:30Z fell on 07-01 in New York: not before New York's next midnight
    const ny = checkDial(r, zones, tried('2026-07-01T04:30:00Z'), now);
    assert.ok(!ny.dial);
    assert.equal(ny.rule, 'per-day');
    assert.deepEqual(ny.until, at('2026-07-02T04:00:00Z'));
    // one at 20:00Z on 06-30 fell on 06-30 in both: Los Angeles' midnight (07:00Z) frees it
    const la = checkDial(r, zones, tried('2026-06-30T20:00:00Z'), now);
    assert.ok(!la.dial);
    assert.deepEqual(la.until, at('2026-07-01T07:00:00Z'));
  });

  test('per rolling 24 h: allowed again when the oldest counted attempt is 24 h old', () => {
    const r = rules({ maxAttemptsPer24h: 2 });
    const history = tried('2026-07-01T10:00:00Z', '2026-07-01T18:00:00Z');
    const v = checkDial(r, NY, history, at('2026-07-02T06:00:00Z'));
    assert.ok(!v.dial);
    assert.equal(v.rule, 'per-24h');
    assert.deepEqual(v.until, at('2026-07-02T10:00:00Z'));
    assert.deepEqual(checkDial(r, NY, history, at('2026-07-02T10:00:00Z')), { dial: true });
  });

  test('a minimum gap between two attempts', () => {
    const r = rules({ minAttemptGapSeconds: 4 * 3600 });
    const v = checkDial(r, NY, tried('2026-07-01T10:00:00Z'), at('2026-07-01T12:00:00Z'));
    assert.ok(!v.dial);
    assert.equal(v.rule, 'min-gap');
    assert.deepEqual(v.until, at('2026-07-01T14:00:00Z'));
  });

  test('no redial within 72 h of an abandoned call, when the campaign asks for it', () => {
    const history: PastAttempt[] = [
      { at: at('2026-07-01T10:00:00Z'), abandonedAt: at('2026-07-01T10:01:00Z') },
    ];
    const now = at('2026-07-02T10:00:00Z');
    assert.deepEqual(checkDial(rules(), NY, history, now), { dial: true }, 'off by default');
    const v = checkDial(rules({ abandonCooloff: true }), NY, history, now);
    assert.ok(!v.dial);
    assert.equal(v.rule, 'after-abandon');
    assert.deepEqual(v.until, new Date(at('2026-07-01T10:01:00Z').getTime() + 72 * HOUR));
  });
});

describe('window and caps together', () => {
  test('a cap that ends at midnight waits further for the window to open', () => {
    const r = rules({ callingWindow: 'daily 08:00-21:00', maxAttemptsPerDay: 1 });
    const v = checkDial(r, NY, tried('2026-07-01T14:00:00Z'), at('2026-07-01T20:00:00Z'));
    assert.ok(!v.dial);
    assert.equal(v.rule, 'per-day', 'the first rule that held it back is named');
    assert.deepEqual(v.until, at('2026-07-02T12:00:00Z'), '08:00 the next day in New York');
  });

  test('outside the window the reason names the local time and the zone', () => {
    const r = rules({ callingWindow: 'daily 08:00-21:00' });
    const v = checkDial(r, NY, [], at('2026-07-02T02:30:00Z'));
    assert.ok(!v.dial);
    assert.equal(v.rule, 'window');
    assert.match(v.reason, /Wed 22:30:00 in America\/New_York/);
    assert.deepEqual(v.until, at('2026-07-02T12:00:00Z'));
  });

  test('a number in several zones waits until the window is open in all of them', () => {
    const r = rules({ callingWindow: 'daily 08:00-21:00' });
    const zones = ['America/New_York', 'America/Los_Angeles'];
    const now = at('2026-07-01T13:00:00Z'); // 09:00 in New York, 06:00 in Los Angeles
    assert.ok(isOpen(r.window, ['America/New_York'], now));
    const v = checkDial(r, zones, [], now);
    assert.ok(!v.dial);
    assert.deepEqual(v.until, at('2026-07-01T15:00:00Z'), '08:00 in Los Angeles');
  });

  test('a window that never opens in all zones: no time to wait for', () => {
    // 10:00-11:00 in Tokyo and in New York never overlap
    const r = rules({ callingWindow: 'daily 10:00-11:00' });
    const v = checkDial(r, ['Asia/Tokyo', 'America/New_York'], [], at('2026-07-01T13:00:00Z'));
    assert.ok(!v.dial);
    assert.equal(v.until, null);
    assert.match(v.reason, /does not open in all of them within 14 days/);
  });

  test('no zone known: never dialed (the campaign’s --time-zone is the fix)', () => {
    const v = checkDial(rules(), [], [], at('2026-07-01T13:00:00Z'));
    assert.ok(!v.dial);
    assert.equal(v.until, null);
    assert.match(v.reason, /no time zone is known/);
  });
});
