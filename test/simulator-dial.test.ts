import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import pino from 'pino';
import twilio from 'twilio';
import { createTwilioClient, type TwilioClient } from '../infra/twilio';
import { startSimulator, type RunningSimulator, type Scenario } from '../simulator';
import {
  startWebhookRecorder,
  type RecordedRequest,
  type WebhookRecorder,
} from '../simulator/webhook-recorder';

// The answer TwiML the dialer serves, executed: <Dial> to an agent and its action request,
// which is how the dialer tells Connected, AgentHangUp, Abandoned, TransferTimeout and
// AgentTransfer apart (telephony.md §2 rows 15–20).

const ACCOUNT_SID = 'AC' + '00112233445566778899aabbccddeeff';
const AUTH_TOKEN = 'dial-test-token';
const FROM = '+15005550006';
const quiet = pino({ level: 'silent' });

const DIAL_AGENT = `<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Dial timeout="20" action="/dial-done"><Client>agent-7</Client></Dial>
  <Say>never reached: with an action, the action's TwiML replaces the rest</Say>
</Response>`;

describe('<Dial> to an agent', () => {
  let sim: RunningSimulator;
  let hooks: WebhookRecorder;
  let client: TwilioClient;

  before(async () => {
    hooks = await startWebhookRecorder();
    sim = await startSimulator({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      timeScale: 0.01,
      logger: quiet,
    });
    client = createTwilioClient({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, apiBaseUrl: sim.url });
  });
  after(async () => {
    await sim.close();
    await hooks.close();
  });
  beforeEach(() => {
    sim.reset();
    hooks.on('/answer', { twiml: DIAL_AGENT });
    hooks.on('/dial-done', { twiml: '<Response><Say>Sorry, nobody is free</Say><Hangup/></Response>' });
  });

  async function dialScenario(scenario: Scenario, to: string, answerPath = '/answer') {
    sim.setScenario(scenario);
    const call = await client.calls.create({
      to,
      from: FROM,
      url: `${hooks.url}${answerPath}`,
      statusCallback: `${hooks.url}/status`,
      statusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
    });
    await sim.waitForCall(call.sid);
    await sim.idle();
    const mine = (r: RecordedRequest) => r.params.CallSid === call.sid;
    const action = hooks.requests.find((r) => mine(r) && r.path === '/dial-done');
    const final = hooks.requests.find(
      (r) =>
        mine(r) &&
        r.path === '/status' &&
        r.params.CallStatus !== 'in-progress' &&
        r.params.SequenceNumber === '3',
    );
    const record = sim.call(call.sid);
    assert.ok(record);
    return { sid: call.sid, action, final, record };
  }

  test('agent answers, callee talks and hangs up: DialCallStatus completed, caller already gone', async () => {
    const { action, record } = await dialScenario(
      {
        default: { outcome: 'human', ringSeconds: 1, talkSeconds: 4 },
        agents: { 'client:agent-7': 'answer' },
      },
      '+15005550501',
    );
    assert.ok(action, 'the <Dial action> was requested');
    assert.equal(action.params.DialCallStatus, 'completed');
    assert.match(action.params.DialCallSid ?? '', /^CA[0-9a-f]{32}$/);
    assert.equal(action.params.DialCallDuration, '4');
    assert.equal(action.params.DialBridged, 'true');
    // The callee ended the bridged call (§2 row 20): the parent call is over.
    assert.equal(action.params.CallStatus, 'completed');
    assert.ok(action.signature);
    assert.equal(twilio.validateRequest(AUTH_TOKEN, action.signature, action.url, action.params), true);
    assert.equal(record.status, 'completed');
    assert.equal(record.endedBy, 'callee');
    // One second for the agent to pick up, four talking.
    assert.equal(record.durationSeconds, 5);
    assert.equal(record.legs.length, 1);
    assert.equal(record.legs[0]?.endpoint, 'client:agent-7');
    assert.equal(record.legs[0]?.sid, action.params.DialCallSid);
  });

  test('agent does not answer: DialCallStatus no-answer after the Dial timeout, and the action TwiML runs', async () => {
    const { action, record } = await dialScenario(
      { agents: { 'client:agent-7': 'no-answer' } },
      '+15005550502',
    );
    assert.equal(action?.params.DialCallStatus, 'no-answer');
    assert.equal(action?.params.DialCallDuration, '0');
    assert.equal(action?.params.DialBridged, 'false');
    assert.equal(action?.params.CallStatus, 'in-progress');
    assert.equal(record.events.find((e) => e.type === 'dial-ended')?.simSeconds, 1 + 20);
    // The action answered <Say>…<Hangup/>: that ends the call, not the callee.
    assert.equal(record.endedBy, 'twiml');
    assert.ok(record.events.some((e) => e.type === 'verb' && e.detail?.text === 'Sorry, nobody is free'));
    assert.ok(
      !record.events.some((e) => e.type === 'verb' && String(e.detail?.text).startsWith('never reached')),
    );
  });

  test('agent is busy: DialCallStatus busy', async () => {
    const { action, record } = await dialScenario({ agents: { default: 'busy' } }, '+15005550503');
    assert.equal(action?.params.DialCallStatus, 'busy');
    assert.equal(action?.params.CallStatus, 'in-progress');
    assert.equal(record.legs[0]?.dialCallStatus, 'busy');
  });

  test('agent-hangs-up outcome: bridged, the agent leaves first and the call goes on', async () => {
    const { action, record } = await dialScenario(
      { numbers: { '+15005550504': { outcome: 'agent-hangs-up', talkSeconds: 6 } } },
      '+15005550504',
    );
    assert.equal(action?.params.DialCallStatus, 'completed');
    assert.equal(action?.params.DialBridged, 'true');
    assert.equal(action?.params.DialCallDuration, '3');
    // The caller is still there (§2 row 19): the agent's leg ended first.
    assert.equal(action?.params.CallStatus, 'in-progress');
    assert.ok(record.events.some((e) => e.type === 'agent-hangup'));
    assert.equal(record.endedBy, 'twiml');
  });

  test('agent endpoint hangs-up-first behaves the same for a plain human', async () => {
    const { action } = await dialScenario({ agents: { 'client:agent-7': 'hangs-up-first' } }, '+15005550505');
    assert.equal(action?.params.DialCallStatus, 'completed');
    assert.equal(action?.params.CallStatus, 'in-progress');
    assert.equal(action?.params.DialCallDuration, '1');
  });

  test('human-hangs-up: the callee leaves while the agent rings; the Dial is canceled', async () => {
    const { action, record, final } = await dialScenario(
      { numbers: { '+15005550506': { outcome: 'human-hangs-up', talkSeconds: 3 } } },
      '+15005550506',
    );
    assert.equal(action?.params.DialCallStatus, 'canceled');
    assert.equal(action?.params.DialBridged, 'false');
    assert.equal(action?.params.CallStatus, 'completed');
    assert.equal(record.endedBy, 'callee');
    assert.ok(!record.events.some((e) => e.type === 'agent-answered'), 'no agent was connected (§2 row 16)');
    assert.equal(final?.params.CallStatus, 'completed');
    assert.equal(final?.params.CallDuration, '3');
  });

  test('a <Number> agent is looked up by its number; without action the next verb runs', async () => {
    hooks.on('/answer-number', {
      twiml:
        '<Response><Dial timeout="10"><Number>+15550009999</Number></Dial><Say>after the dial</Say></Response>',
    });
    const { record } = await dialScenario(
      { agents: { '+15550009999': 'busy', default: 'answer' } },
      '+15005550507',
      '/answer-number',
    );
    assert.equal(record.legs[0]?.endpoint, '+15550009999');
    assert.equal(record.legs[0]?.dialCallStatus, 'busy');
    assert.ok(record.events.some((e) => e.type === 'verb' && e.detail?.text === 'after the dial'));
    assert.equal(record.endedBy, 'twiml');
  });

  test('several endpoints ring at once; the one that answers is bridged', async () => {
    hooks.on('/answer-two', {
      twiml:
        '<Response><Dial action="/dial-done"><Client>agent-1</Client><Client><Identity>agent-2</Identity></Client></Dial></Response>',
    });
    const { action, record } = await dialScenario(
      { agents: { 'client:agent-1': 'no-answer', 'client:agent-2': 'answer' } },
      '+15005550508',
      '/answer-two',
    );
    assert.equal(action?.params.DialCallStatus, 'completed');
    assert.equal(record.legs[0]?.endpoint, 'client:agent-2');
  });
});

