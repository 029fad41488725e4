/**
 * telephony.md §2 row by row, and §7 of the contract: what a contact becomes after an attempt.
 * The mapping is a pure function of recorded facts, so each row is one line here.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mapOutcome, nextContactState, wasPlaced } from '../domain/outcome';
import { type CallFacts, DEFAULT_RETRY_RULES, LastState as S } from '../domain/contract';

const sid = { callSid: 'CA00000000000000000000000000000001' };
const rows: [string, CallFacts, number][] = [
  ['1 banned list', { banned: true }, S.Banned],
  ['2 create 21216', { createError: { code: 21216, status: 400, message: '' } }, S.Banned],
  ['2 create 21215', { createError: { code: 21215, status: 400, message: '' } }, S.Banned],
  ['2 create 13227', { createError: { code: 13227, status: 400, message: '' } }, S.Banned],
  ['3 unparsable', { unparsable: true }, S.WrongNumber],
  ['3 create 21211', { createError: { code: 21211, status: 400, message: '' } }, S.WrongNumber],
  ['3 create 21214', { createError: { code: 21214, status: 400, message: '' } }, S.WrongNumber],
  ['3 create 21217', { createError: { code: 21217, status: 400, message: '' } }, S.WrongNumber],
  ['4 create 20429', { createError: { code: 20429, status: 429, message: '' } }, S.NoLine],
  ['4 create 10004', { createError: { code: 10004, status: 400, message: '' } }, S.NoLine],
  ['4 SIP 503', { ...sid, callStatus: 'failed', sipResponseCode: 503 }, S.NoLine],
  ['5 other create error', { createError: { code: 20001, status: 400, message: '' } }, S.ErrorOccurred],
  ['5 unresolved', { ...sid, unresolved: true }, S.ErrorOccurred],
  ['6 SIP 603 reported busy', { ...sid, callStatus: 'busy', sipResponseCode: 603 }, S.Rejected],
  ['6 SIP 403', { ...sid, callStatus: 'failed', sipResponseCode: 403 }, S.Rejected],
  ['7 busy', { ...sid, callStatus: 'busy', sipResponseCode: 486 }, S.Busy],
  ['7 SIP 600', { ...sid, callStatus: 'failed', sipResponseCode: 600 }, S.Busy],
  ['8 SIP 404', { ...sid, callStatus: 'failed', sipResponseCode: 404 }, S.WrongNumber],
  ['8 SIP 484', { ...sid, callStatus: 'failed', sipResponseCode: 484 }, S.WrongNumber],
  ['9 SIP 480', { ...sid, callStatus: 'failed', sipResponseCode: 480 }, S.Unreachable],
  ['9 SIP 408', { ...sid, callStatus: 'failed', sipResponseCode: 408 }, S.Unreachable],
  ['10 SIP 488', { ...sid, callStatus: 'failed', sipResponseCode: 488 }, S.Incompatible],
  ['11 no-answer', { ...sid, callStatus: 'no-answer', sipResponseCode: 487 }, S.AlertingTimeout],
  ['11 no-answer without SIP', { ...sid, callStatus: 'no-answer' }, S.AlertingTimeout],
  ['12 other failed', { ...sid, callStatus: 'failed' }, S.ErrorOccurred],
  ['13 fax', { ...sid, callStatus: 'completed', answeredBy: 'fax' }, S.Fax],
  ['14 machine', { ...sid, callStatus: 'completed', answeredBy: 'machine_end_beep' }, S.AnsweringMachine],
  [
    '15 no agent free',
    { ...sid, callStatus: 'completed', answeredBy: 'human', noAgentFree: true },
    S.NoAgent,
  ],
  ['16 hung up before the agent', { ...sid, callStatus: 'completed', agentStep: true }, S.Abandoned],
  [
    '17 agent did not answer',
    { ...sid, callStatus: 'completed', agentStep: true, dialCallStatus: 'no-answer' },
    S.TransferTimeout,
  ],
  [
    '18 agent busy',
    { ...sid, callStatus: 'completed', agentStep: true, dialCallStatus: 'busy' },
    S.AgentTransfer,
  ],
  [
    '19 agent hung up first',
    { ...sid, callStatus: 'completed', agentStep: true, dialCallStatus: 'completed', agentHungUpFirst: true },
    S.AgentHangUp,
  ],
  [
    '20 bridged, callee ended',
    { ...sid, callStatus: 'completed', agentStep: true, dialCallStatus: 'completed' },
    S.Connected,
  ],
  ['20 no agent step, completed', { ...sid, callStatus: 'completed', answeredBy: 'unknown' }, S.Connected],
];

for (const [row, facts, want] of rows) {
  test(`mapping row ${row}`, () => assert.equal(mapOutcome(facts), want));
}

test('only calls that reached Twilio count as placed', () => {
  assert.equal(wasPlaced({ banned: true }), false);
  assert.equal(wasPlaced({ unparsable: true }), false);
  assert.equal(wasPlaced({ createError: { code: 21211, status: 400, message: '' } }), false);
  assert.equal(wasPlaced({ ...sid, callStatus: 'busy' }), true);
});

test('§7: Connected and AgentHangUp are Successful with no redial', () => {
  for (const s of [S.Connected, S.AgentHangUp]) {
    assert.deepEqual(nextContactState(s, 1, 3, DEFAULT_RETRY_RULES), {
      contactSuccessful: 1,
      redialDelayMs: null,
    });
  }
});

test('§7: WrongNumber, Banned, the campaign’s final states and the last attempt are Unreachable', () => {
  assert.equal(nextContactState(S.WrongNumber, 1, 3, DEFAULT_RETRY_RULES).contactSuccessful, -1);
  assert.equal(nextContactState(S.Banned, 0, 3, DEFAULT_RETRY_RULES).contactSuccessful, -1);
  assert.equal(
    nextContactState(S.Fax, 1, 3, DEFAULT_RETRY_RULES).contactSuccessful,
    2,
    'Fax is not final by default',
  );
  assert.equal(
    nextContactState(S.Fax, 1, 3, { ...DEFAULT_RETRY_RULES, final: ['Fax'] }).contactSuccessful,
    -1,
  );
  assert.deepEqual(nextContactState(S.Busy, 3, 3, DEFAULT_RETRY_RULES), {
    contactSuccessful: -1,
    redialDelayMs: null,
  });
});

test('§7: otherwise NoSuccess, redialed after the delay for that LastState', () => {
  const minutes = (s: (typeof S)[keyof typeof S]) =>
    nextContactState(s, 1, 3, DEFAULT_RETRY_RULES).redialDelayMs! / 60_000;
  assert.equal(minutes(S.Busy), 5);
  assert.equal(minutes(S.AlertingTimeout), 30);
  assert.equal(minutes(S.AnsweringMachine), 120);
  assert.equal(minutes(S.NoAgent), 60);
  assert.equal(minutes(S.Abandoned), 60);
  assert.equal(minutes(S.Unreachable), 15);
  assert.equal(nextContactState(S.Busy, 1, 3, DEFAULT_RETRY_RULES).contactSuccessful, 2);
});
