/**
 * Idempotency-Key on the API's POSTs (§8, §9.10) against the real stack: the probe's 20 parallel
 * POSTs of one number with one key (a CRM retrying after a timeout) write one row and all answer
 * the same; a later retry replays status and body and writes nothing; the same key with another
 * body is 422; a refusal is replayed as it was; bad keys are refused; expired keys are taken over
 * and cleaned up.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { API_TOKEN, type Stack, createCampaign, startStack, testPhone, uid } from '../harness/stack';

describe('Idempotency-Key', { timeout: 180_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({}, { worker: false });
  });
  after(async () => stack?.stop());

  const post = async (urlPath: string, body: unknown, key?: string) => {
    const res = await fetch(stack.serverUrl + urlPath, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${API_TOKEN}`,
        'content-type': 'application/json',
        ...(key === undefined ? {} : { 'idempotency-key': key }),
      },
      body: JSON.stringify(body),
    });
    return {
      status: res.status,
      text: await res.text(),
      replayed: res.headers.get('idempotent-replayed') === 'true',
      type: res.headers.get('content-type'),
    };
  };
  const count = async (campaign: string) =>
    (
      await stack.db.sql<
        { n: number }[]
      >`select count(*)::int as n from contacts where campaign_name = ${campaign}`
    )[0]!.n;
  const key = () => crypto.randomUUID();

  test('20 parallel POSTs with one key write one row and all answer the same', async () => {
    const name = uid('idem');
    await createCampaign(stack.env, name);
    const body = { campaign: name, contacts: [{ phoneNumber: testPhone(), name: 'Ada' }] };
    const k = key();
    const answers = await Promise.all(Array.from({ length: 20 }, () => post('/api/contacts', body, k)));
    assert.deepEqual(
      answers.map((a) => a.status),
      Array<number>(20).fill(201),
      answers.map((a) => a.text).join('\n'),
    );
    assert.equal(new Set(answers.map((a) => a.text)).size, 1, 'one body for all');
    assert.equal(answers.filter((a) => !a.replayed).length, 1, 'one answered, 19 replayed');
    assert.equal(await count(name), 1, 'one row');

    // a retry long after: the same answer again, nothing written
    const again = await post('/api/contacts', body, k);
    assert.deepEqual([again.status, again.text, again.replayed], [201, answers[0]!.text, true]);
    assert.match(String(again.type), /json/);
    assert.equal(await count(name), 1);
  });

  test('the same key with another request is 422; a refusal is replayed as it was', async () => {
    const name = uid('idem');
    await createCampaign(stack.env, name);
    const phone = testPhone();
    const k = key();
    const first = await post('/api/contacts', { campaign: name, contacts: [{ phoneNumber: phone }] }, k);
    assert.equal(first.status, 201, first.text);
    const other = await post(
      '/api/contacts',
      { campaign: name, contacts: [{ phoneNumber: testPhone() }] },
      k,
    );
    assert.equal(other.status, 422, other.text);
    assert.match(other.text, /used with another request/);
    const elsewhere = await post(`/api/campaigns/${name}/stop`, {}, k);
    assert.equal(elsewhere.status, 422, 'another path with the key');
    assert.equal(await count(name), 1, 'nothing more written');

    // without allowDuplicateNumber the number is refused; the refusal is what a retry sees
    const k2 = key();
    const refused = await post('/api/contacts', { campaign: name, contacts: [{ phoneNumber: phone }] }, k2);
    assert.equal(refused.status, 409, refused.text);
    const replay = await post('/api/contacts', { campaign: name, contacts: [{ phoneNumber: phone }] }, k2);
    assert.deepEqual([replay.status, replay.text, replay.replayed], [409, refused.text, true]);
    assert.match(String(replay.type), /problem\+json|json/);

    // any POST of the API: a campaign control request too
    const k3 = key();
    const stop = await post(`/api/campaigns/${name}/stop`, {}, k3);
    const stopAgain = await post(`/api/campaigns/${name}/stop`, {}, k3);
    assert.deepEqual([stopAgain.status, stopAgain.text, stopAgain.replayed], [stop.status, stop.text, true]);
  });

  test('the key is documented in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${stack.serverUrl}/docs/json`)).json()) as {
      paths: Record<string, { post?: { parameters?: { name: string; in: string }[] } }>;
    };
    const params = doc.paths['/api/contacts']?.post?.parameters ?? [];
    assert.ok(
      params.some((p) => p.in === 'header' && p.name.toLowerCase() === 'idempotency-key'),
      JSON.stringify(params),
    );
  });

  test('keys must be 1 to 255 visible characters', async () => {
    const name = uid('idem');
    await createCampaign(stack.env, name);
    const body = { campaign: name, contacts: [{ phoneNumber: testPhone() }] };
    const long = await post('/api/contacts', body, 'k'.repeat(256));
    assert.equal(long.status, 400, long.text);
    assert.match(long.text, /idempotency-key/i);
    const spaced = await post('/api/contacts', body, 'a key');
    assert.equal(spaced.status, 400, spaced.text);
    assert.equal(await count(name), 0, 'nothing written');
    const ok = await post('/api/contacts', body, key().padEnd(255, 'k'));
    assert.equal(ok.status, 201, ok.text);
  });

  test('an expired key is taken over, and expired keys are cleaned up', async () => {
    const name = uid('idem');
    await createCampaign(stack.env, name);
    const [expired, stale] = [key(), key()];
    const past = new Date(Date.now() - 3_600_000);
    await stack.db.sql`
      insert into idempotency_keys (key, request_hash, status, body, locked_until, expires_at)
      values (${expired}, 'another request', 201, '{}', ${past}, ${past}),
             (${stale}, 'another request', 201, '{}', ${past}, ${past})`;
    const body = { campaign: name, contacts: [{ phoneNumber: testPhone() }] };
    const r = await post('/api/contacts', body, expired);
    assert.equal(r.status, 201, r.text);
    assert.equal(r.replayed, false, 'answered anew: the old answer had expired');
    const left = await stack.db.sql`select key from idempotency_keys where key = ${stale}`;
    assert.equal(left.length, 0, 'the other expired key was dropped');
    assert.equal(await count(name), 1);
  });
});
