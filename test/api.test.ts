/**
 * The HTTP API's agent routes (telephony issue: "commands and API to add agents and set their
 * status"): bearer token, JSON schemas, clear errors that change nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildServer } from '../server/app';
import { createLogger } from '../infra/logger';
import { API_TOKEN, type Stack, createCampaign, startStack, uid } from '../harness/stack';

describe('HTTP API: agents', { timeout: 120_000 }, () => {
  let stack: Stack;
  let campaign: string;
  before(async () => {
    stack = await startStack({ timeScale: 0.02 });
    campaign = uid('api');
    await createCampaign(stack.env, campaign);
  });
  after(async () => stack?.stop());

  const call = async (method: string, path: string, body?: unknown, token: string | null = API_TOKEN) => {
    const res = await fetch(stack.serverUrl + path, {
      method,
      headers: {
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, unknown> };
  };
  const row = async (endpoint: string) =>
    (
      await stack.db.sql<{ status: string; campaign_name: string | null; name: string | null }[]>`
        select status, campaign_name, name from agents where endpoint = ${endpoint}`
    )[0];

  test('without the bearer token, or with a wrong one: 401 and nothing changes', async () => {
    const endpoint = `client:${uid('nobody')}`;
    const none = await call('PUT', `/api/agents/${encodeURIComponent(endpoint)}`, { campaign }, null);
    assert.equal(none.status, 401);
    assert.match(String(none.headers.get('www-authenticate')), /^Bearer/);
    const wrong = await call(
      'PUT',
      `/api/agents/${encodeURIComponent(endpoint)}`,
      { campaign },
      'x'.repeat(30),
    );
    assert.equal(wrong.status, 401);
    assert.equal(await row(endpoint), undefined);
  });

  test('add an agent, list it, set its status', async () => {
    const endpoint = `client:${uid('alice')}`;
    const path = `/api/agents/${encodeURIComponent(endpoint)}`;
    const added = await call('PUT', path, { name: 'Alice', campaign, status: 'offline' });
    assert.equal(added.status, 200, JSON.stringify(added.json));
    assert.deepEqual(
      { endpoint: added.json.endpoint, status: added.json.status, campaign: added.json.campaign },
      { endpoint, status: 'offline', campaign },
    );
    assert.deepEqual(await row(endpoint), { status: 'offline', campaign_name: campaign, name: 'Alice' });

    const listed = await call('GET', `/api/agents?campaign=${encodeURIComponent(campaign)}`);
    assert.equal(listed.status, 200);
    assert.deepEqual(
      (listed.json.agents as { endpoint: string }[]).map((a) => a.endpoint),
      [endpoint],
    );

    const set = await call('PUT', `${path}/status`, { status: 'available' });
    assert.equal(set.status, 200);
    assert.equal((await row(endpoint))!.status, 'available');

    const phone = '+15005550177';
    const byNumber = await call('PUT', `/api/agents/${encodeURIComponent(phone)}`, { campaign });
    assert.equal(byNumber.status, 200, 'a phone number is an endpoint too; status defaults to available');
    assert.equal((await row(phone))!.status, 'available');
  });

  test('bad input is refused with a message naming what is wrong, and changes nothing', async () => {
    const endpoint = `client:${uid('bob')}`;
    const path = `/api/agents/${encodeURIComponent(endpoint)}`;
    assert.equal((await call('PUT', path, { campaign, status: 'available' })).status, 200);

    const cases: [string, string, unknown, number, RegExp][] = [
      ['an unknown status', `${path}/status`, { status: 'sleeping' }, 400, /status/],
      ['a missing status', `${path}/status`, {}, 400, /status/],
      ['an unknown field', path, { campaign, colour: 'red' }, 400, /colour|additional/],
      ['a campaign that does not exist', path, { campaign: 'no-such-campaign' }, 404, /Unknown campaign/],
      ['an endpoint that is neither client: nor E.164', '/api/agents/alice', { campaign }, 400, /endpoint/],
      [
        'an agent that does not exist',
        '/api/agents/client%3Aghost-1/status',
        { status: 'offline' },
        404,
        /No agent/,
      ],
    ];
    for (const [what, p, body, status, message] of cases) {
      const r = await call('PUT', p, body);
      assert.equal(r.status, status, `${what}: ${JSON.stringify(r.json)}`);
      assert.match(String(r.json.detail), message, what);
    }
    assert.deepEqual(await row(endpoint), { status: 'available', campaign_name: campaign, name: null });
    assert.equal(await row('alice'), undefined);
    assert.equal(await row('client:ghost-1'), undefined);
  });

  test('a server without DIALER_API_TOKEN answers 503 and says why', async () => {
    const app = await buildServer({
      temporal: stack.client,
      db: stack.db,
      authToken: 'unused-auth-token',
      publicBaseUrl: 'http://127.0.0.1',
      logger: createLogger('silent'),
      taskQueue: stack.taskQueue,
      defaultRegion: 'US',
    });
    try {
      const r = await app.inject({
        method: 'GET',
        url: '/api/agents',
        headers: { authorization: 'Bearer x' },
      });
      assert.equal(r.statusCode, 503);
      assert.match(r.json<{ detail: string }>().detail, /DIALER_API_TOKEN/);
    } finally {
      await app.close();
    }
  });
});
