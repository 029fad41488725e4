/**
 * Temporal's payloads are encrypted (infra/payload-codec.ts): the codec itself, DIALER_PAYLOAD_KEYS
 * checks, the developer's key file, a production worker without keys, the histories of a real
 * campaign (no number and no name in clear anywhere in them) and the codec server that the
 * Temporal UI decodes them through.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from '@temporalio/client';
import { type Payload, defaultPayloadConverter } from '@temporalio/common';
import { ConfigError, parseConfig } from '../infra/config';
import { createLogger } from '../infra/logger';
import {
  EncryptionCodec,
  type PayloadJson,
  PayloadKeyError,
  payloadFromJson,
  payloadToJson,
} from '../infra/payload-codec';
import { devPayloadKeys } from '../infra/payload-keys';
import { buildServer } from '../server/app';
import { campaignWorkflowId } from '../workflows/shared';
import {
  API_TOKEN,
  type Stack,
  cfg,
  createCampaign,
  insertContacts,
  eventually,
  runCli,
  startStack,
  testPhone,
  uid,
} from '../harness/stack';

const keyText = (fill: number) => Buffer.alloc(32, fill).toString('base64');
const keysOf = (list: string) => parseConfig({ DIALER_PAYLOAD_KEYS: list }).payloadKeys;
const text = (p: Payload) => Buffer.from(p.data ?? []).toString('utf8');
const meta = (p: Payload, k: string) => Buffer.from(p.metadata?.[k] ?? []).toString('utf8');

describe('the payload codec', () => {
  const plain = defaultPayloadConverter.toPayload({ phone: '+15005550123', name: 'Ada Lovelace' });

  test('encrypts under the first key, and decrypts what it encrypted', async () => {
    const codec = new EncryptionCodec(keysOf(`k-new:${keyText(1)},k-old:${keyText(2)}`));
    const [sealed] = await codec.encode([plain]);
    assert.equal(meta(sealed!, 'encoding'), 'binary/encrypted');
    assert.equal(meta(sealed!, 'encryption-key-id'), 'k-new');
    assert.ok(!Buffer.from(sealed!.data!).toString('latin1').includes('5550123'), 'no number in clear');
    const [again] = await codec.encode([plain]);
    assert.notDeepEqual(again!.data, sealed!.data, 'a fresh IV each time');
    const [opened] = await codec.decode([sealed!]);
    assert.deepEqual(defaultPayloadConverter.fromPayload(opened!), {
      phone: '+15005550123',
      name: 'Ada Lovelace',
    });
    const [untouched] = await codec.decode([plain]);
    assert.equal(untouched, plain, 'a payload in clear passes through');
  });

  test('after a rotation, payloads under the old key still decrypt; new ones use the new key', async () => {
    const [old] = await new EncryptionCodec(keysOf(`k-old:${keyText(2)}`)).encode([plain]);
    const rotated = new EncryptionCodec(keysOf(`k-new:${keyText(1)},k-old:${keyText(2)}`));
    assert.equal(text((await rotated.decode([old!]))[0]!), text(plain));
    assert.equal(meta((await rotated.encode([plain]))[0]!, 'encryption-key-id'), 'k-new');
  });

  test('an unknown key id, or altered data, is an error naming the key id and never the key', async () => {
    const [sealed] = await new EncryptionCodec(keysOf(`k-old:${keyText(2)}`)).encode([plain]);
    const other = new EncryptionCodec(keysOf(`k-new:${keyText(1)}`));
    await assert.rejects(other.decode([sealed!]), (e: Error) => {
      assert.ok(e instanceof PayloadKeyError);
      assert.match(e.message, /"k-old".*not among the configured keys/);
      return true;
    });
    const data = Buffer.from(sealed!.data!);
    data[20] = data[20]! ^ 1;
    const sameId = new EncryptionCodec(keysOf(`k-old:${keyText(2)}`));
    for (const altered of [data, data.subarray(0, 10)]) {
      await assert.rejects(sameId.decode([{ ...sealed!, data: altered }]), (e: Error) => {
        assert.ok(e instanceof PayloadKeyError);
        assert.match(e.message, /"k-old" does not decrypt/);
        assert.ok(!e.message.includes(keyText(2)));
        return true;
      });
    }
    // another key under the same id: the tag fails
    const impostor = new EncryptionCodec(keysOf(`k-old:${keyText(3)}`));
    await assert.rejects(impostor.decode([sealed!]), /"k-old" does not decrypt/);
  });

  test('DIALER_PAYLOAD_KEYS: each bad entry refused with its position, never with its key', () => {
    const good = keyText(7);
    const short = Buffer.alloc(16, 9).toString('base64');
    const cases: [string, RegExp][] = [
      [`a:${good},,b:${good}`, /entry 2: empty/],
      [`a:${good},${good}`, /entry 2: not of the form <key id>:<base64/],
      [`a:${good},b c:${good}`, /entry 2: the key id must be/],
      [`${'x'.repeat(65)}:${good}`, /entry 1: the key id must be/],
      [`a:${good},a:${keyText(8)}`, /entry 2: repeats the key id of entry 1/],
      [`a:${good},b:not*base64`, /entry 2: the key is not base64/],
      [`a:${good},b:${good},c:${short}`, /entry 3: the key must be 32 bytes \(it has 16\)/],
    ];
    for (const [list, message] of cases) {
      assert.throws(
        () => parseConfig({ DIALER_PAYLOAD_KEYS: list }),
        (e: Error) => {
          assert.ok(e instanceof ConfigError, list);
          assert.match(e.message, /DIALER_PAYLOAD_KEYS: /);
          assert.match(e.message, message);
          for (const k of [good, short, keyText(8)]) assert.ok(!e.message.includes(k), 'no key text');
          return true;
        },
      );
    }
    const ok = parseConfig({ DIALER_PAYLOAD_KEYS: ` k.1_a-B:${good} , old:${keyText(8)}` }).payloadKeys;
    assert.deepEqual(
      ok.map((k) => k.id),
      ['k.1_a-B', 'old'],
    );
    assert.ok(!JSON.stringify(ok).includes(good), 'a parsed key does not serialize');
    assert.deepEqual(parseConfig({}).payloadKeys, []);
  });

  test('a developer machine gets one key in the data folder, readable by its owner only, kept', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dialer-keys-'));
    try {
      const first = devPayloadKeys(path.join(dir, 'data'));
      assert.equal((fs.statSync(first.file).mode & 0o777).toString(8), '600');
      assert.equal(keysOf(first.text).length, 1);
      assert.deepEqual(devPayloadKeys(path.join(dir, 'data')), first, 'the same key next time');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a production worker without keys refuses to start with one line', async () => {
    const r = await runCli(['worker'], {
      ...process.env,
      NODE_ENV: 'production',
      DIALER_PAYLOAD_KEYS: '',
      DIALER_API_TOKEN: API_TOKEN,
      PUBLIC_BASE_URL: 'http://127.0.0.1:9',
      TWILIO_API_BASE_URL: 'http://127.0.0.1:9',
    });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^error: DIALER_PAYLOAD_KEYS is not set/);
  });
});

/**
 * Every string and every byte string (as latin1) in a history: payload data and metadata, failure
 * messages, ids. (Its JSON would not do: protobufjs writes bytes in base64.)
 */
