/**
 * Graceful shutdown of the webhook/API server: on SIGTERM it stops taking connections,
 * finishes the requests in flight (a CRM write whose body is still arriving is completed, not
 * dropped), and exits; a client that stalls is cut after SERVER_SHUTDOWN_GRACE_MS, so the
 * shutdown is bounded. The worker's drain on SIGTERM is tested in scale-out.test.ts.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { spawnDialer } from '../harness/processes';
import {
  API_TOKEN,
  type Stack,
  createCampaign,
  eventually,
  freePort,
  startStack,
  testPhone,
  uid,
} from '../harness/stack';

interface Server {
  proc: ChildProcess;
  port: number;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A POST whose body is sent in two halves: `finish()` sends the second. */
function halfSentPost(port: number, path: string, body: string) {
  const req = http.request({
    host: '127.0.0.1',
    port,
    path,
    method: 'POST',
    headers: {
      authorization: `Bearer ${API_TOKEN}`,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    },
  });
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  const half = Math.floor(body.length / 2);
  req.write(body.slice(0, half));
  return { response, finish: () => req.end(body.slice(half)) };
}

describe('server shutdown', { timeout: 180_000 }, () => {
  let stack: Stack;
  const servers: Server[] = [];
  before(async () => {
    stack = await startStack({ timeScale: 0.05 }, { worker: false });
  });
  after(async () => {
    for (const s of servers) s.proc.kill('SIGKILL');
    await stack?.stop();
  });

  async function startServer(graceMs: number): Promise<Server> {
    const port = await freePort();
    const proc = spawnDialer(['server'], {
      ...stack.env,
      LOG_LEVEL: 'info',
      SERVER_PORT: String(port),
      PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
      DIALER_API_TOKEN: API_TOKEN,
      SERVER_SHUTDOWN_GRACE_MS: String(graceMs),
    });
    let out = '';
    proc.stdout!.on('data', (d) => (out += d));
    proc.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      proc.on('exit', (code, signal) => resolve({ code, signal })),
    );
    const server = { proc, port, output: () => out, exited };
    servers.push(server);
    await eventually(async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok, 60_000, 'the server');
    return server;
  }

  /** Resolves with the exit, or rejects if the process is still running after `ms`. */
  const exitWithin = (s: Server, ms: number) =>
    Promise.race([
      s.exited,
      new Promise<never>((_, reject) =>
        setTimeout(
          () => reject(new Error(`still running ${ms} ms after SIGTERM:\n${s.output()}`)),
          ms,
        ).unref(),
      ),
    ]);

  const contactsOf = (campaign: string) =>
    stack.db.sql<
      { phone_number: string }[]
    >`select phone_number from contacts where campaign_name = ${campaign}`;

  test('SIGTERM: a request in flight is finished, new connections are refused, the server exits 0', async () => {
    const name = uid('shut');
    await createCampaign(stack.env, name);
    const server = await startServer(30_000);
    const phone = testPhone();
    const post = halfSentPost(
      server.port,
      '/api/contacts',
      JSON.stringify({ campaign: name, contacts: [{ phoneNumber: phone, name: 'in flight' }] }),
    );
    // the server has the request (its headers are parsed and routed) before the signal
    await eventually(async () => server.output().includes('/api/contacts'), 20_000, 'the request to arrive');
    server.proc.kill('SIGTERM');
    await eventually(async () => server.output().includes('shutting down'), 20_000, 'the shutdown to begin');
    await eventually(
      async () =>
        fetch(`http://127.0.0.1:${server.port}/health`).then(
          () => false,
          () => true,
        ),
      20_000,
      'new connections to be refused',
    );
    assert.equal((await contactsOf(name)).length, 0, 'nothing written before the body is complete');

    post.finish();
    const res = await post.response;
    assert.equal(res.status, 201, res.body);
    assert.deepEqual(
      (await contactsOf(name)).map((r) => r.phone_number),
      [phone],
      'the request in flight was carried out',
    );
    const exit = await exitWithin(server, 20_000);
    assert.deepEqual(exit, { code: 0, signal: null }, server.output());
  });

  test('SIGTERM with a client that never finishes: cut after the grace time, nothing written, exit 0', async () => {
    const name = uid('stall');
    await createCampaign(stack.env, name);
    const server = await startServer(2_000);
    const post = halfSentPost(
      server.port,
      '/api/contacts',
      JSON.stringify({ campaign: name, contacts: [{ phoneNumber: testPhone() }] }),
    );
    const cut = assert.rejects(post.response, /socket hang up|ECONNRESET/, 'the stalled request is cut');
    await eventually(async () => server.output().includes('/api/contacts'), 20_000, 'the request to arrive');
    server.proc.kill('SIGTERM');
    // the bound is the grace time plus closing the database and Temporal connections
    const exit = await exitWithin(server, 20_000);
    assert.deepEqual(exit, { code: 0, signal: null }, server.output());
    assert.match(server.output(), /requests still open 2000 ms after SIGTERM/);
    await cut;
    assert.equal((await contactsOf(name)).length, 0, 'the half-sent contact is not written');
  });
});
