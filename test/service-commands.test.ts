/**
 * The long-running commands and the remaining small ones, spawned as processes: `simulator`,
 * `server`, `db migrate`, `agents status|list`, with their failure cases and exit codes.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { rawConnection } from '../harness/raw-db';
import {
  API_TOKEN,
  type Stack,
  cfg,
  createCampaign,
  eventually,
  freePort,
  repoRoot,
  runCli,
  startStack,
  uid,
} from '../harness/stack';

function start(
  args: string[],
  env: NodeJS.ProcessEnv,
): { proc: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'client/main.ts'), ...args], {
    env,
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return { proc, out: () => out, exited };
}

describe('service and small commands', { timeout: 180_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ timeScale: 0.02 });
  });
  after(async () => stack?.stop());

  test('simulator: serves Twilio’s API with the limits it was given, stops on SIGTERM', async () => {
    const port = await freePort();
    const sim = start(
      ['simulator', '--port', String(port), '--time-scale', '0.1', '--max-concurrent-calls', '2'],
      stack.env,
    );
    try {
      await eventually(
        async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok,
        30_000,
        `simulator:\n${sim.out()}`,
      );
      assert.match(sim.out(), /Twilio simulator listening at/);
      const scenario = (await (await fetch(`http://127.0.0.1:${port}/sim/scenario`)).json()) as {
        default: unknown;
      };
      assert.ok(scenario.default);
    } finally {
      sim.proc.kill('SIGTERM');
    }
    assert.equal(await sim.exited, 0);
    for (const [args, message] of [
      [['simulator', '--time-scale', 'fast'], /time-scale/],
      [['simulator', '--max-concurrent-requests', '0'], /max-concurrent-requests/],
    ] as [string[], RegExp][]) {
      const r = await runCli(args, stack.env);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, message);
    }
  });

  test('server: health, the API with its token, the OpenAPI document; stops on SIGTERM', async () => {
    const port = await freePort();
    const server = start(['server'], {
      ...stack.env,
      SERVER_PORT: String(port),
      DIALER_API_TOKEN: API_TOKEN,
    });
    const base = `http://127.0.0.1:${port}`;
    try {
      await eventually(async () => (await fetch(`${base}/health`)).ok, 30_000, `server:\n${server.out()}`);
      const agents = await fetch(`${base}/api/agents`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
      assert.equal(agents.status, 200);
      assert.equal((await fetch(`${base}/api/agents`)).status, 401);
      assert.equal((await fetch(`${base}/docs/json`)).status, 200);
      assert.ok(!server.out().includes(API_TOKEN), 'the token is never logged');
    } finally {
      server.proc.kill('SIGTERM');
    }
    assert.equal(await server.exited, 0);
    const short = await runCli(['server'], { ...stack.env, DIALER_API_TOKEN: 'short' });
    assert.equal(short.code, 1);
    assert.match(short.stderr, /DIALER_API_TOKEN: must be at least 16 characters/);
  });

  test('db migrate creates a missing database and is safe to run again', async () => {
    const name = `dialer_cli_${uid('m').replace(/-/g, '_')}`;
    const url = new URL(cfg.testDatabaseUrl);
    url.pathname = `/${name}`;
    const env = { ...stack.env, DATABASE_URL: url.toString() };
    const admin = rawConnection(cfg.testDatabaseUrl);
    try {
      const first = await runCli(['db', 'migrate'], env);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, new RegExp(`created and migrated database ${name}`));
      const again = await runCli(['db', 'migrate'], env);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, new RegExp(`^migrated database ${name}`));
      const db = rawConnection(url.toString());
      const tables = (
        await db`select table_name from information_schema.tables where table_schema = 'public'`
      ).map((r) => r.table_name as string);
      await db.end();
      for (const t of ['contacts', 'campaigns', 'call_attempts', 'banned_numbers', 'agents'])
        assert.ok(tables.includes(t), t);
    } finally {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
    const bad = await runCli(['db', 'migrate'], { ...stack.env, DATABASE_URL: 'mysql://nope' });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /DATABASE_URL: must be a postgres:\/\/ URL/);
  });

  test('agents status and list', async () => {
    const name = uid('ag');
    await createCampaign(stack.env, name);
    const agent = `client:${uid('bea')}`;
    assert.equal(
      (await runCli(['agents', 'add', agent, '--campaign', name, '--name', 'Bea'], stack.env)).code,
      0,
    );
    const set = await runCli(['agents', 'status', agent, 'offline'], stack.env);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /offline/);
    const list = await runCli(['agents', 'list', '--campaign', name, '--json'], stack.env);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(
      (JSON.parse(list.stdout) as { endpoint: string; status: string; name: string }[]).map((a) => [
        a.endpoint,
        a.status,
        a.name,
      ]),
      [[agent, 'offline', 'Bea']],
    );
    const unknown = await runCli(['agents', 'status', `client:${uid('ghost')}`, 'available'], stack.env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /No agent with endpoint/);
    const badStatus = await runCli(['agents', 'status', agent, 'asleep'], stack.env);
    assert.notEqual(badStatus.code, 0);
    assert.match(badStatus.stderr, /"asleep" is not one of available, on-call, wrap-up, offline/);
  });
});
