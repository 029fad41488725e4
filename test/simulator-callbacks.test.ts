import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import pino from 'pino';
import twilio from 'twilio';
import { createTwilioClient, type TwilioClient } from '../infra/twilio';
import { startSimulator, type CallbackFaults, type RunningSimulator } from '../simulator';
import {
  startWebhookRecorder,
  type RecordedRequest,
  type WebhookRecorder,
} from '../simulator/webhook-recorder';

// What the dialer's webhook server receives: Twilio's status callbacks and answer requests,
// signed, with the CallStatus / SipResponseCode / AnsweredBy that telephony.md §2 maps.

const ACCOUNT_SID = 'AC' + 'abcdef0123456789'.repeat(2);
const AUTH_TOKEN = 'callbacks-test-token';
const FROM = '+15005550006';
const ALL_EVENTS = ['initiated', 'ringing', 'answered', 'completed'] as const;
const quiet = pino({ level: 'silent' });

interface Harness {
  sim: RunningSimulator;
  hooks: WebhookRecorder;
  client: TwilioClient;
  /** Every request the webhook receiver got for one call. */
  requests(sid: string): RecordedRequest[];
  close(): Promise<void>;
}

async function harness(callbacks?: CallbackFaults): Promise<Harness> {
  const hooks = await startWebhookRecorder();
  hooks.on('/answer', { twiml: '<Response><Say>This is a test call</Say><Hangup/></Response>' });
  const sim = await startSimulator({
    accountSid: ACCOUNT_SID,
    authToken: AUTH_TOKEN,
    timeScale: 0.01,
    callbacks,
    logger: quiet,
  });
  const client = createTwilioClient({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, apiBaseUrl: sim.url });
  return {
    sim,
    hooks,
    client,
    requests: (sid) => hooks.requests.filter((r) => r.params.CallSid === sid),
    async close() {
      await sim.close();
      await hooks.close();
    },
  };
}

type CreateExtras = Partial<Parameters<TwilioClient['calls']['create']>[0]>;

/** Places a call the way the dialer does (telephony.md §1 step 2) and waits until it is over. */
async function callAndWait(h: Harness, to: string, extra: CreateExtras = {}) {
  const call = await h.client.calls.create({
    to,
    from: FROM,
    url: `${h.hooks.url}/answer`,
    statusCallback: `${h.hooks.url}/status`,
    statusCallbackEvent: [...ALL_EVENTS],
    timeout: 30,
    ...extra,
  });
  await h.sim.waitForCall(call.sid);
  await h.sim.idle();
  const requests = h.requests(call.sid);
  const status = requests.filter((r) => r.path.startsWith('/status'));
  return { sid: call.sid, requests, status, final: status.find(isFinal) };
}

function isFinal(r: RecordedRequest): boolean {
  return ['completed', 'busy', 'no-answer', 'failed', 'canceled'].includes(r.params.CallStatus ?? '');
}