describe('TwiML execution and the hangup control endpoint', () => {
  let sim: RunningSimulator;
  let hooks: WebhookRecorder;
  let client: TwilioClient;

  before(async () => {
    hooks = await startWebhookRecorder();
    hooks.on('/long', { twiml: '<Response><Pause length="600"/></Response>' });
    hooks.on('/bridge-long', {
      twiml: '<Response><Dial timeout="30" action="/after"><Client>agent-7</Client></Dial></Response>',
    });
    hooks.on('/after', { twiml: '<Response><Say>the agent left</Say></Response>' });
    hooks.on('/error', { status: 500 });
    hooks.on('/garbage', { twiml: '<Response><Say>unclosed</Response>' });
    hooks.on('/redirect', { twiml: '<Response><Redirect>/long</Redirect></Response>' });
    sim = await startSimulator({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      timeScale: 0.01,
      scenario: { default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1000 } },
      logger: quiet,
    });
    client = createTwilioClient({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, apiBaseUrl: sim.url });
  });
  after(async () => {
    await sim.close();
    await hooks.close();
  });
  beforeEach(() => sim.reset());

  const hangup = (sid: string, side: 'callee' | 'agent') =>
    fetch(`${sim.url}/sim/calls/${sid}/hangup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ side }),
    });

  test('POST /sim/calls/{sid}/hangup {"side":"callee"} ends a live call now', async () => {
    const call = await client.calls.create({ to: '+15005550601', from: FROM, url: `${hooks.url}/long` });
    await sim.waitForCall(call.sid, ['in-progress']);
    const res = await hangup(call.sid, 'callee');
    assert.equal(res.status, 200);
    const body = (await res.json()) as { status: string; endedBy: string };
    assert.equal(body.status, 'completed');
    assert.equal(body.endedBy, 'callee');
    assert.equal((await client.calls(call.sid).fetch()).status, 'completed');
    assert.equal((await hangup(call.sid, 'callee')).status, 409, 'an ended call cannot be hung up again');
  });

  test('{"side":"agent"} ends the bridged agent leg; the caller stays and the action runs', async () => {
    const call = await client.calls.create({
      to: '+15005550602',
      from: FROM,
      url: `${hooks.url}/bridge-long`,
    });
    await sim.waitForCall(call.sid, ['in-progress']);
    await waitUntil(() => sim.call(call.sid)?.events.some((e) => e.type === 'agent-answered') ?? false);
    const res = await hangup(call.sid, 'agent');
    assert.equal(res.status, 200);
    const action = await hooks.waitFor((r) => r.params.CallSid === call.sid && r.path === '/after');
    assert.equal(action.params.DialCallStatus, 'completed');
    assert.equal(action.params.CallStatus, 'in-progress');
    await sim.waitForCall(call.sid);
    assert.equal(sim.call(call.sid)?.endedBy, 'twiml');
  });

  test('an answer URL that fails ends the call (Twilio error 11200)', async () => {
    const call = await client.calls.create({ to: '+15005550603', from: FROM, url: `${hooks.url}/error` });
    const record = await sim.waitForCall(call.sid);
    assert.equal(record.status, 'completed');
    assert.equal(record.endedBy, 'error');
    assert.equal(record.events.find((e) => e.type === 'webhook-error')?.detail?.code, 11200);
    assert.equal(record.callbacks.find((c) => c.kind === 'answer')?.httpStatus, 500);
  });

  test('TwiML that does not parse ends the call (Twilio error 12100)', async () => {
    const call = await client.calls.create({ to: '+15005550604', from: FROM, url: `${hooks.url}/garbage` });
    const record = await sim.waitForCall(call.sid);
    assert.equal(record.endedBy, 'error');
    assert.equal(record.events.find((e) => e.type === 'webhook-error')?.detail?.code, 12100);
  });

  test('<Redirect> fetches the next document relative to the current one', async () => {
    const call = await client.calls.create({ to: '+15005550605', from: FROM, url: `${hooks.url}/redirect` });
    await sim.waitForCall(call.sid, ['in-progress']);
    const redirected = await hooks.waitFor((r) => r.params.CallSid === call.sid && r.path === '/long');
    assert.equal(redirected.method, 'POST');
    await client.calls(call.sid).update({ status: 'completed' });
  });

  test('a <Redirect> loop is cut off instead of hammering the webhook', async () => {
    hooks.on('/loop', { twiml: '<Response><Redirect>/loop</Redirect></Response>' });
    const call = await client.calls.create({ to: '+15005550607', from: FROM, url: `${hooks.url}/loop` });
    const record = await sim.waitForCall(call.sid);
    assert.equal(record.endedBy, 'error');
    assert.match(
      String(record.events.find((e) => e.type === 'webhook-error')?.detail?.message),
      /Redirect> loop/,
    );
    assert.equal(hooks.requests.filter((r) => r.params.CallSid === call.sid).length, 200);
  });

  test('inline Twiml instead of a Url', async () => {
    const call = await client.calls.create({
      to: '+15005550606',
      from: FROM,
      twiml: '<Response><Say>Your appointment is tomorrow at nine sharp</Say></Response>',
    });
    const record = await sim.waitForCall(call.sid);
    assert.equal(record.status, 'completed');
    assert.equal(record.endedBy, 'twiml');
    // Seven words at two and a half words a second: 2.8 s, reported in whole seconds.
    assert.equal(record.durationSeconds, 3);
    assert.equal(record.callbacks.length, 0, 'nothing to request, no callback asked for');
  });
});

async function waitUntil(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
