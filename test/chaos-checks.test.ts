/**
 * The checks the chaos run ends with must catch each violation they name: a consistent record
 * passes, and each invariant, broken on purpose, is reported for the right contact.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  type AttemptRecord,
  checkRun,
  type Invariant,
  INVARIANTS,
  type RunRecords,
  summarise,
} from '../chaos/checks';
import { ENGINE_FAULT_KINDS, FAULT_KINDS, planFaults, Rng, shareNumbers } from '../chaos/plan';
import type { SimCall } from '../simulator';
import { LastState } from '../domain/contract';

const t = (s: number) => new Date(Date.UTC(2026, 10, 26, 12, 0, s));

function call(
  sid: string,
  to: string,
  from: number,
  to_: number,
  status: SimCall['status'],
  extra: Partial<SimCall> = {},
) {
  return {
    sid,
    to,
    from: '+15005550006',
    status,
    createdAt: t(from).toISOString(),
    endedAt: t(to_).toISOString(),
    legs: [],
    ...extra,
  } as unknown as SimCall;
}

function attempt(contactId: number, attemptNo: number, a: Partial<AttemptRecord>): AttemptRecord {
  return {
    contactId,
    attemptNo,
    phoneNumber: '',
    callSid: null,
    placed: false,
    dueAt: null,
    createdAt: t(0),
    createRequestedAt: null,
    recordedAt: t(59),
    lastState: null,
    facts: null,
    ...a,
  };
}

/**
 * Contact 1: busy, then answered (Successful). Contact 2: a banned number (Banned, never sent).
 * Contact 3: a create Twilio refused as an invalid number (WrongNumber).
 */
function consistent(): RunRecords {
  return {
    maxAttempts: 3,
    finalStates: [LastState.WrongNumber, LastState.Banned],
    contacts: [
      {
        id: 1,
        phoneNumber: '+15000000001',
        contactSuccessful: 1,
        lastState: 0,
        redialTime: null,
        numberOfContacts: 2,
      },
      {
        id: 2,
        phoneNumber: '+15000000002',
        contactSuccessful: -1,
        lastState: 1000,
        redialTime: null,
        numberOfContacts: 0,
      },
      {
        id: 3,
        phoneNumber: '+15000000003',
        contactSuccessful: -1,
        lastState: 4,
        redialTime: null,
        numberOfContacts: 0,
      },
    ],
    attempts: [
      attempt(1, 1, {
        phoneNumber: '+15000000001',
        callSid: 'CA1',
        placed: true,
        createdAt: t(1),
        createRequestedAt: t(1),
        lastState: LastState.Busy,
      }),
      attempt(1, 2, {
        phoneNumber: '+15000000001',
        callSid: 'CA2',
        placed: true,
        dueAt: t(10),
        createdAt: t(9),
        createRequestedAt: t(10),
        lastState: LastState.Connected,
      }),
      attempt(2, 1, { phoneNumber: '+15000000002', lastState: LastState.Banned, facts: { banned: true } }),
      attempt(3, 1, {
        phoneNumber: '+15000000003',
        createRequestedAt: t(2),
        lastState: LastState.WrongNumber,
        facts: { createError: { code: 21211, status: 400, message: 'invalid' } },
      }),
    ],
    calls: [
      call('CA1', '+15000000001', 1, 3, 'busy', { sipResponseCode: 486 } as Partial<SimCall>),
      call('CA2', '+15000000001', 10, 20, 'completed'),
    ],
    rejections: [
      {
        at: t(2).toISOString(),
        to: '+15000000003',
        from: '+15005550006',
        code: 21211,
        httpStatus: 400,
        message: 'invalid',
      },
    ],
    banned: new Set(['+15000000002']),
    resets: new Map(),
  };
}

/** Contact 5 has contact 1's number (+15000000001) and one call to it, from `from` to `to` s. */
function shareNumberWithContact1(r: RunRecords, from: number, to: number): void {
  r.contacts.push({
    id: 5,
    phoneNumber: '+15000000001',
    contactSuccessful: 1,
    lastState: 0,
    redialTime: null,
    numberOfContacts: 1,
  });
  r.attempts.push(
    attempt(5, 1, {
      phoneNumber: '+15000000001',
      callSid: 'CA5',
      placed: true,
      createdAt: t(from),
      createRequestedAt: t(from),
      lastState: LastState.Connected,
    }),
  );
  r.calls.push(call('CA5', '+15000000001', from, to, 'completed'));
}