describe('status callbacks and outcomes', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(() => h.close());
  beforeEach(() => h.sim.reset());

  test('a person answers: initiated, ringing, in-progress, completed, in order, with Twilio parameters', async () => {
    const { sid, status } = await callAndWait(h, '+15005550301');
    assert.deepEqual(
      status.map((r) => r.params.CallStatus),
      ['initiated', 'ringing', 'in-progress', 'completed'],
    );
    assert.deepEqual(
      status.map((r) => r.params.SequenceNumber),
      ['0', '1', '2', '3'],
    );
    for (const r of status) {
      assert.equal(r.method, 'POST');
      assert.match(String(r.headers['content-type']), /application\/x-www-form-urlencoded/);
      assert.equal(r.params.CallSid, sid);
      assert.equal(r.params.AccountSid, ACCOUNT_SID);
      assert.equal(r.params.From, FROM);
      assert.equal(r.params.To, '+15005550301');
      assert.equal(r.params.ApiVersion, '2010-04-01');
      assert.equal(r.params.Direction, 'outbound-api');
      assert.equal(r.params.CallbackSource, 'call-progress-events');
      assert.match(r.params.Timestamp ?? '', /^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$/);
      assert.equal(r.params.AnsweredBy, undefined, 'no AnsweredBy without machine detection');
    }
    const completed = status[3];
    assert.ok(completed);
    assert.equal(completed.params.SipResponseCode, '200');
    // "This is a test call": a two-second <Say>, then <Hangup/>.
    assert.equal(completed.params.CallDuration, '2');
    assert.equal(completed.params.Duration, '1');
    assert.equal(status[0]?.params.SipResponseCode, undefined);
    assert.equal(h.sim.call(sid)?.endedBy, 'twiml');
  });

  test('every request carries an X-Twilio-Signature that validateRequest accepts, and only with the right token', async () => {
    const { requests } = await callAndWait(h, '+15005550302', { machineDetection: 'Enable' });
    assert.ok(requests.length >= 5, 'status callbacks and the answer request');
    for (const r of requests) {
      assert.ok(r.signature, `${r.path} is signed`);
      assert.equal(twilio.validateRequest(AUTH_TOKEN, r.signature, r.url, r.params), true, r.path);
      assert.equal(twilio.validateRequest('another-token', r.signature, r.url, r.params), false);
      const tampered = { ...r.params, CallStatus: 'completed', To: '+15005550399' };
      assert.equal(twilio.validateRequest(AUTH_TOKEN, r.signature, r.url, tampered), false);
    }
  });

  test('StatusCallbackMethod GET puts the parameters in the query and signs the full URL', async () => {
    const { status } = await callAndWait(h, '+15005550303', {
      statusCallback: `${h.hooks.url}/status?campaign=spring%20sale`,
      statusCallbackMethod: 'GET',
    });
    assert.equal(status.length, 4);
    for (const r of status) {
      assert.equal(r.method, 'GET');
      assert.equal(r.params.campaign, 'spring sale');
      assert.ok(r.signature);
      assert.equal(twilio.validateRequest(AUTH_TOKEN, r.signature, r.url, {}), true);
    }
  });

  test('only the completed event is sent when no StatusCallbackEvent is given, like Twilio', async () => {
    const call = await h.client.calls.create({
      to: '+15005550304',
      from: FROM,
      url: `${h.hooks.url}/answer`,
      statusCallback: `${h.hooks.url}/status`,
    });
    await h.sim.waitForCall(call.sid);
    await h.sim.idle();
    const status = h.hooks.requests.filter((r) => r.path === '/status' && r.params.CallSid === call.sid);
    assert.deepEqual(
      status.map((r) => [r.params.CallStatus, r.params.SequenceNumber]),
      [['completed', '0']],
    );
  });

  // Each row: the scenario outcome, then what Twilio reports for it (telephony.md §2).
  const outcomes: [string, string, string | undefined, string[]][] = [
    ['human', 'completed', '200', ['initiated', 'ringing', 'in-progress', 'completed']],
    ['busy', 'busy', '486', ['initiated', 'ringing', 'busy']],
    ['no-answer', 'no-answer', '487', ['initiated', 'ringing', 'no-answer']],
    ['reject', 'busy', '603', ['initiated', 'ringing', 'busy']],
    ['wrong-number', 'failed', '404', ['initiated', 'failed']],
    ['unreachable', 'failed', '480', ['initiated', 'failed']],
    ['incompatible', 'failed', '488', ['initiated', 'failed']],
    ['no-line', 'failed', '503', ['initiated', 'failed']],
    ['error', 'failed', undefined, ['initiated', 'failed']],
  ];
  for (const [outcome, finalStatus, sip, sequence] of outcomes) {
    test(`outcome ${outcome}: final CallStatus ${finalStatus}, SipResponseCode ${sip ?? 'none'}`, async () => {
      const to = '+15005550310';
      h.sim.setScenario({ numbers: { [to]: outcome } });
      const { sid, status, final } = await callAndWait(h, to);
      assert.deepEqual(
        status.map((r) => r.params.CallStatus),
        sequence,
      );
      assert.ok(final);
      assert.equal(final.params.CallStatus, finalStatus);
      assert.equal(final.params.SipResponseCode, sip);
      const fetched = await h.client.calls(sid).fetch();
      assert.equal(fetched.status, finalStatus);
      const answered = outcome === 'human';
      assert.equal(
        h.requests(sid).some((r) => r.path === '/answer'),
        answered,
        'the answer URL is requested only when someone picks up',
      );
      if (!answered) assert.equal(final.params.CallDuration, '0');
    });
  }

  test('no-answer rings for the whole Timeout', async () => {
    const to = '+15005550311';
    h.sim.setScenario({ numbers: { [to]: 'no-answer' } });
    const { sid } = await callAndWait(h, to, { timeout: 25 });
    const ended = h.sim.call(sid)?.events.find((e) => e.type === 'no-answer');
    assert.equal(ended?.simSeconds, 25);
  });

  test('Timeout shorter than ringSeconds: no-answer (487) after Timeout, never answered', async () => {
    const to = '+15005550312';
    h.sim.setScenario({ numbers: { [to]: { outcome: 'human', ringSeconds: 40 } } });
    const { sid, final } = await callAndWait(h, to, { timeout: 15 });
    assert.equal(final?.params.CallStatus, 'no-answer');
    assert.equal(final?.params.SipResponseCode, '487');
    const call = h.sim.call(sid);
    assert.equal(call?.answeredAt, undefined);
    assert.equal(call?.events.find((e) => e.type === 'no-answer')?.simSeconds, 15);
  });

  const detections: [string, 'Enable' | 'DetectMessageEnd', string][] = [
    ['human', 'Enable', 'human'],
    ['machine', 'Enable', 'machine_start'],
    ['machine', 'DetectMessageEnd', 'machine_end_beep'],
    ['fax', 'Enable', 'fax'],
    ['human-hangs-up', 'Enable', 'human'],
  ];
  for (const [outcome, mode, expected] of detections) {
    test(`machine detection ${mode}: ${outcome} is AnsweredBy=${expected} on the answer request`, async () => {
      const to = '+15005550313';
      h.sim.setScenario({ numbers: { [to]: outcome } });
      const { sid, final } = await callAndWait(h, to, { machineDetection: mode });
      const answer = h.requests(sid).find((r) => r.path === '/answer');
      assert.ok(answer, 'the answer URL was requested');
      assert.equal(answer.params.AnsweredBy, expected);
      assert.equal(answer.params.CallStatus, 'in-progress');
      assert.equal(final?.params.AnsweredBy, expected);
      assert.equal(final?.params.CallStatus, 'completed');
      assert.equal((await h.client.calls(sid).fetch()).answeredBy, expected);
    });
  }

  test('a list of outcomes is used attempt by attempt, and the last one repeats', async () => {
    const to = '+15005550314';
    h.sim.setScenario({
      numbers: { [to]: ['busy', 'no-answer', { outcome: 'human', ringSeconds: 3, talkSeconds: 5 }] },
    });
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      const { final } = await callAndWait(h, to);
      seen.push(final?.params.CallStatus ?? '?');
    }
    assert.deepEqual(seen, ['busy', 'no-answer', 'completed', 'completed']);
    const calls = h.sim.calls({ to });
    assert.deepEqual(
      calls.map((c) => [c.attempt, c.outcome]),
      [
        [0, 'busy'],
        [1, 'no-answer'],
        [2, 'human'],
        [3, 'human'],
      ],
    );
    assert.equal(calls[2]?.ringSeconds, 3);
    // The default's timing fills in what an entry leaves out.
    assert.equal(calls[0]?.ringSeconds, 1);
  });

  test('an unreachable callback URL is recorded on the call and the simulator carries on', async () => {
    const gone = await startWebhookRecorder();
    await gone.close(); // its port now refuses connections
    const call = await h.client.calls.create({
      to: '+15005550315',
      from: FROM,
      url: `${h.hooks.url}/answer`,
      statusCallback: `${gone.url}/status`,
      statusCallbackEvent: [...ALL_EVENTS],
    });
    await h.sim.waitForCall(call.sid);
    await h.sim.idle();
    const record = h.sim.call(call.sid);
    assert.equal(record?.status, 'completed');
    const statusDeliveries = record?.callbacks.filter((c) => c.kind === 'status') ?? [];
    assert.equal(statusDeliveries.length, 4);
    for (const d of statusDeliveries) {
      assert.equal(d.httpStatus, undefined);
      assert.match(d.error ?? '', /ECONNREFUSED/);
    }
    assert.equal((await fetch(`${h.sim.url}/health`)).status, 200);
  });

  test('a webhook that answers 500 is recorded with its status', async () => {
    h.hooks.on('/broken-status', { status: 500 });
    const { sid } = await callAndWait(h, '+15005550316', { statusCallback: `${h.hooks.url}/broken-status` });
    const deliveries = h.sim.call(sid)?.callbacks.filter((c) => c.kind === 'status') ?? [];
    assert.equal(deliveries.length, 4);
    assert.ok(deliveries.every((d) => d.httpStatus === 500 && d.error === 'HTTP 500'));
  });
});

