/**
 * telephony.md §1.3: the webhook server believes only requests signed with our auth token. A
 * forged status callback must be refused with 403 and reach no workflow; a signed callback for a
 * call no workflow waits for is refused or absorbed and changes nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import twilio from 'twilio';
import { SIMULATOR_AUTH_TOKEN } from '../infra/config';
import { campaignWorkflowId, contactStatusQuery, contactWorkflowId } from '../workflows/shared';
import {
  type Stack,
  eventually,
  insertContacts,
  runCli,
  startStack,
  testPhone,
  uid,
  createCampaign,
} from '../harness/stack';

describe('Twilio webhook signatures', { timeout: 120_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ timeScale: 0.05 });
  });
  after(async () => stack?.stop());

  test('unsigned, wrongly signed, tampered, replayed and oversized callbacks are refused or ignored and change nothing', async () => {
    const name = uid('sig');
    const phone = testPhone();
    // a call that stays live for 30 s (600 s at time scale 0.05)
    stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 600 } });
    await createCampaign(stack.env, name);
    const [id] = await insertContacts(stack.db, name, [phone]);
    assert.equal((await runCli(['campaign', 'start', name, '--until-empty'], stack.env)).code, 0);

    const contact = stack.client.workflow.getHandle(contactWorkflowId(name, id!));
    const before = await eventually(
      async () => {
        const v = await contact.query(contactStatusQuery);
        if (v.phase !== 'ringing' || !v.callSid) return undefined;
        return stack.sim.call(v.callSid)?.status === 'in-progress' ? v : undefined;
      },
      20_000,
      'the call to be live',
    );

    const path = `/twilio/status?wf=${encodeURIComponent(contactWorkflowId(name, id!))}&campaign=${encodeURIComponent(name)}&attempt=1`;
    const url = stack.serverUrl + path;
    const params = {
      CallSid: before.callSid!,
      CallStatus: 'completed',
      SequenceNumber: '99',
      SipResponseCode: '200',
      CallDuration: '1',
    };
    const post = (headers: Record<string, string>, body: Record<string, string> = params) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams(body).toString(),
      });

    const unsigned = await post({});
    assert.equal(unsigned.status, 403);
    const wrongKey = await post({
      'x-twilio-signature': twilio.getExpectedTwilioSignature('not-our-token', url, params),
    });
    assert.equal(wrongKey.status, 403);
    // signed for other parameters: someone changed the status after Twilio signed it
    const signedBusy = twilio.getExpectedTwilioSignature(SIMULATOR_AUTH_TOKEN, url, {
      ...params,
      CallStatus: 'busy',
    });
    const tampered = await post({ 'x-twilio-signature': signedBusy });
    assert.equal(tampered.status, 403);
    const garbage = await post({ 'x-twilio-signature': 'abc' });
    assert.equal(garbage.status, 403);
    // a signature Twilio made for another URL (another attempt's callback), replayed here
    const otherUrl = twilio.getExpectedTwilioSignature(
      SIMULATOR_AUTH_TOKEN,
      url.replace('attempt=1', 'attempt=2'),
      params,
    );
    assert.equal((await post({ 'x-twilio-signature': otherUrl })).status, 403);
    // a genuine callback of another call, sent to this call's URL: signed, but not this call's
    const otherCall = { ...params, CallSid: `CA${'0'.repeat(32)}` };
    const replayed = await post(
      { 'x-twilio-signature': twilio.getExpectedTwilioSignature(SIMULATOR_AUTH_TOKEN, url, otherCall) },
      otherCall,
    );
    assert.ok(replayed.status < 500, `a callback of another call is answered (${replayed.status})`);
    // an oversized body is refused before anything reads it
    const huge = await post(
      { 'x-twilio-signature': 'abc' },
      { ...params, Padding: 'x'.repeat(2 * 1024 * 1024) },
    );
    assert.equal(huge.status, 413);

    const afterForged = await contact.query(contactStatusQuery);
    assert.equal(afterForged.callbacks, before.callbacks, 'no forged callback reached the workflow');
    assert.equal(afterForged.phase, 'ringing');
    const [attempt] = await stack.db.sql<{ recorded_at: Date | null; last_state: number | null }[]>`
      select recorded_at, last_state from call_attempts where contact_id = ${id!}`;
    assert.equal(attempt?.recorded_at, null, 'the attempt is not recorded');
    const [row] = await stack.db.sql<
      { contact_successful: number }[]
    >`select contact_successful from contacts where id = ${id!}`;
    assert.equal(row?.contact_successful, 3, 'the contact is still in the cache');

    // The same request, correctly signed, is taken: the check above could have failed.
    const signed = await post({
      'x-twilio-signature': twilio.getExpectedTwilioSignature(SIMULATOR_AUTH_TOKEN, url, params),
    });
    assert.equal(signed.status, 204);
    const result = await contact.result();
    assert.equal(result.lastState, 0);
    await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();
  });

  test('signed callbacks for unknown or finished calls start nothing, claim no agent and change nothing', async () => {
    const name = uid('unk');
    const phone = testPhone();
    stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 } });
    await createCampaign(stack.env, name);
    const [id] = await insertContacts(stack.db, name, [phone]);
    assert.equal((await runCli(['campaign', 'start', name, '--until-empty'], stack.env)).code, 0);
    await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();
    const finishedWf = contactWorkflowId(name, id!);
    // an agent of the campaign who is free, and one on another call
    const [free, busy] = [uid('client:free'), uid('client:busy')];
    for (const endpoint of [free, busy]) {
      const r = await runCli(
        ['agents', 'add', endpoint, '--campaign', name, '--status', 'available'],
        stack.env,
      );
      assert.equal(r.code, 0, r.stderr);
    }
    await stack.db.sql`update agents set status = 'on-call', current_call_sid = ${'CA' + 'b'.repeat(32)}
      where endpoint = ${busy}`;

    const snapshot = async () => ({
      contact: await stack.db.sql`select * from contacts where id = ${id!}`,
      attempts: await stack.db.sql`select * from call_attempts where contact_id = ${id!} order by attempt_no`,
      agents: await stack.db.sql`select * from agents where campaign_name = ${name} order by id`,
    });
    const before = await snapshot();
    const unknownSid = `CA${'a'.repeat(32)}`;
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
      return { status: res.status, body: await res.text() };
    };
    const q = (wf: string) => `wf=${encodeURIComponent(wf)}&campaign=${encodeURIComponent(name)}&attempt=1`;
    const neverStarted = `${finishedWf}-never`;
    const completed = {
      CallSid: unknownSid,
      CallStatus: 'completed',
      SequenceNumber: '3',
      CallDuration: '5',
    };

    // status callbacks: for a workflow that never existed, for one that has finished, without one
    assert.equal((await post(`/twilio/status?${q(neverStarted)}`, completed)).status, 404);
    assert.equal((await post(`/twilio/status?${q(finishedWf)}`, completed)).status, 404);
    assert.equal((await post(`/twilio/status?campaign=${name}`, completed)).status, 400);
    // a person answered an unknown call: they hear the message, no agent is claimed for it
    const answer = await post(`/twilio/answer?${q(neverStarted)}`, {
      CallSid: unknownSid,
      CallStatus: 'in-progress',
    });
    assert.equal(answer.status, 200);
    assert.match(answer.body, /<Say>/);
    assert.doesNotMatch(answer.body, /<Dial/, 'no agent is dialed for an unknown call');
    // the <Dial> of an unknown call ended, naming agents: none of them is put into wrap-up
    for (const agent of before.agents) {
      const action = await post(`/twilio/dial-action?${q(finishedWf)}&agent=${String(agent.id)}`, {
        CallSid: unknownSid,
        CallStatus: 'completed',
        DialCallStatus: 'completed',
      });
      assert.equal(action.status, 200);
    }

    await assert.rejects(stack.client.workflow.getHandle(neverStarted).describe(), /not found/i);
    assert.deepEqual(await snapshot(), before, 'contact, attempts and agents are unchanged');
  });
});