function rawText(v: unknown, out: string[] = []): string[] {
  if (v instanceof Uint8Array) out.push(Buffer.from(v).toString('latin1'));
  else if (typeof v === 'string') out.push(v);
  else if (v && typeof v === 'object') for (const x of Object.values(v)) rawText(x, out);
  return out;
}

describe('histories on the real stack, and the codec server', { timeout: 180_000 }, () => {
  let stack: Stack;
  let plainClient: Client;
  before(async () => {
    stack = await startStack({ timeScale: 0.05 });
    // a client without the codec: what Temporal's database, UI and CLI hold
    plainClient = new Client({ connection: stack.client.connection, namespace: cfg.temporal.namespace });
  });
  after(async () => stack?.stop());

  const codecCall = (op: string, body: unknown, headers: Record<string, string> = {}) =>
    stack.server.inject({
      method: 'POST',
      url: `/codec/${op}`,
      headers: { 'content-type': 'application/json', ...headers },
      payload: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const auth = { authorization: `Bearer ${API_TOKEN}` };

  test('a finished campaign: no number and no name in clear in any history; the codec server decodes them', async () => {
    const name = uid('codec');
    const phones = [testPhone(), testPhone(), testPhone()];
    const names = phones.map((_, i) => `Zebulon ${crypto.randomBytes(4).toString('hex')} Quill${i}`);
    stack.sim.setScenario({
      default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 },
      numbers: { [phones[0]!]: ['busy', 'human'] },
    });
    await createCampaign(stack.env, name, '--max-attempts', '2', '--retry', 'Busy=1s');
    const ids = await insertContacts(stack.db, name, phones);
    for (const [i, id] of ids.entries())
      await stack.db.sql`update contacts set name = ${names[i]!} where id = ${id}`;
    const start = await runCli(['campaign', 'start', name, '--until-empty'], stack.env);
    assert.equal(start.code, 0, start.stderr);
    await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();

    const runs = await eventually(async () => {
      const found: { workflowId: string; runId: string }[] = [];
      for await (const wf of stack.client.workflow.list({ query: `CampaignName = "${name}"` }))
        found.push({ workflowId: wf.workflowId, runId: wf.runId });
      return found.length >= 4 && found;
    }, 30_000);
    const histories = await Promise.all(
      runs.map((r) => plainClient.workflow.getHandle(r.workflowId, r.runId).fetchHistory()),
    );
    const raw = histories.flatMap((h) => rawText(h)).join('\n');
    assert.match(raw, /binary\/encrypted/, 'the payloads are there, encrypted');
    for (const p of phones) {
      assert.ok(!raw.includes(p.slice(-7)), `no ${p} (nor its last 7 digits) in the histories`);
    }
    for (const n of names) assert.ok(!raw.includes(n), `no ${n} in the histories`);

    // the codec server gives them back: the contacts' inputs and memos
    const started = histories
      .flatMap((h) => h.events ?? [])
      .map((e) => e.workflowExecutionStartedEventAttributes)
      .filter((a) => a?.workflowType?.name !== 'campaignWorkflow');
    const payloads = started.flatMap((a) => [
      ...(a?.input?.payloads ?? []),
      ...Object.values(a?.memo?.fields ?? {}),
    ]);
    const r = await codecCall(
      'decode',
      { payloads: payloads.map((p) => payloadToJson(p)) },
      { ...auth, 'x-namespace': 'default' },
    );
    assert.equal(r.statusCode, 200, r.body);
    const decoded = r
      .json<{ payloads: PayloadJson[] }>()
      .payloads.map((p) => text(payloadFromJson(p)))
      .join('\n');
    for (const p of phones) assert.ok(decoded.includes(p), `the codec server shows ${p}`);
    // the dialer never sends a contact's name to Temporal at all: only the number it dials
    for (const n of names) assert.ok(!decoded.includes(n), `no ${n} even decoded`);
  });

  test('a failure’s message is encrypted too: a number it quotes is not in clear', async () => {
    // a start the campaign refuses: its one-line failure quotes the (unknown) campaign's name
    const planted = `+1500${crypto.randomInt(1e6, 1e7)}`;
    const h = await stack.client.workflow.start('campaignWorkflow', {
      workflowId: campaignWorkflowId(planted),
      taskQueue: stack.taskQueue,
      args: [{ name: planted }],
    });
    const err = (await h.result().catch((e: unknown) => e)) as { cause?: { message?: string } };
    assert.match(
      String(err.cause?.message),
      new RegExp(`no campaign named "\\${planted}"`),
      'decoded with the codec',
    );
    const history = await plainClient.workflow.getHandle(h.workflowId).fetchHistory();
    const failure = history.events!.find((e) => e.workflowExecutionFailedEventAttributes)!
      .workflowExecutionFailedEventAttributes!.failure!;
    assert.equal(failure.message, 'Encoded failure', 'the message is not in the failure');
    const encoding = Buffer.from(failure.encodedAttributes!.metadata!.encoding!).toString();
    assert.equal(encoding, 'binary/encrypted', 'the message and stack trace travel encrypted');
    assert.ok(
      !rawText(failure).join('\n').includes(planted.slice(-7)),
      'the number is not in clear in the failure',
    );
  });

  test('the codec server: token, CORS for the UI, bad bodies, encode', async () => {
    const one = { payloads: [payloadToJson(defaultPayloadConverter.toPayload('+15005550199'))] };
    const none = await codecCall('decode', one);
    assert.equal(none.statusCode, 401);
    assert.equal(none.headers['content-type'], 'application/problem+json; charset=utf-8');
    const fromUi = await codecCall('decode', one, { origin: 'http://127.0.0.1:8233' });
    assert.equal(fromUi.statusCode, 401, 'outside dialer dev, the UI origin needs the token too');

    const preflight = await stack.server.inject({
      method: 'OPTIONS',
      url: '/codec/decode',
      headers: {
        origin: 'http://localhost:8233',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-namespace',
      },
    });
    assert.equal(preflight.statusCode, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], 'http://localhost:8233');
    assert.match(String(preflight.headers['access-control-allow-headers']), /x-namespace/);
    assert.match(String(preflight.headers['access-control-allow-methods']), /POST/);
    const elsewhere = await stack.server.inject({
      method: 'OPTIONS',
      url: '/codec/decode',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(elsewhere.statusCode, 403);
    assert.equal(elsewhere.headers['access-control-allow-origin'], undefined);

    for (const bad of ['{"payloads": [', {}, { payloads: 'x' }, { payloads: [{ data: 'not base64!' }] }]) {
      const r = await codecCall('decode', bad, auth);
      assert.equal(r.statusCode, 400, `${JSON.stringify(bad)}: ${r.body}`);
      assert.match(r.json<{ type: string }>().type, /^urn:dialer:problem:/);
    }

    const encoded = await codecCall('encode', one, { ...auth, origin: 'http://127.0.0.1:8233' });
    assert.equal(encoded.statusCode, 200, encoded.body);
    assert.equal(encoded.headers['access-control-allow-origin'], 'http://127.0.0.1:8233');
    const sealed = encoded.json<{ payloads: PayloadJson[] }>();
    assert.ok(!text(payloadFromJson(sealed.payloads[0]!)).includes('5550199'));
    const back = await codecCall('decode', sealed, auth);
    assert.deepEqual(back.json(), one);

    const foreign = await new EncryptionCodec(keysOf(`elsewhere:${keyText(5)}`)).encode([
      defaultPayloadConverter.toPayload('x'),
    ]);
    const refused = await codecCall(
      'decode',
      { payloads: [one.payloads[0], payloadToJson(foreign[0]!)] },
      auth,
    );
    assert.equal(refused.statusCode, 400);
    assert.match(refused.json<{ detail: string }>().detail, /"elsewhere"/);
    assert.equal(refused.json<{ field: string }>().field, '/payloads/1');
  });

  test('under dialer dev the UI origin needs no token; without keys the codec server answers 503', async () => {
    const serve = (o: { trustUiOrigin?: boolean; keys: boolean }) =>
      buildServer({
        temporal: stack.client,
        db: stack.db,
        authToken: 'unused-auth-token',
        publicBaseUrl: 'http://127.0.0.1',
        logger: createLogger('silent'),
        taskQueue: stack.taskQueue,
        defaultRegion: 'US',
        apiToken: API_TOKEN,
        uiOrigins: cfg.temporal.uiOrigins,
        ...(o.keys ? { payloadCodec: new EncryptionCodec(cfg.payloadKeys) } : {}),
        ...(o.trustUiOrigin ? { trustUiOrigin: true } : {}),
      });
    const body = JSON.stringify({ payloads: [] });
    const post = (origin?: string) => ({
      method: 'POST' as const,
      url: '/codec/decode',
      headers: { 'content-type': 'application/json', ...(origin ? { origin } : {}) },
      payload: body,
    });
    const dev = await serve({ trustUiOrigin: true, keys: true });
    const keyless = await serve({ keys: false });
    try {
      assert.equal((await dev.inject(post('http://127.0.0.1:8233'))).statusCode, 200);
      assert.equal((await dev.inject(post('https://evil.example'))).statusCode, 401);
      assert.equal((await dev.inject(post())).statusCode, 401);
      const r = await keyless.inject({ ...post(), headers: { ...post().headers, ...auth } });
      assert.equal(r.statusCode, 503);
      assert.match(r.json<{ detail: string }>().detail, /DIALER_PAYLOAD_KEYS/);
    } finally {
      await dev.close();
      await keyless.close();
    }
  });
});
