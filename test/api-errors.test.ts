/**
 * One error shape for the whole API: every refusal — bad input, no token, an
 * unknown path, a body too large, a dependency down, a bug — is an RFC 9457 problem document with
 * the field it is about, and never carries a stack or a driver's message. Auth details: the
 * scheme in any case, auth before 404.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Client, Connection } from '@temporalio/client';
import { temporalClient } from '../infra/temporal-connection';
import type { FastifyInstance } from 'fastify';
import type { Database } from '../db/client';
import { createLogger } from '../infra/logger';
import { buildServer } from '../server/app';
import { problem } from '../server/problem';
import { API_TOKEN, cfg, testDatabase } from '../harness/stack';

type Json = Record<string, unknown>;

async function server(db: Database, temporal: Client): Promise<FastifyInstance> {
  return buildServer({
    temporal,
    db,
    authToken: 'unused-auth-token',
    publicBaseUrl: 'http://127.0.0.1',
    logger: createLogger('silent'),
    apiToken: API_TOKEN,
    taskQueue: 'api-errors',
    defaultRegion: 'US',
  });
}

/** A database whose every query fails with this error (the API must not echo its message). */
function failingDb(err: Error): Database {
  const sql = Object.assign(() => Promise.reject(err), { json: (v: unknown) => v });
  return { sql, db: {}, close: async () => {} } as unknown as Database;
}

function assertProblem(res: { statusCode: number; headers: Json; body: string }, status: number): Json {
  assert.equal(res.statusCode, status, res.body);
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  const p = JSON.parse(res.body) as Json;
  assert.equal(p.status, status);
  assert.match(String(p.type), /^urn:dialer:problem:/);
  assert.equal(typeof p.title, 'string');
  assert.equal(typeof p.detail, 'string');
  assert.doesNotMatch(res.body, /at .*\.ts:\d+|node_modules|stack/i, 'no stack trace');
  return p;
}

test('each status keeps the problem type first published, whatever node calls the status', () => {
  const published: Record<number, string> = {
    400: 'invalid-request',
    401: 'unauthorized',
    404: 'not-found',
    405: 'method-not-allowed',
    406: 'not-acceptable',
    409: 'conflict',
    413: 'payload-too-large',
    415: 'unsupported-media-type',
    418: 'invalid-request',
    422: 'unprocessable',
    429: 'too-many-requests',
    500: 'internal',
    502: 'internal',
    503: 'unavailable',
  };
  for (const [status, kind] of Object.entries(published)) {
    assert.equal(problem(Number(status), 'x').type, `urn:dialer:problem:${kind}`);
  }
});

