/**
 * Deadlines everywhere: with the Temporal server frozen (SIGSTOP: connections
 * stay open, nothing answers), /health, the campaign report and a contact POST used to hang until
 * it came back. Now /health says degraded within 2 s, the report is 503 with Retry-After within a
 * few seconds, and the POST that wrote its rows answers 201. With the database cut, the API
 * answers 503 with Retry-After too, and a CLI command gives up with a plain error. The test freezes a Temporal dev server of its own, never the
 * suite's.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Connection } from '@temporalio/client';
import { temporalClient } from '../infra/temporal-connection';
import type { FastifyInstance } from 'fastify';
import { PgProxy } from '../harness/pg-proxy';
import { SERVER_DEADLINES, connectDatabase, type Database } from '../db/client';
import { createLogger } from '../infra/logger';
import { connectTemporal } from '../infra/temporal-connection';
import { ensureTemporalCli, startDevServer, stopDevServer } from '../infra/temporal-server';
import { buildServer } from '../server/app';
import { API_TOKEN, cfg, createCampaign, freePort, runCli, testPhone, uid } from '../harness/stack';

const CALL_MS = 3000;

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await work();
  return { value, ms: Date.now() - started };
}

describe('deadlines: a dependency down or frozen gets an answer in time', { timeout: 180_000 }, () => {
  let temporalServer: ChildProcess;
  let connection: Connection;
  let db: Database;
  let proxy: PgProxy;
  let app: FastifyInstance;
  let url: string;
  let temporalAddress: string;
  const campaign = uid('deadlines');

  before(async () => {
    const address = `127.0.0.1:${await freePort()}`;
    temporalAddress = address;
    temporalServer = await startDevServer({
      cli: await ensureTemporalCli(cfg.toolsDir),
      address,
      uiPort: await freePort(),
      namespace: 'default',
    });
    connection = await connectTemporal(address, { callMs: CALL_MS });
    const viaProxy = await PgProxy.inFrontOf(cfg.testDatabaseUrl);
    proxy = viaProxy.proxy;
    db = connectDatabase(viaProxy.url, { deadlines: SERVER_DEADLINES });
    await createCampaign({ ...process.env, DATABASE_URL: cfg.testDatabaseUrl }, campaign);
    app = await buildServer({
      temporal: temporalClient(connection, cfg),
      db,
      authToken: 'unused-auth-token',
      publicBaseUrl: 'http://127.0.0.1',
      logger: createLogger('silent'),
      apiToken: API_TOKEN,
      taskQueue: uid('tq'),
      defaultRegion: 'US',
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  });
  after(async () => {
    await app?.close();
    await connection?.close().catch(() => undefined);
    await db?.close();
    await proxy?.close();
    if (temporalServer?.pid) process.kill(-temporalServer.pid, 'SIGCONT');
    if (temporalServer) await stopDevServer(temporalServer);
  });

  const api = (method: string, path: string, body?: unknown) =>
    fetch(url + path, {
      method,
      headers: {
        authorization: `Bearer ${API_TOKEN}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000), // a hang fails the test instead of blocking it
    });

  test('all up: /health is ok', async () => {
    const res = await fetch(`${url}/health`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok', checks: { database: 'ok', temporal: 'ok' } });
  });

  test('Temporal frozen: health degraded within 2 s, the report 503 + Retry-After, the POST 201', async () => {
    process.kill(-temporalServer.pid!, 'SIGSTOP');
    try {
      const health = await timed(() => fetch(`${url}/health`));
      assert.ok(health.ms < 2000, `/health answered in ${health.ms} ms`);
      assert.equal(health.value.status, 503);
      assert.deepEqual(await health.value.json(), {
        status: 'degraded',
        checks: { database: 'ok', temporal: 'down' },
      });

      const report = await timed(() => api('GET', `/api/campaigns/${campaign}`));
      assert.ok(report.ms < 2 * CALL_MS + 2000, `the report answered in ${report.ms} ms`);
      assert.equal(report.value.status, 503, await report.value.clone().text());
      assert.equal(report.value.headers.get('retry-after'), '5');
      assert.match(report.value.headers.get('content-type') ?? '', /problem\+json/);
      const body = (await report.value.json()) as { detail: string };
      assert.match(body.detail, /Temporal is unavailable/);
      assert.doesNotMatch(JSON.stringify(body), /127\.0\.0\.1|DEADLINE|deadline/i, 'no raw error text');

      const phone = testPhone();
      const posted = await timed(() =>
        api('POST', '/api/contacts', { campaign, contacts: [{ phoneNumber: phone }] }),
      );
      assert.equal(posted.value.status, 201, await posted.value.clone().text());
      assert.ok(posted.ms < 2 * CALL_MS + 2000, `the POST answered in ${posted.ms} ms`);
      const rows =
        await db.sql`select 1 from contacts where campaign_name = ${campaign} and phone_number = ${phone}`;
      assert.equal(rows.length, 1, 'the row was written once');

      // the CLI too: a command gives up with a plain message instead of hanging
      const cli = await timed(() =>
        runCli(['campaign', 'pause', campaign], {
          ...process.env,
          DATABASE_URL: cfg.testDatabaseUrl,
          TEMPORAL_ADDRESS: temporalAddress,
        }),
      );
      assert.equal(cli.value.code, 1, cli.value.stderr);
      assert.match(cli.value.stderr, /^error: .*Temporal/m);
      assert.ok(cli.ms < 25_000, `the command gave up after ${cli.ms} ms`);
    } finally {
      process.kill(-temporalServer.pid!, 'SIGCONT');
    }
    // and it recovers by itself once Temporal is back
    const back = await fetch(`${url}/health`);
    assert.equal(back.status, 200);
  });

  test('database cut: the API answers 503 with Retry-After, /health says which is down', async () => {
    proxy.cut(5000);
    const res = await timed(() => api('GET', `/api/contacts/1`));
    assert.ok(res.ms < 7000, `answered in ${res.ms} ms`);
    assert.equal(res.value.status, 503, await res.value.clone().text());
    assert.equal(res.value.headers.get('retry-after'), '5');
    assert.doesNotMatch(await res.value.text(), /127\.0\.0\.1|ECONNRE|5432/);
    const health = await timed(() => fetch(`${url}/health`));
    assert.ok(health.ms < 2000, `/health answered in ${health.ms} ms`);
    assert.deepEqual(await health.value.json(), {
      status: 'degraded',
      checks: { database: 'down', temporal: 'ok' },
    });
  });

  test('database frozen (connections open, nothing answers): the request deadline answers 503', async () => {
    const frozen = await FreezingProxy.inFrontOf(cfg.testDatabaseUrl);
    const frozenDb = connectDatabase(frozen.url, { deadlines: SERVER_DEADLINES });
    const slow = await buildServer({
      temporal: temporalClient(connection, cfg),
      db: frozenDb,
      authToken: 'unused-auth-token',
      publicBaseUrl: 'http://127.0.0.1',
      logger: createLogger('silent'),
      apiToken: API_TOKEN,
      taskQueue: uid('tq'),
      defaultRegion: 'US',
      requestDeadlineMs: 2000,
    });
    try {
      await frozenDb.sql`select 1`; // a connection is open
      frozen.freeze();
      const auth = { authorization: `Bearer ${API_TOKEN}` };
      const res = await timed(() => slow.inject({ method: 'GET', url: '/api/contacts/1', headers: auth }));
      assert.ok(res.ms < 5000, `answered in ${res.ms} ms`);
      assert.equal(res.value.statusCode, 503, res.value.body);
      assert.equal(res.value.headers['retry-after'], '5');
      assert.match(res.value.json<{ detail: string }>().detail, /did not finish in time/);
      const health = await timed(() => slow.inject({ method: 'GET', url: '/health' }));
      assert.ok(health.ms < 2000, `/health answered in ${health.ms} ms`);
      assert.equal(health.value.json<{ checks: { database: string } }>().checks.database, 'down');
    } finally {
      frozen.close();
      await slow.close();
      await frozenDb.close();
    }
  });
});

/** A TCP proxy that can stop forwarding while keeping its connections open (a frozen database). */
class FreezingProxy {
  private readonly sockets = new Set<net.Socket>();
  private frozen = false;
  private readonly server: net.Server;
  url = '';

  private constructor(private readonly target: URL) {
    this.server = net.createServer((client) => this.accept(client));
  }

  static async inFrontOf(databaseUrl: string): Promise<FreezingProxy> {
    const proxy = new FreezingProxy(new URL(databaseUrl));
    await new Promise<void>((r) => proxy.server.listen(0, '127.0.0.1', r));
    const url = new URL(databaseUrl);
    url.hostname = '127.0.0.1';
    url.port = String((proxy.server.address() as net.AddressInfo).port);
    proxy.url = url.toString();
    return proxy;
  }

  private accept(client: net.Socket): void {
    const upstream = net.connect(Number(this.target.port || 5432), this.target.hostname);
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      this.sockets.add(from);
      from.on('data', (d) => {
        if (!this.frozen) to.write(d);
      });
      from.on('error', () => to.destroy()).on('close', () => to.destroy());
    }
  }

  freeze(): void {
    this.frozen = true;
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }
}
