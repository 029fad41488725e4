/**
 * The CRM's HTTP API against the real stack: contacts in, follow-ups pushed into a running
 * campaign and dialed at their time, a cached contact's timer moved instead of a second dial,
 * campaign control, the OpenAPI document at /docs, and every bad request refused with nothing changed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { campaignWorkflowId, contactStatusQuery, contactWorkflowId } from '../workflows/shared';
import {
  API_TOKEN,
  type Stack,
  createCampaign,
  eventually,
  insertContacts,
  startStack,
  testPhone,
  uid,
} from '../harness/stack';

describe('CRM HTTP API', { timeout: 240_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ timeScale: 0.02 });
    stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 } });
  });
  after(async () => stack?.stop());

  const api = async (method: string, path: string, body?: unknown, token: string | null = API_TOKEN) => {
    const res = await fetch(stack.serverUrl + path, {
      method,
      headers: {
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
  const contact = async (id: number) =>
    (
      await stack.db.sql<
        {
          contact_successful: number;
          redial_time: Date | null;
          number_of_contacts: number;
          phone_number: string;
        }[]
      >`select contact_successful, redial_time, number_of_contacts, phone_number from contacts where id = ${id}`
    )[0]!;

  test('the OpenAPI document is served at /docs without a token', async () => {
    const doc = (await (await fetch(`${stack.serverUrl}/docs/json`)).json()) as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    assert.match(doc.openapi, /^3\./);
    for (const p of [
      '/api/contacts',
      '/api/contacts/{id}/redial',
      '/api/contacts/{id}/release',
      '/api/campaigns/{name}/start',
      '/api/campaigns/{name}/stop',
      '/api/agents/{endpoint}/status',
    ]) {
      assert.ok(doc.paths[p], `${p} is documented`);
    }
    assert.ok(!Object.keys(doc.paths).some((p) => p.startsWith('/twilio')), 'webhooks are not part of it');
    const ui = await fetch(`${stack.serverUrl}/docs`);
    assert.equal(ui.status, 200);
  });

  test('contacts are added all or nothing; bad ones are named by index', async () => {
    const name = uid('crm');
    await createCampaign(stack.env, name);
    const count = async () =>
      (
        await stack.db.sql<
          { n: number }[]
        >`select count(*)::int as n from contacts where campaign_name = ${name}`
      )[0]!.n;
    const unknown = await api('POST', '/api/contacts', {
      campaign: 'no-such-campaign',
      contacts: [{ phoneNumber: testPhone() }],
    });
    assert.equal(unknown.status, 404);
    assert.match(String(unknown.json.detail), /Unknown campaign "no-such-campaign"/);

    const bad = await api('POST', '/api/contacts', {
      campaign: name,
      contacts: [
        { phoneNumber: testPhone() },
        { phoneNumber: 'abc' },
        { phoneNumber: testPhone(), redialTime: 'soon' },
      ],
    });
    assert.equal(bad.status, 400);
    // every problem is named with its field (in the detail, and in errors where the shape has them)
    const said = JSON.stringify(bad.json);
    assert.match(said, /2 problem\(s\)/);
    assert.match(said, /\/contacts\/1\/phoneNumber: phoneNumber \\"abc\\" is not a phone number/);
    assert.match(said, /\/contacts\/2\/redialTime: redialTime: \\"soon\\" is not a time/);
    assert.equal(await count(), 0, 'nothing was added');

    const phone = testPhone();
    const ok = await api('POST', '/api/contacts', {
      campaign: name,
      contacts: [
        {
          phoneNumber: `(${phone.slice(2, 5)}) ${phone.slice(5, 8)}-${phone.slice(8)}`,
          name: 'Ada',
          data: { crmId: 7 },
        },
      ],
    });
    assert.equal(ok.status, 201, JSON.stringify(ok.json));
    const [id] = ok.json.ids as number[];
    assert.equal((await contact(id!)).phone_number, phone, 'stored in E.164');
  });

  test('text holding SQL or script is stored literally and comes back unchanged', async () => {
    const name = uid('crm-literal');
    await createCampaign(stack.env, name);
    const evil = {
      name: "Robert'); DROP TABLE contacts; --",
      data: { note: '<script>alert(1)</script>', sql: "' OR 1=1 --", nested: { "a'b": '$1 \\x00' } },
    };
    const added = await api('POST', '/api/contacts', {
      campaign: name,
      contacts: [{ phoneNumber: testPhone(), name: evil.name, data: evil.data }],
    });
    assert.equal(added.status, 201, JSON.stringify(added.json));
    const [id] = added.json.ids as number[];
    const got = await api('GET', `/api/contacts/${id}`);
    assert.equal(got.status, 200);
    assert.equal(got.json.name, evil.name);
    assert.deepEqual(got.json.data, evil.data);
    const [row] = await stack.db.sql<
      { n: number }[]
    >`select count(*)::int as n from contacts where id = ${id!}`;
    assert.equal(row!.n, 1, 'the contacts table is still there, with the row');
  });

  test('campaign control: start, status, a follow-up dialed at its time, stop', async () => {
    const name = uid('crm');
    await createCampaign(stack.env, name);
    const [id] = await insertContacts(stack.db, name, [testPhone()]);
    const started = await api('POST', `/api/campaigns/${name}/start`, { refillInterval: '10m' });
    assert.equal(started.status, 202, JSON.stringify(started.json));
    assert.equal((await api('POST', `/api/campaigns/${name}/start`, {})).status, 409, 'already running');
    await eventually(async () => (await contact(id!)).contact_successful === 1, 30_000, 'the first call');

    // a follow-up for a contact that was reached: dialed at its time, not before
    const at = new Date(Date.now() + 3000).toISOString();
    const pushed = await api('POST', `/api/contacts/${id}/redial`, { at });
    assert.equal(pushed.status, 200, JSON.stringify(pushed.json));
    assert.equal(pushed.json.how, 'queued');
    await eventually(async () => (await contact(id!)).number_of_contacts === 2, 30_000, 'the follow-up call');
    const calls = stack.sim.calls({ to: (await contact(id!)).phone_number });
    assert.equal(calls.length, 2);
    assert.ok(Date.parse(calls[1]!.createdAt) >= Date.parse(at), 'not dialed before its time');

    const status = await api('GET', `/api/campaigns/${name}`);
    assert.equal(status.status, 200);
    assert.equal((status.json.workflow as { status: string }).status, 'running');
    const ledger = status.json.abandons as { last24Hours: { liveAnswers: number; abandons: number } };
    assert.deepEqual([ledger.last24Hours.liveAnswers, ledger.last24Hours.abandons], [2, 0]);

    // the decision log: both attempts, and the CRM's push between them
    const log = await api('GET', `/api/contacts/${id}/events`);
    assert.equal(log.status, 200);
    assert.deepEqual(
      (log.json.events as { kind: string }[]).map((e) => e.kind),
      ['cached', 'dialed', 'outcome', 'rescheduled', 'cached', 'dialed', 'outcome'],
    );
    assert.equal((await api('GET', '/api/contacts/999999999/events')).status, 404);
    assert.equal((await api('POST', `/api/campaigns/${name}/stop`)).status, 202);
    await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();
    const late = await api('POST', `/api/campaigns/${name}/pause`);
    assert.equal(late.status, 200, 'no longer running: nothing to pause, not an error (§5a)');
    assert.match(String(late.json.message), /is not running \(status stopped\): nothing to pause/);
  });

  test('a redial for a cached contact moves its timer; it is dialed once', async () => {
    const name = uid('crm');
    await createCampaign(stack.env, name);
    const [id] = await insertContacts(stack.db, name, [testPhone()], {
      contact_successful: 2,
      number_of_contacts: 1,
      redial_time: new Date(Date.now() + 40_000),
    });
    assert.equal(
      (await api('POST', `/api/campaigns/${name}/start`, { lookahead: '60s', untilEmpty: true })).status,
      202,
    );
    const child = stack.client.workflow.getHandle(contactWorkflowId(name, id!));
    await eventually(async () => (await child.query(contactStatusQuery)).phase === 'waiting', 20_000);
    const at = new Date(Date.now() + 2000).toISOString();
    const pushed = await api('POST', `/api/contacts/${id}/redial`, { at });
    assert.equal(pushed.status, 200, JSON.stringify(pushed.json));
    assert.equal(pushed.json.how, 'cached');
    await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();
    const calls = stack.sim.calls({ to: (await contact(id!)).phone_number });
    assert.equal(calls.length, 1, 'one call, at the new time');
    assert.ok(Date.parse(calls[0]!.createdAt) >= Date.parse(at));
    assert.ok(Date.parse(calls[0]!.createdAt) < Date.parse(at) + 30_000, 'not at the old time');
  });

  test('bad requests are refused and change nothing', async () => {
    const name = uid('crm');
    await createCampaign(stack.env, name);
    const [id] = await insertContacts(stack.db, name, [testPhone()]);
    const before = await contact(id!);
    const cases: [string, string, string, unknown, number, RegExp, string | null][] = [
      ['no token', 'POST', `/api/contacts/${id}/redial`, { at: '+5m' }, 401, /bearer token/, null],
      [
        'a bad time',
        'POST',
        `/api/contacts/${id}/redial`,
        { at: 'tomorrow' },
        400,
        /is not a time/,
        API_TOKEN,
      ],
      ['a missing time', 'POST', `/api/contacts/${id}/redial`, {}, 400, /at/, API_TOKEN],
      [
        'an unknown field',
        'POST',
        `/api/contacts/${id}/redial`,
        { at: '+5m', x: 1 },
        400,
        /additional/,
        API_TOKEN,
      ],
      [
        'an unknown contact',
        'POST',
        '/api/contacts/999999999/redial',
        { at: '+5m' },
        404,
        /No contact/,
        API_TOKEN,
      ],
      [
        'a contact id that is no number',
        'POST',
        '/api/contacts/abc/redial',
        { at: '+5m' },
        400,
        /id/,
        API_TOKEN,
      ],
      [
        'release of a contact not cached',
        'POST',
        `/api/contacts/${id}/release`,
        {},
        409,
        /not in a campaign's cache/,
        API_TOKEN,
      ],
      ['a bad hold', 'POST', `/api/contacts/${id}/release`, { hold: 'forever' }, 400, /hold/, API_TOKEN],
      ['an unknown campaign', 'POST', '/api/campaigns/nope-x/start', {}, 404, /Unknown campaign/, API_TOKEN],
      [
        'a bad campaign option',
        'POST',
        `/api/campaigns/${name}/start`,
        { lookahead: 'later' },
        400,
        /lookahead/,
        API_TOKEN,
      ],
    ];
    for (const [what, method, path, body, status, message, token] of cases) {
      const r = await api(method, path, body, token);
      assert.equal(r.status, status, `${what}: ${JSON.stringify(r.json)}`);
      assert.match(String(r.json.detail), message, what);
    }
    assert.deepEqual(await contact(id!), before, 'the contact is unchanged');
    const wf = await stack.client.workflow
      .getHandle(campaignWorkflowId(name))
      .describe()
      .catch(() => null);
    assert.equal(wf, null, 'the campaign was not started');
  });
});