describe('chaos checks', () => {
  test('a consistent record holds every invariant', () => {
    assert.deepEqual(checkRun(consistent()), []);
  });

  const breaks: [Invariant, (r: RunRecords) => void, number][] = [
    ['left-at-3', (r) => (r.contacts[0]!.contactSuccessful = 3), 1],
    ['state-allowed', (r) => (r.contacts[0]!.lastState = LastState.Busy), 1],
    [
      'lost',
      (r) => Object.assign(r.contacts[0]!, { contactSuccessful: 2, lastState: 1, redialTime: t(30) }),
      1,
    ],
    ['attempt-unrecorded', (r) => (r.attempts[1]!.recordedAt = null), 1],
    ['attempts-counted', (r) => (r.contacts[0]!.numberOfContacts = 3), 1],
    ['calls-match-attempts', (r) => r.calls.splice(1, 1), 1],
    ['two-calls-one-attempt', (r) => r.calls.push(call('CA9', '+15000000001', 21, 25, 'completed')), 1],
    ['overlapping-calls', (r) => (r.calls[0]!.endedAt = t(12).toISOString()), 1],
    ['number-overlap', (r) => shareNumberWithContact1(r, 2, 12), 5],
    ['banned-called', (r) => r.rejections.push({ ...r.rejections[0]!, to: '+15000000002' }), 2],
    ['over-max-attempts', (r) => (r.maxAttempts = 1), 1],
    ['early-redial', (r) => (r.attempts[1]!.createRequestedAt = t(9)), 1],
    ['outcome-mismatch', (r) => (r.attempts[0]!.lastState = LastState.AlertingTimeout), 1],
    [
      'api-retry-written-twice',
      (r) => {
        r.retriedPosts = [{ numbers: ['+15000000003'], status: 201 }];
        r.contacts.push({ ...r.contacts[2]!, id: 6 }); // the retry wrote the row again
      },
      3,
    ],
  ];
  for (const [invariant, breakIt, contactId] of breaks) {
    test(`${invariant}: ${INVARIANTS[invariant]} — a broken record is caught`, () => {
      const r = consistent();
      breakIt(r);
      const { counts, contacts } = summarise(checkRun(r));
      assert.ok(counts[invariant] > 0, `${invariant} not reported: ${JSON.stringify(counts)}`);
      assert.ok(contacts[invariant]?.includes(contactId), `contact ${contactId} named`);
    });
  }

  test('a reset starts the count again: attempts before it do not count against the row', () => {
    const r = consistent();
    r.contacts[0]!.numberOfContacts = 1;
    r.resets.set(1, [t(5)]);
    assert.deepEqual(checkRun(r), []);
  });

  test('a call decided from a fetch (every callback lost) may lack its SIP code: allowed and counted', () => {
    const r = consistent();
    r.calls.push(call('CA3', '+15000000004', 30, 31, 'failed', { sipResponseCode: 480 } as Partial<SimCall>));
    r.contacts.push({
      id: 4,
      phoneNumber: '+15000000004',
      contactSuccessful: 2,
      lastState: 9,
      redialTime: t(40),
      numberOfContacts: 1,
    });
    r.maxAttempts = 1; // contact 4 is done
    r.contacts[0]!.numberOfContacts = 2;
    const fetched = attempt(4, 1, {
      phoneNumber: '+15000000004',
      callSid: 'CA3',
      placed: true,
      createdAt: t(30),
      lastState: LastState.ErrorOccurred,
      facts: { callSid: 'CA3', callStatus: 'failed' },
    });
    r.attempts.push(fetched);
    const seen = { decidedWithoutSipCode: [] as number[] };
    const outcome = checkRun(r, seen).filter((v) => v.invariant === 'outcome-mismatch');
    assert.deepEqual(outcome, []);
    assert.deepEqual(seen.decidedWithoutSipCode, [4]);
    // with the SIP code in hand, ErrorOccurred is wrong (480 is Unreachable)
    fetched.facts = { callSid: 'CA3', callStatus: 'failed', sipResponseCode: 480 };
    assert.equal(checkRun(r).filter((v) => v.invariant === 'outcome-mismatch').length, 1);
  });

  test('one number on two contacts: calls are matched per number; between the other’s calls is allowed', () => {
    const r = consistent();
    shareNumberWithContact1(r, 4, 8); // contact 1's calls: 1–3 and 10–20
    assert.deepEqual(checkRun(r), [], 'contact 5 called while nobody else called the number');
    r.calls.pop();
    assert.ok(checkRun(r).some((v) => v.invariant === 'calls-match-attempts' && v.contactId === 5));
  });

  test('number-overlap: a call to a shared number while another contact’s call to it is live', () => {
    for (const [from, to, overlaps] of [
      [2, 4, true], // starts in 1–3
      [9, 11, true], // still live when 10–20 starts
      [3, 10, false], // from the end of one to the start of the next
    ] as const) {
      const r = consistent();
      shareNumberWithContact1(r, from, to);
      const found = checkRun(r).filter((v) => v.invariant === 'number-overlap');
      assert.equal(found.length, overlaps ? 1 : 0, `${from}–${to}: ${JSON.stringify(found)}`);
    }
    // a call that ends for nobody (no endedAt) holds the number until the end of the run
    const r = consistent();
    shareNumberWithContact1(r, 30, 31);
    r.calls[1]!.endedAt = null;
    assert.deepEqual(
      checkRun(r).map((v) => [v.invariant, v.contactId]),
      [['number-overlap', 5]],
    );
  });

  test('a POST retried with its Idempotency-Key: one row per number and a 201 hold; anything else is caught', () => {
    const r = consistent();
    r.retriedPosts = [{ numbers: ['+15000000001', '+15000000003'], status: 201 }];
    assert.deepEqual(checkRun(r), []);
    r.retriedPosts.push({ numbers: [], status: 409 });
    assert.deepEqual(
      checkRun(r).map((v) => [v.invariant, v.contactId]),
      [['api-retry-written-twice', null]],
      'a retry that never got its answer',
    );
  });

  test('the run gives some contacts another’s number, never a banned or unparsable one', () => {
    const make = () =>
      Array.from({ length: 200 }, (_, i) => ({
        phone: i % 50 === 0 ? `00-${i}` : `+1500${String(i).padStart(7, '0')}`,
        banned: i % 20 === 1,
      }));
    const contacts = make();
    const shared = shareNumbers(new Rng(7), contacts, 0.05);
    assert.ok(shared >= 5 && shared <= 10, `${shared} shared`);
    const counts = new Map<string, number>();
    for (const c of contacts) counts.set(c.phone, (counts.get(c.phone) ?? 0) + 1);
    assert.ok([...counts.values()].filter((n) => n > 1).length >= 1, 'some numbers are on several contacts');
    for (const c of contacts.filter((x) => x.banned || !x.phone.startsWith('+')))
      assert.equal(counts.get(c.phone), 1, `${c.phone} stays its own`);
    const again = make();
    shareNumbers(new Rng(7), again, 0.05);
    assert.deepEqual(again, contacts, 'the same seed shares the same numbers');
  });

  test('the same seed gives the same fault schedule, with an equal share of each kind', () => {
    const a = planFaults(new Rng(42), 10 * FAULT_KINDS.length, 1000, 2);
    assert.deepEqual(planFaults(new Rng(42), 10 * FAULT_KINDS.length, 1000, 2), a);
    assert.notDeepEqual(planFaults(new Rng(43), 10 * FAULT_KINDS.length, 1000, 2), a);
    for (const kind of FAULT_KINDS) assert.equal(a.filter((f) => f.kind === kind).length, 10, kind);
    assert.ok(
      a.every((f, i) => i === 0 || f.atMs > a[i - 1]!.atMs),
      'in time order',
    );
  });

  test('the dev engine keeps the schedule a seed gave before the postgres engine existed', () => {
    // sha256 of the schedule's JSON, recorded before the postgres kinds were added
    const digest = (seed: number, n: number) =>
      createHash('sha256')
        .update(JSON.stringify(planFaults(new Rng(seed), n, 1500, 2)))
        .digest('hex');
    assert.equal(digest(42, 70), '37f345a781a9030bbc430d73bce1afead8ad788db464d395a133d5febc6be8f7');
    assert.equal(digest(1, 100), 'be56756a7998ebfb760a0da9dddbd233a554724670add95651de59096ddf19d6');
    assert.deepEqual(
      planFaults(new Rng(1), 100, 1500, 2, ENGINE_FAULT_KINDS.dev),
      planFaults(new Rng(1), 100, 1500, 2),
    );
  });

  test('the postgres engine gives an equal share of each of its kinds, its own among them', () => {
    const kinds = ENGINE_FAULT_KINDS.postgres;
    assert.ok(kinds.includes('temporal-kill') && kinds.includes('temporal-db-cut'));
    assert.ok(!FAULT_KINDS.includes('temporal-kill') && !FAULT_KINDS.includes('temporal-db-cut'));
    const a = planFaults(new Rng(42), 4 * kinds.length, 1000, 2, kinds);
    for (const kind of kinds) assert.equal(a.filter((f) => f.kind === kind).length, 4, kind);
    for (const f of a.filter((x) => x.kind === 'temporal-kill' || x.kind === 'temporal-db-cut'))
      assert.ok(f.durationMs !== undefined && f.durationMs >= 500 && f.durationMs <= 5000, `${f.kind} lasts`);
  });
});
