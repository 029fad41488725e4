/**
 * The console's safety, over plain HTTP against the real stack: no page or fragment answers
 * without the session cookie; a POST without the session's CSRF token, or sent from another
 * origin, is refused 403 and changes nothing (the same POST done right does change it); without
 * DIALER_API_TOKEN the console says it is off; and no page, fragment or URL the console emits holds
 * a contact's full number (nor the caller id's), after the campaign has dialed them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../infra/logger';
import { payloadCodecFor } from '../infra/payload-codec';
import { SIMULATOR_AUTH_TOKEN } from '../infra/config';
import { upsertAgent } from '../ops/agents';
import { createCampaign } from '../ops/campaign-operations';
import { buildServer } from '../server/app';
import { DEFAULT_RETRY_RULES, LastState } from '../domain/contract';
import { campaignWorkflowId } from '../workflows/shared';
import {
  API_TOKEN,
  type Stack,
  cfg,
  eventually,
  insertContacts,
  startStack,
  testPhone,
  uid,
} from '../harness/stack';

const CALLER = '+15005550006';

/** A signed-in client of the console: its cookie, and the CSRF token its pages carry. */
async function signIn(base: string): Promise<{ cookie: string; csrf: string }> {
  const res = await fetch(`${base}/console/sign-in`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: API_TOKEN }),
  });
  assert.equal(res.status, 303);
  const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
  const page = await (await fetch(`${base}/console`, { headers: { cookie } })).text();
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page)?.[1];
  assert.ok(csrf, 'the page carries its CSRF token');
  return { cookie, csrf };
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