describe('API errors are problem documents', { timeout: 60_000 }, () => {
  let db: Database;
  let connection: Connection;
  let temporal: Client;
  let app: FastifyInstance;
  const auth = { authorization: `Bearer ${API_TOKEN}` };
  before(async () => {
    db = testDatabase();
    connection = await Connection.connect({ address: cfg.temporal.address });
    temporal = temporalClient(connection, cfg);
    app = await server(db, temporal);
  });
  after(async () => {
    await app?.close();
    await connection?.close();
    await db?.close();
  });

  test('no token, a wrong one, one of another length: 401, also on an unknown path', async () => {
    for (const headers of [
      {},
      { authorization: `Bearer ${API_TOKEN.toUpperCase()}` },
      { authorization: `Bearer ${API_TOKEN}x` },
      { authorization: 'Bearer ' },
      { authorization: `Basic ${API_TOKEN}` },
    ]) {
      for (const url of ['/api/agents', '/api/no-such-route', '/api/contacts/1/nothing']) {
        const res = await app.inject({ method: 'GET', url, headers });
        const p = assertProblem(res, 401);
        assert.match(String(res.headers['www-authenticate']), /^Bearer/);
        assert.match(String(p.detail), /bearer token/);
      }
    }
  });

  test('the scheme in any case (RFC 9110 §11.1); an unknown path with the token is 404', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
      const res = await app.inject({
        method: 'GET',
        url: '/api/agents?campaign=none',
        headers: { authorization: `${scheme} ${API_TOKEN}` },
      });
      assert.equal(res.statusCode, 200, `${scheme}: ${res.body}`);
    }
    const p = assertProblem(
      await app.inject({ method: 'GET', url: '/api/nothing?token=zzz-secret', headers: auth }),
      404,
    );
    assert.equal(p.type, 'urn:dialer:problem:not-found');
    assert.equal(p.detail, 'No route GET /api/nothing?[redacted]', 'the query is not echoed');
  });

  test('schema refusals name the field: a JSON pointer into the body, a parameter by name', async () => {
    const cases: [string, string, string, unknown, string][] = [
      ['an unknown status', 'PUT', '/api/agents/client%3Aa/status', { status: 'sleeping' }, '/status'],
      ['a missing field', 'PUT', '/api/agents/client%3Aa/status', {}, '/status'],
      ['an unknown field', 'PUT', '/api/agents/client%3Aa', { colour: 'red' }, '/colour'],
      [
        'a nested field',
        'POST',
        '/api/contacts',
        { campaign: 'x', contacts: [{}] },
        '/contacts/0/phoneNumber',
      ],
      ['an id that is not a number', 'GET', '/api/contacts/abc', undefined, 'id'],
    ];
    for (const [what, method, url, body, field] of cases) {
      const res = await app.inject({
        method: method as 'GET',
        url,
        headers: auth,
        ...(body === undefined ? {} : { payload: body as Json }),
      });
      const p = assertProblem(res, 400);
      assert.equal(p.field, field, `${what}: ${res.body}`);
    }
  });

  test('not found, bad JSON, too large: problems too', async () => {
    const missing = assertProblem(
      await app.inject({ method: 'GET', url: '/api/contacts/999999999', headers: auth }),
      404,
    );
    assert.match(String(missing.detail), /No contact with id 999999999/);
    assertProblem(
      await app.inject({
        method: 'POST',
        url: '/api/contacts',
        headers: { ...auth, 'content-type': 'application/json' },
        payload: '{"campaign": ',
      }),
      400,
    );
    const big = JSON.stringify({
      campaign: 'x',
      contacts: [{ phoneNumber: '1', name: 'x'.repeat(1_100_000) }],
    });
    assertProblem(
      await app.inject({
        method: 'POST',
        url: '/api/contacts',
        headers: { ...auth, 'content-type': 'application/json' },
        payload: big,
      }),
      413,
    );
  });

  test('a bug is 500 and a database down is 503 with Retry-After, neither with the driver’s text', async () => {
    const bug = await server(failingDb(new Error('boom at secret-host.internal')), temporal);
    const down = await server(
      failingDb(
        Object.assign(new Error('connect ECONNREFUSED 10.9.8.7:5432'), { code: 'ECONNREFUSED', port: 5432 }),
      ),
      temporal,
    );
    try {
      const r500 = await bug.inject({ method: 'GET', url: '/api/agents', headers: auth });
      assertProblem(r500, 500);
      assert.doesNotMatch(r500.body, /boom|secret-host/);
      const r503 = await down.inject({ method: 'GET', url: '/api/agents', headers: auth });
      assertProblem(r503, 503);
      assert.equal(r503.headers['retry-after'], '5');
      assert.doesNotMatch(r503.body, /10\.9\.8\.7|5432|ECONNREFUSED/);
      const health = await down.inject({ method: 'GET', url: '/health' });
      assert.equal(health.statusCode, 503);
      assert.deepEqual(health.json(), { status: 'degraded', checks: { database: 'down', temporal: 'ok' } });
    } finally {
      await bug.close();
      await down.close();
    }
  });

  test('the OpenAPI document gives every error response the problem schema', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json<{
      paths: Record<string, Record<string, { responses: Record<string, { content?: Json }> }>>;
    }>();
    let errors = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        for (const code of ['400', '401', '503']) assert.ok(op.responses[code], `${method} ${path} ${code}`);
        for (const [code, r] of Object.entries(op.responses)) {
          if (Number(code) < 400) continue;
          errors++;
          assert.deepEqual(
            Object.keys(r.content ?? {}),
            ['application/problem+json'],
            `${method} ${path} ${code}`,
          );
        }
      }
    }
    assert.ok(errors > 30, `error responses documented (${errors})`);
  });
});
