/**
 * Property-based tests (fast-check) of the pure rules: the outcome mapping is total and its
 * first matching row wins (telephony.md §2); the callback tracker reaches the same facts for any
 * order or duplication of a call's callbacks (§1.3); the retry rules (§7) never redial a contact
 * out of attempts or in a final state.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { CallStatusTracker } from '../workflows/call-status-tracker';
import { mapOutcome, nextContactState } from '../domain/outcome';
import {
  type CallFacts,
  ContactSuccessful,
  LastState,
  type LastStateName,
  lastStateNames,
} from '../domain/contract';
import { type CallStatusEvent } from '../workflows/shared';

const STATUSES = [
  'queued',
  'initiated',
  'ringing',
  'in-progress',
  'completed',
  'busy',
  'no-answer',
  'failed',
  'canceled',
];
const SIP = [200, 403, 404, 408, 410, 415, 480, 484, 486, 487, 488, 502, 503, 600, 603, 604, 606];
const CREATE_CODES = [10004, 13227, 20003, 20429, 21211, 21214, 21215, 21216, 21217, 21610];

const facts: fc.Arbitrary<CallFacts> = fc.record(
  {
    unparsable: fc.boolean(),
    banned: fc.boolean(),
    createError: fc.record({
      code: fc.oneof(
        fc.constantFrom(...CREATE_CODES),
        fc.integer({ min: 0, max: 99_999 }),
        fc.constant(null),
      ),
      status: fc.oneof(fc.constantFrom(400, 429, 500), fc.constant(null)),
      message: fc.string(),
    }),
    callSid: fc.string(),
    callStatus: fc.oneof(fc.constantFrom(...STATUSES), fc.string()),
    sipResponseCode: fc.oneof(fc.constantFrom(...SIP), fc.integer({ min: 100, max: 699 })),
    answeredBy: fc.constantFrom(
      'human',
      'unknown',
      'fax',
      'machine_start',
      'machine_end_beep',
      'machine_end_other',
    ),
    dialCallStatus: fc.constantFrom('completed', 'answered', 'no-answer', 'busy', 'failed', 'canceled'),
    agentHungUpFirst: fc.boolean(),
    noAgentFree: fc.boolean(),
    agentStep: fc.boolean(),
    calleeLeftFirst: fc.boolean(),
    callDurationSeconds: fc.nat(),
    unresolved: fc.boolean(),
  },
  { requiredKeys: [] },
);

const VALUES = new Set<number>(Object.values(LastState));

describe('properties', () => {
  test('the outcome mapping is total: any facts give one of the LastStates, without throwing', () => {
    fc.assert(
      fc.property(facts, (f) => VALUES.has(mapOutcome(f))),
      { numRuns: 2000 },
    );
  });

  test('the first matching row wins: what is decided before the create beats everything after it', () => {
    fc.assert(
      fc.property(facts, (f) => {
        const got = mapOutcome(f);
        if (f.banned) return got === LastState.Banned; // row 1
        const code = f.createError?.code;
        if (f.createError && code != null && [21216, 21215, 13227].includes(code))
          return got === LastState.Banned; // row 2
        if (f.unparsable) return got === LastState.WrongNumber; // row 3
        if (f.createError && code != null && [21211, 21214, 21217].includes(code))
          return got === LastState.WrongNumber;
        if (f.createError && code != null && [20429, 10004].includes(code)) return got === LastState.NoLine; // row 4
        if (f.sipResponseCode === 503) return got === LastState.NoLine;
        if (f.createError || f.unresolved) return got === LastState.ErrorOccurred; // row 5
        if (f.sipResponseCode === 603 || f.sipResponseCode === 403) return got === LastState.Rejected; // row 6
        if (f.callStatus === 'busy') return got === LastState.Busy; // row 7
        return true;
      }),
      { numRuns: 3000 },
    );
  });

  test('a declined call is Rejected whatever status, AMD or agent facts come with it (row 6 before 7–20)', () => {
    fc.assert(
      fc.property(facts, fc.constantFrom(603, 403), (f, sip) => {
        const clean = { ...f, banned: false, unparsable: false, unresolved: false, sipResponseCode: sip };
        delete clean.createError;
        return mapOutcome(clean) === LastState.Rejected;
      }),
    );
  });

  // a call's callbacks as Twilio sends them: each with its sequence number, the last one final
  const callbacks = fc
    .record({
      sid: fc.constantFrom('CA1', 'CA2'),
      final: fc.constantFrom('completed', 'busy', 'no-answer', 'failed'),
      sip: fc.constantFrom(...SIP),
      answeredBy: fc.option(fc.constantFrom('human', 'machine_start', 'fax'), { nil: undefined }),
      duration: fc.nat({ max: 600 }),
      answered: fc.boolean(),
    })
    .map((c): CallStatusEvent[] => {
      const steps = ['initiated', 'ringing', ...(c.answered ? ['in-progress'] : [])];
      return [
        ...steps.map((s, i) => ({ callSid: c.sid, callStatus: s, sequenceNumber: i })),
        {
          callSid: c.sid,
          callStatus: c.final,
          sequenceNumber: steps.length,
          sipResponseCode: c.sip,
          callDurationSeconds: c.duration,
          ...(c.answeredBy ? { answeredBy: c.answeredBy } : {}),
        },
      ];
    });

  test('the callback tracker reaches the same facts for any order and duplication, and ignores other calls', () => {
    fc.assert(
      fc.property(
        callbacks.filter((cs) => cs[0]!.callSid === 'CA1'),
        callbacks.filter((cs) => cs[0]!.callSid === 'CA2'),
        fc.array(fc.nat(), { minLength: 1, maxLength: 12 }),
        fc.integer(),
        (mine, other, dupIdx, seed) => {
          const inOrder = new CallStatusTracker();
          inOrder.expect('CA1');
          for (const e of mine) inOrder.add(e);

          // duplicates of some of ours, the other call's callbacks, all shuffled
          const delivered = [...mine, ...dupIdx.map((i) => ({ ...mine[i % mine.length]! })), ...other];
          const shuffled = fc.sample(fc.shuffledSubarray(delivered, { minLength: delivered.length }), {
            seed,
            numRuns: 1,
          })[0]!;
          const messy = new CallStatusTracker();
          messy.expect('CA1');
          for (const e of shuffled) messy.add(e);

          assert.deepEqual(messy.final, inOrder.final);
          assert.equal(messy.count, mine.length, 'duplicates and other calls are not counted');
          assert.equal(messy.latestStatus, mine.at(-1)!.callStatus);
        },
      ),
    );
  });

  const rules = fc.record({
    defaultDelaySeconds: fc.integer({ min: 1, max: 86_400 }),
    delaySeconds: fc.dictionary(fc.constantFrom(...lastStateNames), fc.integer({ min: 1, max: 86_400 })),
    final: fc.subarray([...lastStateNames]),
  }) as fc.Arbitrary<{
    defaultDelaySeconds: number;
    delaySeconds: Partial<Record<LastStateName, number>>;
    final: LastStateName[];
  }>;

  test('retry rules: out of attempts or final → Unreachable; a redial only with a positive delay; success only on a conversation', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...lastStateNames),
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 10 }),
        rules,
        (name, after, max, r) => {
          const u = nextContactState(LastState[name], after, max, r);
          const conversation = name === 'Connected' || name === 'AgentHangUp';
          if (conversation)
            return u.contactSuccessful === ContactSuccessful.Successful && u.redialDelayMs === null;
          if (after >= max || r.final.includes(name) || name === 'WrongNumber' || name === 'Banned') {
            return u.contactSuccessful === ContactSuccessful.Unreachable && u.redialDelayMs === null;
          }
          const want = (r.delaySeconds[name] ?? r.defaultDelaySeconds) * 1000;
          return u.contactSuccessful === ContactSuccessful.NoSuccess && u.redialDelayMs === want && want > 0;
        },
      ),
      { numRuns: 2000 },
    );
  });
});