describe('callback faults', () => {
  test('duplicate: every status callback arrives twice, identical', async () => {
    const h = await harness({ duplicate: true });
    try {
      const { sid, status } = await callAndWait(h, '+15005550401');
      assert.deepEqual(
        status.map((r) => r.params.SequenceNumber),
        ['0', '0', '1', '1', '2', '2', '3', '3'],
      );
      for (let i = 0; i < status.length; i += 2) {
        const [a, b] = [status[i], status[i + 1]];
        assert.deepEqual(a?.params, b?.params);
        assert.equal(a?.signature, b?.signature);
        assert.equal(a?.headers['i-twilio-idempotency-token'], b?.headers['i-twilio-idempotency-token']);
      }
      // Only status callbacks are duplicated; the answer request is a conversation, sent once.
      assert.equal(h.requests(sid).filter((r) => r.path === '/answer').length, 1);
    } finally {
      await h.close();
    }
  });

  test("outOfOrder: a call's callbacks arrive newest first, after it ends", async () => {
    const h = await harness({ outOfOrder: true });
    try {
      const { status } = await callAndWait(h, '+15005550402');
      assert.deepEqual(
        status.map((r) => r.params.CallStatus),
        ['completed', 'in-progress', 'ringing', 'initiated'],
      );
      assert.deepEqual(
        status.map((r) => r.params.SequenceNumber),
        ['3', '2', '1', '0'],
      );
    } finally {
      await h.close();
    }
  });

  test('delayMs: callbacks arrive late', async () => {
    const h = await harness({ delayMs: 150 });
    try {
      const started = Date.now();
      const { status } = await callAndWait(h, '+15005550403');
      assert.equal(status.length, 4);
      assert.ok((status[0]?.receivedAt ?? 0) - started >= 150, 'the first callback waited delayMs');
    } finally {
      await h.close();
    }
  });

  test('failFirst: the first delivery to a URL is dropped, never sent, not retried', async () => {
    const h = await harness({ failFirst: true });
    try {
      const first = await callAndWait(h, '+15005550404');
      assert.deepEqual(
        first.status.map((r) => r.params.CallStatus),
        ['ringing', 'in-progress', 'completed'],
      );
      const dropped = h.sim.call(first.sid)?.callbacks.find((c) => c.event === 'initiated');
      assert.equal(dropped?.dropped, true);
      assert.match(dropped?.error ?? '', /failFirst/);
      // The URL has had its first delivery: the next call's callbacks all arrive.
      const second = await callAndWait(h, '+15005550405');
      assert.equal(second.status.length, 4);
    } finally {
      await h.close();
    }
  });

  test('dropEvents: the final callback never comes, and a GET still tells the outcome', async () => {
    const h = await harness({ dropEvents: ['completed'] });
    try {
      const { sid, status } = await callAndWait(h, '+15005550406');
      assert.deepEqual(
        status.map((r) => r.params.CallStatus),
        ['initiated', 'ringing', 'in-progress'],
      );
      assert.equal((await h.client.calls(sid).fetch()).status, 'completed');
    } finally {
      await h.close();
    }
  });
});
