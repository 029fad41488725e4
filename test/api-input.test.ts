/**
 * Strict input against the real stack: every bad value the hostile
 * probe sent (NUL in text, `data` 5,000 deep, a 20-digit id, `+100000000d`, 2026-02-30, a number
 * with trailing characters or an extension) is a 4xx naming the field and writes nothing; zones
 * are stored canonical; a number already in the campaign (or twice in a request) is a 409 naming
 * the contact unless `allowDuplicateNumber`, and holds when 20 requests race; campaign names
 * compare without case or surrounding spaces; a CSV with a column twice is refused.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { campaignWorkflowId } from '../workflows/shared';
import {
  API_TOKEN,
  type Stack,
  createCampaign,
  insertContacts,
  runCli,
  startStack,
  testPhone,
  uid,
} from '../harness/stack';

const national = (e164: string) => `(${e164.slice(2, 5)}) ${e164.slice(5, 8)}-${e164.slice(8)}`;
/** `{"a":{"a":…1}}`, `depth` objects deep, as text (JSON.stringify of 5,000 levels overflows the stack). */
const deepText = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
const nested = (depth: number) => JSON.parse(deepText(depth)) as object;

describe('strict input and duplicate numbers', { timeout: 240_000 }, () => {
  let stack: Stack;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'api-input-'));
  before(async () => {
    stack = await startStack({}, { worker: false });
  });
  after(async () => {
    await stack?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const api = async (method: string, urlPath: string, body?: unknown) => {
    const res = await fetch(stack.serverUrl + urlPath, {
      method,
      headers: {
        authorization: `Bearer ${API_TOKEN}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, unknown>;
    return { status: res.status, json, said: JSON.stringify(json) };
  };
  const count = async (campaign: string) =>
    (
      await stack.db.sql<
        { n: number }[]
      >`select count(*)::int as n from contacts where campaign_name = ${campaign}`
    )[0]!.n;
  const post = (campaign: string, contact: Record<string, unknown>, extra: object = {}) =>
    api('POST', '/api/contacts', { campaign, contacts: [contact], ...extra });

  test('every bad value is a 4xx naming its field, and nothing is written', async () => {
    const name = uid('input');
    await createCampaign(stack.env, name);
    const [id] = await insertContacts(stack.db, name, [testPhone()]);
    const row = async () =>
      (
        await stack.db.sql`select redial_time, hold_until, contact_successful from contacts where id = ${id!}`
      )[0];
    const before = await row();
    const phone = testPhone();
    const bodies: [string, unknown, RegExp][] = [
      [
        'NUL in a name',
        { campaign: name, contacts: [{ phoneNumber: phone, name: 'a\u0000b' }] },
        /\/contacts\/0\/name/,
      ],
      [
        'NUL in data',
        { campaign: name, contacts: [{ phoneNumber: phone, data: { n: 'x\u0000' } }] },
        /\/contacts\/0\/data/,
      ],
      [
        'NUL in a data key',
        { campaign: name, contacts: [{ phoneNumber: phone, data: { 'k\u0000': 1 } }] },
        /\/contacts\/0\/data/,
      ],
      [
        'NUL in the campaign',
        { campaign: `${name}\u0000`, contacts: [{ phoneNumber: phone }] },
        /\/campaign/,
      ],
      [
        'a name of 201 characters',
        { campaign: name, contacts: [{ phoneNumber: phone, name: 'x'.repeat(201) }] },
        /name/,
      ],
      [
        'data 9 deep',
        { campaign: name, contacts: [{ phoneNumber: phone, data: nested(9) }] },
        /deeper than 8/,
      ],
      [
        'data over 16 KB',
        { campaign: name, contacts: [{ phoneNumber: phone, data: { s: 'x'.repeat(17_000) } }] },
        /more than 16384/,
      ],
      [
        'a redial 100000000 days ahead',
        { campaign: name, contacts: [{ phoneNumber: phone, redialTime: '+100000000d' }] },
        /\/contacts\/0\/redialTime.*out of range/,
      ],
      [
        'February 30',
        { campaign: name, contacts: [{ phoneNumber: phone, redialTime: '2026-02-30T10:00:00Z' }] },
        /not a real time/,
      ],
      [
        'hour 24',
        { campaign: name, contacts: [{ phoneNumber: phone, redialTime: '2026-02-28T24:00:00Z' }] },
        /not a real time/,
      ],
      [
        'an unknown zone',
        { campaign: name, contacts: [{ phoneNumber: phone, timeZone: 'Mars/Olympus' }] },
        /\/contacts\/0\/timeZone/,
      ],
      [
        'trailing characters',
        { campaign: name, contacts: [{ phoneNumber: `${phone}x` }] },
        /\/contacts\/0\/phoneNumber.*is not a phone number/,
      ],
      [
        'an extension',
        { campaign: name, contacts: [{ phoneNumber: `${phone} ext. 5` }] },
        /\/contacts\/0\/phoneNumber.*has an extension/,
      ],
      ['an empty number', { campaign: name, contacts: [{ phoneNumber: ' ' }] }, /is empty/],
    ];
    for (const [what, body, said] of bodies) {
      const r = await api('POST', '/api/contacts', body);
      assert.equal(r.status, 400, `${what}: ${r.said.slice(0, 300)}`);
      assert.match(r.said, said, what);
    }
    const deep = await api(
      'POST',
      '/api/contacts',
      `{"campaign":${JSON.stringify(name)},"contacts":[{"phoneNumber":"${phone}","data":${deepText(5000)}}]}`,
    );
    assert.equal(deep.status, 400, `data 5,000 deep: ${deep.said.slice(0, 300)}`);

    const big = '99999999999999999999';
    const requests: [string, string, string, unknown][] = [
      ['a 20-digit id', 'GET', `/api/contacts/${big}`, undefined],
      ['id 0', 'GET', '/api/contacts/0', undefined],
      ['a negative id', 'GET', '/api/contacts/-1', undefined],
      ['a 20-digit id in events', 'GET', `/api/contacts/${big}/events`, undefined],
      ['a 20-digit id to redial', 'POST', `/api/contacts/${big}/redial`, { at: '+5m' }],
      ['a redial 100000000 days ahead', 'POST', `/api/contacts/${id}/redial`, { at: '+100000000d' }],
      ['a redial on February 30', 'POST', `/api/contacts/${id}/redial`, { at: '2026-02-30T10:00:00Z' }],
      ['a reset at a time beyond 2200', 'POST', `/api/contacts/${id}/reset`, { at: '2300-01-01T00:00:00Z' }],
      ['a hold of 100000000 days', 'POST', `/api/contacts/${id}/release`, { hold: '100000000d' }],
      ['a history of 1e20 events', 'POST', `/api/campaigns/${name}/start`, { maxHistory: 1e20 }],
      [
        'a refill interval of 100000000 days',
        'POST',
        `/api/campaigns/${name}/start`,
        { refillInterval: '100000000d' },
      ],
      ['NUL in a path parameter', 'PUT', '/api/agents/client:a%00b', { name: 'x' }],
      ['NUL in a query parameter', 'GET', '/api/agents?campaign=a%00b', undefined],
      ['NUL in a skip reason', 'POST', '/api/agents/client:nobody/skip', { reason: 'a\u0000b' }],
      ['a 20-digit contact id to take', 'POST', '/api/agents/client:nobody/take', { contactId: 1e20 }],
    ];
    for (const [what, method, url, body] of requests) {
      const r = await api(method, url, body);
      assert.equal(r.status, 400, `${what}: ${r.said.slice(0, 300)}`);
    }
    assert.equal(await count(name), 1, 'no contact was added');
    assert.deepEqual(await row(), before, 'the contact is unchanged');
    const wf = await stack.client.workflow
      .getHandle(campaignWorkflowId(name))
      .describe()
      .catch(() => null);
    assert.equal(wf, null, 'the campaign was not started');
  });

  test('good values at the limits are stored; zones canonical, numbers E.164', async () => {
    const name = uid('input');
    await createCampaign(stack.env, name);
    const phone = testPhone();
    const r = await post(name, {
      phoneNumber: ` ${national(phone)} `,
      name: 'n'.repeat(200),
      timeZone: 'europe/berlin',
      redialTime: '2028-02-29T10:00:00+01:00',
      data: nested(8),
    });
    assert.equal(r.status, 201, r.said);
    const [id] = r.json.ids as number[];
    const [got] = await stack.db.sql<
      { phone_number: string; time_zone: string; redial_time: Date; contact_successful: number }[]
    >`select phone_number, time_zone, redial_time, contact_successful from contacts where id = ${id!}`;
    assert.deepEqual(
      [got!.phone_number, got!.time_zone, got!.redial_time.toISOString(), got!.contact_successful],
      [phone, 'Europe/Berlin', '2028-02-29T09:00:00.000Z', 2],
    );
  });

  test('a number already in the campaign is a 409 naming the contact, unless allowDuplicateNumber', async () => {
    const name = uid('dup');
    const other = uid('dup');
    await createCampaign(stack.env, name);
    await createCampaign(stack.env, other);
    const phone = testPhone();
    // written by the CRM with SQL, in national form
    const [existing] = await insertContacts(stack.db, name, [national(phone)]);

    const refused = await post(name, { phoneNumber: phone });
    assert.equal(refused.status, 409, refused.said);
    assert.match(refused.said, new RegExp(`already in campaign .*\\(contact ${existing}\\)`));
    assert.match(refused.said, /\/contacts\/0\/phoneNumber/);
    assert.match(refused.said, /allowDuplicateNumber/);

    const fresh = testPhone();
    const twice = await api('POST', '/api/contacts', {
      campaign: name,
      contacts: [{ phoneNumber: fresh }, { phoneNumber: national(fresh) }],
    });
    assert.equal(twice.status, 409, twice.said);
    assert.match(twice.said, /\/contacts\/1\/phoneNumber.*already at \/contacts\/0 of this request/);
    assert.deepEqual(
      (twice.json.errors as { field: string }[]).map((e) => e.field),
      ['/contacts/1/phoneNumber'],
      'each problem in errors, with its field',
    );
    assert.equal(await count(name), 1, 'nothing was added');

    const allowed = await post(name, { phoneNumber: phone }, { allowDuplicateNumber: true });
    assert.equal(allowed.status, 201, allowed.said);
    assert.equal((await post(other, { phoneNumber: phone })).status, 201, 'another campaign may have it');
    assert.equal(await count(name), 2);
  });

  test('20 parallel requests for one new number (no key) add it once', async () => {
    const name = uid('race');
    await createCampaign(stack.env, name);
    const phone = testPhone();
    const answers = await Promise.all(Array.from({ length: 20 }, () => post(name, { phoneNumber: phone })));
    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [201, ...Array<number>(19).fill(409)], JSON.stringify(statuses));
    assert.equal(await count(name), 1);
  });

  test('campaign names compare without case or surrounding spaces', async () => {
    const base = uid('probe');
    await createCampaign(stack.env, base);
    const upper = await runCli(
      ['campaign', 'create', base.toUpperCase(), '--caller-id', '+15005550006'],
      stack.env,
    );
    assert.equal(upper.code, 1, upper.stdout);
    assert.match(
      upper.stderr,
      new RegExp(`differs from the existing campaign "${base}" only by case or spaces`),
    );
    const spaced = await runCli(['campaign', 'create', `${base} `, '--caller-id', '+15005550006'], stack.env);
    assert.equal(spaced.code, 1, spaced.stdout);
    assert.match(spaced.stderr, new RegExp(`A campaign named "${base}" already exists`));

    const zoned = uid('zone');
    await createCampaign(stack.env, zoned, '--time-zone', 'europe/berlin');
    const [z] = await stack.db.sql<
      { time_zone: string }[]
    >`select time_zone from campaigns where name = ${zoned}`;
    assert.equal(z!.time_zone, 'Europe/Berlin', 'the campaign zone is stored canonical');

    const trail = uid('trail');
    const created = await runCli(
      ['campaign', 'create', `${trail}  `, '--caller-id', '+15005550006'],
      stack.env,
    );
    assert.equal(created.code, 0, created.stderr);
    const names = await stack.db.sql<{ name: string }[]>`
      select name from campaigns where lower(btrim(name)) in (${base.toLowerCase()}, ${trail.toLowerCase()}) order by name`;
    assert.deepEqual(
      names.map((r) => r.name),
      [base, trail].sort(),
      'stored trimmed, one each',
    );
    // the index holds it for writers that skip the check (a race, or SQL)
    await assert.rejects(
      stack.db
        .sql`insert into campaigns (name, caller_id, retry_rules) values (${` ${base.toUpperCase()}`}, '+15005550006', '{}')`,
      /campaigns_name_folded_idx/,
    );
    const near = await api('GET', `/api/campaigns/${base.toUpperCase()}`);
    assert.equal(near.status, 404);
    assert.match(near.said, new RegExp(`did you mean \\\\"${base}\\\\"`));
  });

  test('the CSV import keeps the same rules, and refuses a column given twice', async () => {
    const name = uid('csv');
    await createCampaign(stack.env, name);
    const file = (f: string, text: string) => {
      const p = path.join(dir, f);
      fs.writeFileSync(p, text);
      return p;
    };
    const twice = await runCli(
      [
        'contacts',
        'import',
        file('twice.csv', `phone_number,name,Name\n${testPhone()},a,b\n`),
        '--campaign',
        name,
      ],
      stack.env,
    );
    assert.equal(twice.code, 1, twice.stdout);
    assert.match(twice.stderr, /the header has the column name twice/);

    const [a, b, c, d, e] = [testPhone(), testPhone(), testPhone(), testPhone(), testPhone()];
    const bad = file(
      'bad.csv',
      [
        'phone_number,name,time_zone,redial_time,note',
        `${a}x,,,,`, // 2 trailing characters
        `${b} ext. 5,,,,`, // 3 an extension
        `${c},a\u0000b,,,`, // 4 NUL in the name
        `${d},${'x'.repeat(201)},,,`, // 5 a name too long
        `${e},,,2026-02-30T10:00:00Z,`, // 6 February 30
        `${testPhone()},,,+100000000d,`, // 7 too far ahead
        `${testPhone()},,,,x\u0000`, // 8 NUL in data
      ].join('\n') + '\n',
    );
    const refused = await runCli(['contacts', 'import', bad, '--campaign', name], stack.env);
    assert.equal(refused.code, 1);
    const expected: [number, RegExp][] = [
      [2, /phone_number ".*x" is not a phone number/],
      [3, /has an extension/],
      [4, /name contains a NUL character/],
      [5, /name is longer than 200 characters/],
      [6, /redial_time: .* is not a real time/],
      [7, /redial_time: .* is out of range/],
      [8, /contains a NUL character/],
    ];
    for (const [line, message] of expected) {
      const reported = refused.stderr.split('\n').find((l) => l.includes(`line ${line}:`));
      assert.ok(reported, `line ${line} is reported: ${refused.stderr}`);
      assert.match(reported, message);
    }
    assert.equal(await count(name), 0, 'nothing imported');

    const good = file('good.csv', `phone_number,time_zone\n${a},america/new_york\n`);
    assert.equal((await runCli(['contacts', 'import', good, '--campaign', name], stack.env)).code, 0);
    const [row] = await stack.db.sql<
      { time_zone: string }[]
    >`select time_zone from contacts where campaign_name = ${name}`;
    assert.equal(row!.time_zone, 'America/New_York', 'stored canonical');
  });
});