describe('the console refuses what it must, and shows no number', { timeout: 180_000 }, () => {
  let stack: Stack;
  let base: string;
  const name = uid('console-safety');
  const phones = Array.from({ length: 4 }, testPhone);
  const agentPhone = testPhone();

  before(async () => {
    stack = await startStack({ timeScale: 0.05 });
    base = stack.serverUrl;
    stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 2 } });
    await createCampaign(stack.db, {
      name,
      callerId: CALLER,
      lines: 2,
      callsPerSecond: 50,
      retryRules: DEFAULT_RETRY_RULES,
      callingWindow: 'daily 00:00-24:00',
      // its agent is offline: without agents in the calls, the campaign dials up to its lines
      dialingMode: 'agentless',
    });
    await insertContacts(stack.db, name, [...phones, 'call me maybe 5550199']);
    await upsertAgent(stack.db.sql, { endpoint: agentPhone, name: 'Ada', campaign: name, status: 'offline' });
    const [first] = await stack.db.sql<{ id: string }[]>`
      select id from contacts where campaign_name = ${name} and phone_number = ${phones[0]!}`;
    contactId = first!.id;
    const [agent] = await stack.db.sql<
      { id: number }[]
    >`select id from agents where endpoint = ${agentPhone}`;
    agentId = agent!.id;
  });
  const importCsv = `phone_number,name\n${testPhone()},Imported\n`;
  const contactsNamed = async (who: string) =>
    (await stack.db.sql`select 1 from contacts where campaign_name = ${name} and name = ${who}`).length;
  const agentStatus = async () =>
    (await stack.db.sql<{ status: string }[]>`select status from agents where id = ${agentId}`)[0]?.status;
  const listed = async (phone: string) =>
    (await stack.db.sql`select 1 from banned_numbers where phone_number = ${phone}`).length > 0;
  const redialTime = async () =>
    (
      await stack.db.sql<
        { redial_time: Date | null }[]
      >`select redial_time from contacts where id = ${contactId}`
    )[0]?.redial_time;
  after(async () => {
    await stack?.stop();
  });

  const status = async () =>
    (await stack.db.sql<{ status: string }[]>`select status from campaigns where name = ${name}`)[0]?.status;
  const lines = async () =>
    (await stack.db.sql<{ lines: number }[]>`select lines from campaigns where name = ${name}`)[0]?.lines;
  const workflowExists = () =>
    stack.client.workflow
      .getHandle(campaignWorkflowId(name))
      .describe()
      .then(() => true)
      .catch(() => false);

  let contactId = '';
  let agentId = 0;
  const paths = () => {
    const c = `/console/campaigns/${encodeURIComponent(name)}`;
    return [
      '/console/contacts',
      `/console/contacts/${contactId}`,
      `/console/contacts/${contactId}/detail`,
      '/console/import',
      '/console/dnc',
      '/console/dnc/list',
      '/console/agents',
      '/console/agents/board',
      '/console',
      '/console/fragments/campaigns',
      c,
      `${c}/live`,
      `${c}/edit`,
      `${c}/stop`,
      '/console/new-campaign',
    ];
  };

  test('no page or fragment answers without the session cookie', async () => {
    for (const path of [...paths(), '/console/no-such-page']) {
      const res = await fetch(`${base}${path}`, { redirect: 'manual' });
      assert.equal(res.status, 303, path);
      assert.equal(res.headers.get('location'), '/console/sign-in', path);
      assert.ok(!(await res.text()).includes(name), `${path} names nothing`);
      const htmx = await fetch(`${base}${path}`, { redirect: 'manual', headers: { 'HX-Request': 'true' } });
      assert.equal(htmx.status, 401, `${path} (htmx)`);
      assert.equal(htmx.headers.get('hx-redirect'), '/console/sign-in');
    }
    const forged = `dialer_console=${Date.now()}.${'A'.repeat(43)}`;
    const res = await fetch(`${base}/console`, { redirect: 'manual', headers: { cookie: forged } });
    assert.equal(res.status, 303, 'a forged cookie is no session');
    const post = await fetch(`${base}/console/campaigns/${encodeURIComponent(name)}/start`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form({}),
    });
    assert.equal(post.status, 303);
    assert.equal(await workflowExists(), false, 'nothing started');
    for (const asset of ['/console/assets/htmx.min.js', '/console/assets/console.css', '/console/sign-in'])
      assert.equal((await fetch(`${base}${asset}`)).status, 200, asset);
  });

  test('a POST without the CSRF token, with another one, or from another origin is refused 403 and changes nothing', async () => {
    const { cookie, csrf } = await signIn(base);
    const startUrl = `${base}/console/campaigns/${encodeURIComponent(name)}/start`;
    const editUrl = `${base}/console/campaigns/${encodeURIComponent(name)}/edit`;
    const headers = { cookie, 'content-type': 'application/x-www-form-urlencoded' };
    const refused = [
      { url: startUrl, headers, body: form({}) },
      { url: startUrl, headers, body: form({ _csrf: `${csrf.slice(0, -2)}xx` }) },
      { url: startUrl, headers: { ...headers, 'X-CSRF-Token': 'nope' }, body: form({}) },
      { url: startUrl, headers: { ...headers, origin: 'http://evil.example' }, body: form({ _csrf: csrf }) },
      {
        url: startUrl,
        headers: { ...headers, referer: 'http://evil.example/x' },
        body: form({ _csrf: csrf }),
      },
      { url: editUrl, headers, body: form({ lines: '9' }) },
      { url: editUrl, headers: { ...headers, origin: 'null' }, body: form({ _csrf: csrf, lines: '9' }) },
      { url: `${base}/console/new-campaign`, headers, body: form({ name: `${name}-2`, callerId: CALLER }) },
      { url: `${base}/console/contacts/${contactId}/redial`, headers, body: form({ at: '+1h' }) },
      {
        url: `${base}/console/contacts/${contactId}/redial`,
        headers: { ...headers, origin: 'http://evil.example' },
        body: form({ _csrf: csrf, at: '+1h' }),
      },
      { url: `${base}/console/contacts/${contactId}/release`, headers, body: form({}) },
      { url: `${base}/console/contacts/${contactId}/reset`, headers, body: form({}) },
      { url: `${base}/console/contacts/${contactId}/number`, headers, body: form({}) },
      { url: `${base}/console/contacts/search`, headers, body: form({ q: phones[0]!.slice(-7) }) },
      { url: `${base}/console/import/check`, headers, body: form({ campaign: name, csv: importCsv }) },
      { url: `${base}/console/import`, headers, body: form({ campaign: name, csv: importCsv }) },
      { url: `${base}/console/dnc/add`, headers, body: form({ number: phones[1]! }) },
      { url: `${base}/console/dnc/import`, headers, body: form({ lines: phones[1]! }) },
      { url: `${base}/console/dnc/remove`, headers, body: form({ number: agentPhone }) },
      { url: `${base}/console/agents/${agentId}/status`, headers, body: form({ status: 'available' }) },
    ];
    for (const r of refused) {
      const res = await fetch(r.url, {
        method: 'POST',
        redirect: 'manual',
        headers: r.headers,
        body: r.body,
      });
      assert.equal(res.status, 403, `${r.url} ${r.body} ${JSON.stringify(r.headers)}`);
      assert.ok(!(await res.text()).includes(phones[0]!.slice(2)), `${r.url} shows no number`);
    }
    assert.equal(await redialTime(), null, 'no redial written');
    assert.equal(await contactsNamed('Imported'), 0, 'no contact imported');
    assert.equal(await listed(phones[1]!), false, 'nothing on the do-not-call list');
    assert.equal(await agentStatus(), 'offline', 'the agent left as it was');
    assert.equal(await status(), 'idle');
    assert.equal(await workflowExists(), false);
    assert.equal(await lines(), 2);
    const twin = await stack.db.sql`select 1 from campaigns where name = ${`${name}-2`}`;
    assert.equal(twin.length, 0);

    // the same request done right does what it says: the refusals above were the token's and the origin's
    const ok = await fetch(startUrl, {
      method: 'POST',
      headers: { ...headers, origin: base, 'X-CSRF-Token': csrf, 'HX-Request': 'true' },
      body: form({}),
    });
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /Started campaign/);
    await eventually(async () => (await status()) === 'running', 30_000, 'the campaign running');
  });

  test('no page, fragment or URL of the console holds a full phone number', async () => {
    await eventually(
      async () =>
        (
          await stack.db
            .sql`select 1 from contacts where campaign_name = ${name} and contact_successful in (1, -1)`
        ).length ===
        phones.length + 1,
      60_000,
      'every contact dialed (or skipped)',
    );
    const { cookie } = await signIn(base);
    const digits = (p: string) => p.replace(/^\+1/, '');
    for (const path of paths()) {
      const res = await fetch(`${base}${path}`, { headers: { cookie } });
      assert.equal(res.status, 200, path);
      const body = await res.text();
      if (
        !['/console/new-campaign', '/console/contacts', '/console/import'].includes(path) &&
        !path.includes('dnc')
      )
        assert.ok(body.includes(name), `${path} is about the campaign`);
      for (const p of [...phones, agentPhone, CALLER]) {
        assert.ok(!body.includes(p) && !body.includes(digits(p)), `${path} shows ${p}`);
        assert.ok(!body.includes(encodeURIComponent(p)), `${path} puts ${p} in a URL`);
      }
      assert.ok(!body.includes('5550199'), `${path} shows the unparsable number`);
    }
    const live = await (
      await fetch(`${base}/console/campaigns/${encodeURIComponent(name)}`, { headers: { cookie } })
    ).text();
    assert.ok(live.includes('+1500'), 'the masked caller id and agent are shown');
    assert.match(live, /not a phone number/, 'the unparsable contact is held back by its rule');
  });

  test('a contact is found by its number’s last digits, shown masked, its number shown only when asked by POST', async () => {
    const { cookie, csrf } = await signIn(base);
    const headers = { cookie, 'content-type': 'application/x-www-form-urlencoded', origin: base };
    const search = await fetch(`${base}/console/contacts/search`, {
      method: 'POST',
      headers,
      body: form({ _csrf: csrf, q: phones[0]!.slice(-7) }),
    });
    assert.equal(search.status, 200);
    const found = await search.text();
    assert.ok(found.includes(`/console/contacts/${contactId}"`), 'the contact is listed by its id');
    assert.ok(!found.includes(phones[0]!.slice(2)), 'its number is masked');
    assert.ok(found.includes(phones[0]!.slice(0, 5)), 'its masked number is shown');
    const contact = await (
      await fetch(`${base}/console/contacts/${contactId}`, { headers: { cookie } })
    ).text();
    assert.match(contact, /Show number/);
    const shown = await fetch(`${base}/console/contacts/${contactId}/number`, {
      method: 'POST',
      headers: { ...headers, 'X-CSRF-Token': csrf, 'HX-Request': 'true' },
      body: form({}),
    });
    assert.equal(shown.status, 200);
    assert.ok((await shown.text()).includes(phones[0]!), 'the number, in place');
  });

  test('a contact’s redial, release and reset do what they say, or say why not', async () => {
    const { cookie, csrf } = await signIn(base);
    const idle = uid('console-contact');
    await createCampaign(stack.db, { name: idle, callerId: CALLER, retryRules: DEFAULT_RETRY_RULES });
    const [id] = await insertContacts(stack.db, idle, [testPhone()]);
    const act = async (action: string, fields: Record<string, string> = {}) => {
      const res = await fetch(`${base}/console/contacts/${id}/${action}`, {
        method: 'POST',
        headers: {
          cookie,
          'content-type': 'application/x-www-form-urlencoded',
          origin: base,
          'HX-Request': 'true',
        },
        body: form({ _csrf: csrf, ...fields }),
      });
      return { status: res.status, text: await res.text() };
    };
    const row = async () =>
      (
        await stack.db.sql<{ contact_successful: number; redial_time: Date | null }[]>`
          select contact_successful, redial_time from contacts where id = ${id!}`
      )[0]!;
    const wrong = await act('redial', { at: 'tomorrow' });
    assert.equal(wrong.status, 400);
    assert.match(wrong.text, /&quot;tomorrow&quot; is not a time/);
    assert.equal((await row()).redial_time, null);
    const redial = await act('redial', { at: '+2h' });
    assert.equal(redial.status, 200);
    assert.match(redial.text, /its campaign is not running/);
    assert.ok((await row()).redial_time! > new Date(), 'the redial written');
    const release = await act('release');
    assert.equal(release.status, 409);
    assert.match(release.text, /is not in a campaign&#39;s cache/);
    const reset = await act('reset');
    assert.match(reset.text, /reset: NotUsed \(0\)/);
    assert.deepEqual(await row(), { contact_successful: 0, redial_time: null });
    const page = await (await fetch(`${base}/console/contacts/${id}`, { headers: { cookie } })).text();
    assert.match(page, /a redial was asked for/, 'the redial in its decisions');
    assert.match(page, /reset to NotUsed/, 'the reset in its decisions');
  });

  test('an import shows each bad line and writes nothing; a file without one is imported', async () => {
    const { cookie, csrf } = await signIn(base);
    const headers = { cookie, 'content-type': 'application/x-www-form-urlencoded', origin: base };
    const post = (url: string, csv: string) =>
      fetch(`${base}${url}`, { method: 'POST', headers, body: form({ _csrf: csrf, campaign: name, csv }) });
    const good = [testPhone(), testPhone()];
    const bad = `phone_number,name\n${good[0]},Grace\nnot a number,Grace\n${good[1]},Grace\n`;
    for (const url of ['/console/import/check', '/console/import']) {
      const res = await post(url, bad);
      assert.equal(res.status, 422, url);
      const body = await res.text();
      assert.match(body, /Nothing was imported/);
      assert.match(body, /<td>3<\/td>/, 'the bad line by its number');
      assert.ok(!body.includes(good[0]!.slice(2)), 'no number in the answer');
      assert.equal(await contactsNamed('Grace'), 0, `${url} wrote nothing`);
    }
    const fine = `phone_number,name\n${good[0]},Grace\n${good[1]},Grace\n`;
    const checked = await post('/console/import/check', fine);
    assert.equal(checked.status, 200);
    assert.match(await checked.text(), /No problems in 2 rows/);
    assert.equal(await contactsNamed('Grace'), 0, 'a check writes nothing');
    const imported = await post('/console/import', fine);
    assert.equal(imported.status, 200);
    assert.match(await imported.text(), /Imported 2 contacts/);
    assert.equal(await contactsNamed('Grace'), 2);
    const again = await (await post('/console/import', fine)).text();
    assert.match(again, /already in campaign/, 'a number the campaign has is refused');
    assert.ok(!again.includes(good[0]!.slice(2)), 'the number it quotes is masked');
    assert.equal(await contactsNamed('Grace'), 2);
  });

  test('a number put on the do-not-call list ends its contact Banned; a bad list adds nothing', async () => {
    const { cookie, csrf } = await signIn(base);
    const headers = { cookie, 'content-type': 'application/x-www-form-urlencoded', origin: base };
    const post = async (url: string, fields: Record<string, string>) => {
      const res = await fetch(`${base}${url}`, {
        method: 'POST',
        headers,
        body: form({ _csrf: csrf, ...fields }),
      });
      return { status: res.status, text: await res.text() };
    };
    const other = [testPhone(), testPhone()];
    const badList = await post('/console/dnc/import', { lines: `${other[0]}\nnot a number\n\n${other[1]}` });
    assert.equal(badList.status, 422);
    assert.match(badList.text, /Nothing was added/);
    assert.match(badList.text, /<td>2<\/td>/, 'the bad line by its number');
    assert.equal((await listed(other[0]!)) || (await listed(other[1]!)), false, 'nothing added');
    const goodList = await post('/console/dnc/import', { lines: `${other[0]}\n${other[1]}\n` });
    assert.match(goodList.text, /Added 2 numbers/);
    assert.ok((await listed(other[0]!)) && (await listed(other[1]!)));
    assert.match((await post('/console/dnc/remove', { number: other[1]! })).text, /Removed/);
    assert.equal(await listed(other[1]!), false);

    const banned = uid('console-dnc');
    const phone = testPhone();
    await createCampaign(stack.db, {
      name: banned,
      callerId: CALLER,
      retryRules: DEFAULT_RETRY_RULES,
      callingWindow: 'daily 00:00-24:00',
      dialingMode: 'agentless',
    });
    const [id] = await insertContacts(stack.db, banned, [phone]);
    // written as an operator types it: national format, normalised to E.164
    const added = await post('/console/dnc/add', {
      number: `(${phone.slice(2, 5)}) ${phone.slice(5, 8)}-${phone.slice(8)}`,
    });
    assert.equal(added.status, 200);
    assert.match(added.text, /Added \+1500/);
    assert.ok(!added.text.includes(phone.slice(2)), 'the answer shows it masked');
    assert.equal(await listed(phone), true);
    assert.equal((await post(`/console/campaigns/${encodeURIComponent(banned)}/start`, {})).status, 200);
    await eventually(
      async () =>
        (
          await stack.db.sql<
            { last_state: number | null }[]
          >`select last_state from contacts where id = ${id!}`
        )[0]?.last_state === LastState.Banned,
      60_000,
      'the contact Banned',
    );
    const page = await (await fetch(`${base}/console/contacts/${id}`, { headers: { cookie } })).text();
    assert.match(page, /Banned \(1000\)/);
  });

  test('the agent board shows an agent reached by phone masked, and sets its status', async () => {
    const { cookie, csrf } = await signIn(base);
    const board = await (await fetch(`${base}/console/agents`, { headers: { cookie } })).text();
    assert.ok(board.includes(agentPhone.slice(0, 5)) && !board.includes(agentPhone.slice(2)), 'masked');
    assert.match(board, /Ada/);
    const set = await fetch(`${base}/console/agents/${agentId}/status`, {
      method: 'POST',
      headers: {
        cookie,
        'content-type': 'application/x-www-form-urlencoded',
        origin: base,
        'HX-Request': 'true',
      },
      body: form({ _csrf: csrf, status: 'wrap-up' }),
    });
    assert.equal(set.status, 200);
    assert.match(await set.text(), /is wrap-up/);
    assert.equal(await agentStatus(), 'wrap-up');
    const refused = await fetch(`${base}/console/agents/${agentId}/status`, {
      method: 'POST',
      headers: {
        cookie,
        'content-type': 'application/x-www-form-urlencoded',
        origin: base,
        'HX-Request': 'true',
      },
      body: form({ _csrf: csrf, status: 'asleep' }),
    });
    assert.equal(refused.status, 400);
    assert.match(await refused.text(), /is not one of available/);
    await stack.db.sql`update agents set status = 'offline' where id = ${agentId}`;
  });

  test('without JavaScript, stop asks on a page of its own, and its form stops the campaign', async () => {
    const { cookie, csrf } = await signIn(base);
    const stopUrl = `${base}/console/campaigns/${encodeURIComponent(name)}/stop`;
    const ask = await (await fetch(stopUrl, { headers: { cookie } })).text();
    assert.match(ask, /Stop campaign “/);
    assert.equal(await status(), 'running', 'asking changed nothing');
    const res = await fetch(stopUrl, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', origin: base },
      body: form({ _csrf: csrf }),
    });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /[Ss]topping campaign/);
    await eventually(async () => (await status()) === 'stopped', 30_000, 'the campaign stopped');
  });

  test('without DIALER_API_TOKEN the console says it is off', async () => {
    const app = await buildServer({
      temporal: stack.client,
      db: stack.db,
      authToken: SIMULATOR_AUTH_TOKEN,
      publicBaseUrl: 'http://127.0.0.1',
      logger: createLogger('error', 'test'),
      taskQueue: stack.taskQueue,
      defaultRegion: 'US',
      payloadCodec: payloadCodecFor(cfg),
    });
    try {
      for (const url of ['/console', '/console/sign-in']) {
        const res = await app.inject({ url });
        assert.equal(res.statusCode, 503, url);
        assert.match(res.body, /set DIALER_API_TOKEN/);
      }
      const res = await app.inject({ url: '/console/sign-in', method: 'POST', payload: { token: '' } });
      assert.equal(res.statusCode, 503);
    } finally {
      await app.close();
    }
  });
});
