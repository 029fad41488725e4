import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import pino from 'pino';
import { createTwilioClient, type TwilioClient } from '../infra/twilio';
import { startSimulator, type RunningSimulator } from '../simulator';
import { startWebhookRecorder, type WebhookRecorder } from '../simulator/webhook-recorder';

// The real twilio SDK against the simulator: every answer must parse into the SDK's objects,
// and every error must surface as the RestException the dialer's code will catch.

const ACCOUNT_SID = 'AC' + '0123456789abcdef'.repeat(2);
const AUTH_TOKEN = 'simulator-test-token';
const FROM = '+15005550006';
const quiet = pino({ level: 'silent' });

interface RestError {
  status: number;
  code: number;
  message: string;
  moreInfo: string;
}

async function rejection(p: Promise<unknown>): Promise<RestError> {
  try {
    await p;
  } catch (err) {
    return err as RestError;
  }
  assert.fail('expected the request to fail');
}

describe('simulator REST API through the twilio SDK', () => {
  let sim: RunningSimulator;
  let hooks: WebhookRecorder;
  let client: TwilioClient;
  let answerUrl: string;

  before(async () => {
    hooks = await startWebhookRecorder();
    answerUrl = `${hooks.url}/answer`;
    hooks.on('/answer', { twiml: '<Response><Say>Hello there</Say></Response>' });
    hooks.on('/long', { twiml: '<Response><Pause length="600"/></Response>' });
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
  beforeEach(() => sim.reset());

  test('create answers 201 with a queued outbound call the SDK parses', async () => {
    const call = await client.calls.create({ to: '+15005550101', from: FROM, url: answerUrl });
    assert.match(call.sid, /^CA[0-9a-f]{32}$/);
    assert.equal(call.accountSid, ACCOUNT_SID);
    assert.equal(call.to, '+15005550101');
    assert.equal(call.from, FROM);
    assert.equal(call.status, 'queued');
    assert.equal(call.direction, 'outbound-api');
    assert.equal(call.apiVersion, '2010-04-01');
    assert.equal(call.uri, `/2010-04-01/Accounts/${ACCOUNT_SID}/Calls/${call.sid}.json`);
    // The SDK parses RFC 2822 dates into Date objects; a wrong format leaves the string.
    assert.ok(call.dateCreated instanceof Date, 'dateCreated is a Date');
    assert.ok(Math.abs(call.dateCreated.getTime() - Date.now()) < 5_000);
    assert.equal(call.startTime, null);
    assert.equal(call.duration, null);
  });

  test('fetch follows the call to its end: times, duration and status', async () => {
    const created = await client.calls.create({ to: '+15005550102', from: FROM, url: answerUrl });
    await sim.waitForCall(created.sid);
    const call = await client.calls(created.sid).fetch();
    assert.equal(call.sid, created.sid);
    assert.equal(call.status, 'completed');
    assert.ok(call.startTime instanceof Date);
    assert.ok(call.endTime instanceof Date);
    // "Hello there" is a one-second <Say> and then the TwiML runs out.
    assert.equal(call.duration, '1');
    assert.equal(call.answeredBy, null);
  });

  test('fetch of an unknown call is 404 with code 20404', async () => {
    const err = await rejection(client.calls('CA' + '0'.repeat(32)).fetch());
    assert.equal(err.status, 404);
    assert.equal(err.code, 20404);
    assert.equal(err.moreInfo, 'https://www.twilio.com/docs/errors/20404');
  });

  test('list filters by to and from and pages through every call, newest first', async () => {
    const to = '+15005550103';
    const sids: string[] = [];
    for (let i = 0; i < 5; i++) {
      sids.push((await client.calls.create({ to, from: FROM, url: answerUrl })).sid);
    }
    await client.calls.create({ to: '+15005550104', from: FROM, url: answerUrl });
    await client.calls.create({ to, from: '+15005550007', url: answerUrl });

    const listed = await client.calls.list({ to, from: FROM, pageSize: 2 });
    assert.deepEqual(
      listed.map((c) => c.sid),
      [...sids].reverse(),
    );

    const first = await client.calls.page({ to, from: FROM, pageSize: 2 });
    assert.equal(first.instances.length, 2);
    assert.ok(first.nextPageUrl, 'a first page of three has a next page');
    const second = await first.nextPage();
    assert.ok(second);
    assert.deepEqual(
      second.instances.map((c) => c.sid),
      [sids[2], sids[1]],
    );
    const third = await second.nextPage();
    assert.ok(third);
    assert.deepEqual(
      third.instances.map((c) => c.sid),
      [sids[0]],
    );
    assert.equal(third.nextPageUrl, undefined);

    const limited = await client.calls.list({ to, limit: 3 });
    assert.equal(limited.length, 3);
  });

  test('list finds a call created after a given time, and not one before it', async () => {
    const to = '+15005550105';
    const old = await client.calls.create({ to, from: FROM, url: answerUrl });
    await new Promise((r) => setTimeout(r, 1_100)); // the filter has one-second resolution
    const since = new Date();
    const fresh = await client.calls.create({ to, from: FROM, url: answerUrl });
    const found = await client.calls.list({ to, from: FROM, startTimeAfter: since });
    assert.deepEqual(
      found.map((c) => c.sid),
      [fresh.sid],
    );
    assert.notEqual(found[0]?.sid, old.sid);
  });

  test('update with status canceled cancels a ringing call', async () => {
    sim.setScenario({ default: { outcome: 'human', ringSeconds: 50 } });
    const call = await client.calls.create({ to: '+15005550106', from: FROM, url: answerUrl });
    await sim.waitForCall(call.sid, ['ringing']);
    const updated = await client.calls(call.sid).update({ status: 'canceled' });
    assert.equal(updated.status, 'canceled');
    assert.equal(sim.call(call.sid)?.sipResponseCode, 487);
  });

  test('update with status completed hangs up a live call; canceled leaves it alone', async () => {
    const call = await client.calls.create({ to: '+15005550107', from: FROM, url: `${hooks.url}/long` });
    await sim.waitForCall(call.sid, ['in-progress']);
    const untouched = await client.calls(call.sid).update({ status: 'canceled' });
    assert.equal(untouched.status, 'in-progress');
    const ended = await client.calls(call.sid).update({ status: 'completed' });
    assert.equal(ended.status, 'completed');
    assert.equal(sim.call(call.sid)?.endedBy, 'api');
  });

  test('wrong credentials: 401 with code 20003', async () => {
    const wrongToken = createTwilioClient({
      accountSid: ACCOUNT_SID,
      authToken: 'nope',
      apiBaseUrl: sim.url,
    });
    const err = await rejection(wrongToken.calls.create({ to: '+15005550108', from: FROM, url: answerUrl }));
    assert.equal(err.status, 401);
    assert.equal(err.code, 20003);

    const otherAccount = createTwilioClient({
      accountSid: 'AC' + 'f'.repeat(32),
      authToken: AUTH_TOKEN,
      apiBaseUrl: sim.url,
    });
    const err2 = await rejection(otherAccount.calls.list());
    assert.equal(err2.status, 401);
    assert.equal(err2.code, 20003);
    assert.equal(sim.calls().length, 0);
  });

  test('no credentials: 401; another account in the path: 404 with code 20404', async () => {
    const noAuth = await fetch(`${sim.url}/2010-04-01/Accounts/${ACCOUNT_SID}/Calls.json`);
    assert.equal(noAuth.status, 401);
    assert.equal(noAuth.headers.get('www-authenticate'), 'Basic realm="Twilio API"');
    assert.deepEqual(await noAuth.json(), {
      code: 20003,
      message: 'Authenticate',
      more_info: 'https://www.twilio.com/docs/errors/20003',
      status: 401,
    });
    const auth = 'Basic ' + Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString('base64');
    const other = await fetch(`${sim.url}/2010-04-01/Accounts/AC${'e'.repeat(32)}/Calls.json`, {
      headers: { authorization: auth },
    });
    assert.equal(other.status, 404);
    assert.equal(((await other.json()) as { code: number }).code, 20404);
  });

  test('missing or invalid parameters are rejected like Twilio does', async () => {
    const auth = 'Basic ' + Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString('base64');
    const post = async (form: Record<string, string>) => {
      const res = await fetch(`${sim.url}/2010-04-01/Accounts/${ACCOUNT_SID}/Calls.json`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form).toString(),
      });
      return { status: res.status, body: (await res.json()) as { code: number; message: string } };
    };
    assert.deepEqual((await post({ From: FROM, Url: answerUrl })).body.code, 21201);
    assert.deepEqual((await post({ To: '+15005550109', Url: answerUrl })).body.code, 21213);
    assert.deepEqual((await post({ To: '+15005550109', From: FROM })).body.code, 21205);
    assert.deepEqual((await post({ To: '+15005550109', From: FROM, Url: 'not a url' })).body.code, 21205);
    const timeout = await post({ To: '+15005550109', From: FROM, Url: answerUrl, Timeout: 'soon' });
    assert.equal(timeout.status, 400);
    assert.match(timeout.body.message, /Timeout/);

    const badTo = await rejection(client.calls.create({ to: 'call me maybe', from: FROM, url: answerUrl }));
    assert.equal(badTo.status, 400);
    assert.equal(badTo.code, 21211);
    const badFrom = await rejection(client.calls.create({ to: '+15005550109', from: '12', url: answerUrl }));
    assert.equal(badFrom.code, 21212);
    assert.equal(sim.calls().length, 0);
  });

  test('scenario outcomes invalid and blocked reject the create with 21211 and 21216', async () => {
    sim.setScenario({ numbers: { '+15005550110': 'invalid', '+15005550111': 'blocked' } });
    const invalid = await rejection(client.calls.create({ to: '+15005550110', from: FROM, url: answerUrl }));
    assert.equal(invalid.status, 400);
    assert.equal(invalid.code, 21211);
    const blocked = await rejection(client.calls.create({ to: '+15005550111', from: FROM, url: answerUrl }));
    assert.equal(blocked.status, 400);
    assert.equal(blocked.code, 21216);
    assert.equal(sim.calls().length, 0, 'no call exists for a rejected create');
    assert.deepEqual(
      sim.rejections().map((r) => r.code),
      [21211, 21216],
    );
  });

  test('createDelayMs: the SDK times out, yet the call exists and can be found by listing', async () => {
    const slow = await startSimulator({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      timeScale: 0.01,
      createDelayMs: 1_000,
      logger: quiet,
    });
    try {
      const impatient = createTwilioClient({
        accountSid: ACCOUNT_SID,
        authToken: AUTH_TOKEN,
        apiBaseUrl: slow.url,
        timeoutMs: 100,
      });
      await assert.rejects(
        impatient.calls.create({ to: '+15005550112', from: FROM, url: answerUrl }),
        /timeout/i,
      );
      const seen = (await (await fetch(`${slow.url}/sim/calls?to=%2B15005550112`)).json()) as {
        sid: string;
      }[];
      assert.equal(seen.length, 1);
      // What the dialer's retry does before creating again (telephony.md §1).
      const patient = createTwilioClient({
        accountSid: ACCOUNT_SID,
        authToken: AUTH_TOKEN,
        apiBaseUrl: slow.url,
      });
      const listed = await patient.calls.list({ to: '+15005550112', from: FROM });
      assert.deepEqual(
        listed.map((c) => c.sid),
        [seen[0]?.sid],
      );
    } finally {
      await slow.close();
    }
  });

  test('PUT /sim/faults changes a running simulator: late creates on, then off; a bad body changes nothing', async () => {
    const impatient = createTwilioClient({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      apiBaseUrl: sim.url,
      timeoutMs: 200,
    });
    const put = (body: unknown) =>
      fetch(`${sim.url}/sim/faults`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    try {
      const on = await put({ createDelayMs: 1000, callbacks: { duplicate: true } });
      assert.equal(on.status, 200);
      assert.deepEqual(await on.json(), { createDelayMs: 1000, callbacks: { duplicate: true } });
      await assert.rejects(
        impatient.calls.create({ to: '+15005550115', from: FROM, url: answerUrl }),
        /timeout/i,
      );
      assert.equal(sim.calls({ to: '+15005550115' }).length, 1, 'the late create made its call');

      const bad = await put({ createDelayMs: -5, callbacks: { dropEvents: ['finished'] } });
      assert.equal(bad.status, 400);
      const { problems } = (await bad.json()) as { problems: string[] };
      assert.ok(
        problems.some((p) => p.startsWith('createDelayMs:')),
        problems.join('; '),
      );
      assert.ok(
        problems.some((p) => p.startsWith('callbacks.dropEvents[0]:')),
        problems.join('; '),
      );
      assert.deepEqual(sim.faults(), { createDelayMs: 1000, callbacks: { duplicate: true } }, 'unchanged');

      const off = await put({ createDelayMs: 0, callbacks: { duplicate: null } });
      assert.deepEqual(await off.json(), { createDelayMs: 0, callbacks: {} });
      const call = await impatient.calls.create({ to: '+15005550116', from: FROM, url: answerUrl });
      assert.match(call.sid, /^CA/);
    } finally {
      sim.setFaults({ createDelayMs: 0, callbacks: { duplicate: null } });
    }
  });

  test('maxConcurrentCalls: a create over the limit is rejected with 10004', async () => {
    const limited = await startSimulator({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      timeScale: 0.01,
      maxConcurrentCalls: 1,
      scenario: { default: { outcome: 'no-answer' } },
      logger: quiet,
    });
    try {
      const c = createTwilioClient({
        accountSid: ACCOUNT_SID,
        authToken: AUTH_TOKEN,
        apiBaseUrl: limited.url,
      });
      const first = await c.calls.create({ to: '+15005550113', from: FROM, url: answerUrl });
      const err = await rejection(c.calls.create({ to: '+15005550114', from: FROM, url: answerUrl }));
      assert.equal(err.status, 400);
      assert.equal(err.code, 10004);
      await c.calls(first.sid).update({ status: 'canceled' });
      // The line is free again.
      const next = await c.calls.create({ to: '+15005550114', from: FROM, url: answerUrl });
      assert.equal(next.status, 'queued');
    } finally {
      await limited.close();
    }
  });

  test('maxConcurrentRequests: a request over the limit is refused with 429 / 20429 and nothing made', async () => {
    const limited = await startSimulator({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      timeScale: 0.01,
      maxConcurrentRequests: 1,
      createDelayMs: 300,
      logger: quiet,
    });
    try {
      const c = createTwilioClient({
        accountSid: ACCOUNT_SID,
        authToken: AUTH_TOKEN,
        apiBaseUrl: limited.url,
      });
      const slow = c.calls.create({ to: '+15005550115', from: FROM, url: answerUrl });
      await new Promise((r) => setTimeout(r, 100)); // the first create is being answered
      const err = await rejection(c.calls.create({ to: '+15005550116', from: FROM, url: answerUrl }));
      assert.equal(err.status, 429);
      assert.equal(err.code, 20429);
      const listErr = await rejection(c.calls.list({ limit: 5 }));
      assert.equal(listErr.code, 20429, 'every REST request counts, not only creates');
      await slow;
      assert.deepEqual(
        limited.calls().map((call) => call.to),
        ['+15005550115'],
        'the refused create made no call',
      );
      assert.deepEqual(
        limited.rejections().map((r) => [r.to, r.code, r.httpStatus]),
        [['+15005550116', 20429, 429]],
      );
      // once the first is answered, the slot is free again
      const next = await c.calls.create({ to: '+15005550116', from: FROM, url: answerUrl });
      assert.equal(next.to, '+15005550116');
    } finally {
      await limited.close();
    }
  });

  test('callsPerSecond: excess calls wait in queued for their turn', async () => {
    const paced = await startSimulator({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      timeScale: 0.01,
      callsPerSecond: 5,
      logger: quiet,
    });
    try {
      const c = createTwilioClient({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, apiBaseUrl: paced.url });
      const calls = await Promise.all(
        [0, 1, 2].map((i) => c.calls.create({ to: `+1500555012${i}`, from: FROM, url: answerUrl })),
      );
      const third = calls[2];
      assert.ok(third);
      assert.equal(paced.call(third.sid)?.status, 'queued');
      await paced.idle();
      const starts = paced
        .calls()
        .map((call) => Date.parse(call.startedAt ?? ''))
        .sort((a, b) => a - b);
      assert.equal(starts.length, 3);
      // 5 per second: 200 ms apart (a few ms of timer slack allowed).
      assert.ok((starts[2] ?? 0) - (starts[0] ?? 0) >= 390, `starts ${starts.join(', ')}`);
      const fetched = await c.calls(third.sid).fetch();
      assert.ok(Number(fetched.queueTime) >= 350, `queue_time ${fetched.queueTime}`);
    } finally {
      await paced.close();
    }
  });
});

describe('simulator control API', () => {
  let sim: RunningSimulator;
  let client: TwilioClient;
  const answerUrl = 'http://127.0.0.1:9/answer'; // never reached: calls here stay ringing

  before(async () => {
    sim = await startSimulator({
      accountSid: ACCOUNT_SID,
      authToken: AUTH_TOKEN,
      timeScale: 0.01,
      scenario: { default: { outcome: 'no-answer' }, numbers: { '+15005550201': 'busy' } },
      logger: quiet,
    });
    client = createTwilioClient({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, apiBaseUrl: sim.url });
  });
  after(() => sim.close());

  const json = async (path: string, init?: RequestInit) => {
    const res = await fetch(`${sim.url}${path}`, init);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & unknown[] };
  };
  const put = (path: string, body: unknown) =>
    json(path, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  test('GET /health answers 200 without auth', async () => {
    const res = await fetch(`${sim.url}/health`);
    assert.equal(res.status, 200);
  });

  test('PUT /sim/scenario rejects a bad field and names it', async () => {
    const bad = await put('/sim/scenario', {
      numbers: { '+15005550001': ['busy', 'no-answer', { outcome: 'human', talkSeconds: -5 }] },
    });
    assert.equal(bad.status, 400);
    assert.match(String(bad.body.error), /numbers\["\+15005550001"\]\[2\]\.talkSeconds/);

    const typo = await put('/sim/scenario', { numbers: { '+15005550001': 'bussy' } });
    assert.equal(typo.status, 400);
    assert.match(String(typo.body.error), /numbers\["\+15005550001"\]: Invalid option/);

    const badAgent = await put('/sim/scenario', { agents: { 'client:agent-7': 'sleeping' } });
    assert.equal(badAgent.status, 400);
    assert.match(String(badAgent.body.error), /agents\["client:agent-7"\]/);

    const badKey = await put('/sim/scenario', { numbers: { '0049 30 1234': 'busy' } });
    assert.equal(badKey.status, 400);
    assert.match(String(badKey.body.error), /invalid key/);

    const unknown = await put('/sim/scenario', { defaults: 'human' });
    assert.equal(unknown.status, 400);
    assert.match(String(unknown.body.error), /defaults/);
  });

  test('PUT then GET /sim/scenario; POST /sim/reset restores the start scenario and forgets calls', async () => {
    const scenario = { default: 'fax', agents: { default: 'busy' } };
    const put1 = await put('/sim/scenario', scenario);
    assert.equal(put1.status, 200);
    assert.deepEqual((await json('/sim/scenario')).body, scenario);

    await client.calls.create({ to: '+15005550202', from: FROM, url: answerUrl });
    assert.equal((await json('/sim/calls')).body.length, 1);

    const reset = await json('/sim/reset', { method: 'POST' });
    assert.equal(reset.status, 200);
    assert.deepEqual((await json('/sim/calls')).body, []);
    assert.deepEqual((await json('/sim/scenario')).body, {
      default: { outcome: 'no-answer' },
      numbers: { '+15005550201': 'busy' },
    });
  });

  test('GET /sim/calls lists oldest first, with ?to= filtering', async () => {
    await json('/sim/reset', { method: 'POST' });
    const a = await client.calls.create({ to: '+15005550203', from: FROM, url: answerUrl });
    const b = await client.calls.create({ to: '+15005550204', from: FROM, url: answerUrl });
    const c = await client.calls.create({ to: '+15005550203', from: FROM, url: answerUrl });
    const all = (await json('/sim/calls')).body as unknown as { sid: string }[];
    assert.deepEqual(
      all.map((x) => x.sid),
      [a.sid, b.sid, c.sid],
    );
    const some = (await json('/sim/calls?to=%2B15005550203')).body as unknown as {
      sid: string;
      outcome: string;
      createdAt: string;
      endedAt: string | null;
      events: { type: string }[];
      callbacks: unknown[];
    }[];
    assert.deepEqual(
      some.map((x) => x.sid),
      [a.sid, c.sid],
    );
    const first = some[0];
    assert.ok(first);
    assert.equal(first.outcome, 'no-answer');
    assert.ok(!Number.isNaN(Date.parse(first.createdAt)));
    assert.equal(first.endedAt, null);
    assert.equal(first.events[0]?.type, 'created');
    assert.deepEqual(first.callbacks, []);
  });

  test('the hangup endpoint refuses unknown calls, calls not ringing yet, and a missing agent leg', async () => {
    assert.equal((await json(`/sim/calls/CA${'1'.repeat(32)}/hangup`, { method: 'POST' })).status, 404);
    const call = await client.calls.create({ to: '+15005550205', from: FROM, url: answerUrl });
    await sim.waitForCall(call.sid, ['ringing']);
    const agent = await json(`/sim/calls/${call.sid}/hangup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ side: 'agent' }),
    });
    assert.equal(agent.status, 409);
    const badSide = await json(`/sim/calls/${call.sid}/hangup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ side: 'both' }),
    });
    assert.equal(badSide.status, 400);
    assert.match(String(badSide.body.error), /side/);
    // The callee declines the ringing call: SIP 603.
    const declined = await json(`/sim/calls/${call.sid}/hangup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ side: 'callee' }),
    });
    assert.equal(declined.status, 200);
    assert.equal(declined.body.status, 'busy');
    assert.equal(declined.body.sipResponseCode, 603);
    assert.equal((await json(`/sim/calls/${call.sid}/hangup`, { method: 'POST' })).status, 409);
  });
});
