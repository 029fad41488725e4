/**
 * Callbacks absorbed once (telephony §1.3): Twilio's signatures carry no timestamp, so a signed callback
 * can be replayed. The webhook server passes a (CallSid, status, SequenceNumber) on to its
 * workflow once and absorbs repeats before any signal, and refuses a callback whose call is not
 * the one of the attempt its URL names: a contact workflow's history cannot be grown from outside.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import twilio from 'twilio';
import { SIMULATOR_AUTH_TOKEN } from '../infra/config';
import { LastState } from '../domain/contract';
import { contactStatusQuery, contactWorkflowId } from '../workflows/shared';
import {
  type Stack,
  createCampaign,
  eventually,
  insertContacts,
  runCli,
  startStack,
  testPhone,
  uid,
} from '../harness/stack';

describe('replayed Twilio callbacks', { timeout: 120_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ timeScale: 0.05 });
  });
  after(async () => stack?.stop());

  const post = async (path: string, params: Record<string, string>) => {
    const url = stack.serverUrl + path;
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': twilio.getExpectedTwilioSignature(SIMULATOR_AUTH_TOKEN, url, params),
      },
      body: new URLSearchParams(params).toString(),
    });
    return res.status;
  };

  test('one signed callback replayed 100 times reaches its workflow once; another call’s is refused', async () => {
    const name = uid('replay');
    // the call rings for 30 s (600 s at time scale 0.05): the simulator sends no final status meanwhile
    stack.sim.setScenario({ default: { outcome: 'no-answer', ringSeconds: 600 } });
    await createCampaign(stack.env, name, '--ring-timeout', '600');
    const [id] = await insertContacts(stack.db, name, [testPhone()]);
    assert.equal((await runCli(['campaign', 'start', name], stack.env)).code, 0);
    try {
      const wf = contactWorkflowId(name, id!);
      const contact = stack.client.workflow.getHandle(wf);
      const { callSid } = await eventually(
        async () => {
          const v = await contact.query(contactStatusQuery);
          return v.phase === 'ringing' && v.callSid ? v : undefined;
        },
        20_000,
        'the call to ring',
      );
      const path = `/twilio/status?wf=${encodeURIComponent(wf)}&campaign=${encodeURIComponent(name)}&attempt=1`;
      // another call's final status, signed, at this workflow's URL: refused, nothing signalled
      const other = {
        CallSid: `CA${'f'.repeat(32)}`,
        CallStatus: 'busy',
        SequenceNumber: '2',
        SipResponseCode: '486',
      };
      assert.equal(await post(path, other), 404);
      const busy = { CallSid: callSid!, CallStatus: 'busy', SequenceNumber: '2', SipResponseCode: '486' };
      const answers: number[] = [];
      for (let i = 0; i < 100; i++) answers.push(await post(path, busy));
      assert.deepEqual(
        [...new Set(answers)],
        [204],
        'every replay absorbed (a signal to the closed workflow would be 404)',
      );
      const result = await contact.result();
      assert.equal(result.lastState, LastState.Busy);
      const history = await contact.fetchHistory();
      const signals = history.events!.filter(
        (e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'callStatus',
      );
      assert.equal(signals.length, 1, 'the callback reached the workflow once');
    } finally {
      await runCli(['campaign', 'stop', name, '--wait'], stack.env);
    }
  });
});
