/**
 * Secrets out of logs: a token sent by mistake as `?token=` was logged in full
 * with the request URL, and agent numbers in /api/agents/{endpoint} paths unmasked. A real
 * `dialer server` at debug level is sent both, on every kind of route (the API with and without
 * its token, an unknown path, /health, a Twilio webhook, the docs), and every line it wrote is
 * searched for them.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { redactUrl } from '../infra/logger';
import { spawnDialer } from '../harness/processes';
import { maskUrlPassword } from '../infra/secrets';
import { API_TOKEN, cfg, eventually, freePort, repoRoot, testDatabase } from '../harness/stack';

test('redactUrl drops the query string and masks numbers in the path; maskUrlPassword hides passwords', () => {
  assert.equal(
    redactUrl('/api/agents/%2B15005550177/status?token=abc'),
    '/api/agents/+1500*****77/status?[redacted]',
  );
  assert.equal(redactUrl('/api/agents/+15005550177'), '/api/agents/+1500*****77');
  assert.equal(redactUrl('/api/contacts/12345678/redial'), '/api/contacts/12345678/redial', 'ids stay');
  assert.equal(redactUrl('/twilio/answer?wf=x&agent=%2B15005550177'), '/twilio/answer?[redacted]');
  assert.equal(
    maskUrlPassword('postgres://dialer:s3cret@db:5432/dialer'),
    'postgres://dialer:***@db:5432/dialer',
  );
  assert.equal(
    maskUrlPassword('postgres://dialer:s3cret@/dialer?host=/run'),
    'postgres://dialer:***@/dialer?host=/run',
  );
  assert.equal(maskUrlPassword('postgres://db/dialer?password=s3cret'), 'postgres://db/dialer?password=***');
  assert.equal(maskUrlPassword('postgres://db/dialer'), 'postgres://db/dialer');
});

test('a password in a URL is masked in log messages and in logged errors', () => {
  const script = `
    const { createLogger } = require('./infra/logger');
    const log = createLogger('info', 'probe');
    log.warn('cannot connect to postgres://dialer:hunter2-secret@db:5432/dialer');
    log.error({ err: new Error('failed: postgres://dialer:hunter2-secret@db/dialer?sslmode=require') }, 'boom');
    log.info('retrying http://db/x?password=hunter2-secret');`;
  const run = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr);
  const lines = run.stderr.split('\n').filter((l) => l.trim());
  assert.equal(lines.length, 3, run.stderr);
  assert.ok(!run.stderr.includes('hunter2'), run.stderr);
  assert.match(lines[0]!, /postgres:\/\/dialer:\*\*\*@db:5432\/dialer/);
  assert.match(lines[1]!, /postgres:\/\/dialer:\*\*\*@db\/dialer/);
});

test(
  'a token in the query string and an agent number in the path never reach the server log',
  { timeout: 90_000 },
  async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const secret = `leak-${'q'.repeat(24)}`;
    const agent = '+15005550179';
    const proc = spawnDialer(['server'], {
      ...process.env,
      DATABASE_URL: cfg.testDatabaseUrl,
      TWILIO_ACCOUNT_SID: '',
      TWILIO_AUTH_TOKEN: '',
      TWILIO_API_BASE_URL: 'http://127.0.0.1:9', // the simulator's credentials; the server never calls it
      SERVER_PORT: String(port),
      PUBLIC_BASE_URL: base,
      DIALER_API_TOKEN: API_TOKEN,
      LOG_LEVEL: 'debug',
    });
    let out = '';
    proc.stdout!.on('data', (d) => (out += d));
    proc.stderr!.on('data', (d) => (out += d));
    const exited = new Promise((r) => proc.on('exit', r));
    const db = testDatabase();
    const q = `?token=${secret}`;
    const auth = { authorization: `Bearer ${API_TOKEN}` };
    try {
      await eventually(
        async () => (await fetch(`${base}/health`).catch(() => undefined))?.ok,
        60_000,
        `server:\n${out}`,
      );
      const answers = [
        (await fetch(`${base}/api/agents${q}`)).status,
        (await fetch(`${base}/api/no-such-route${q}`)).status,
        (await fetch(`${base}/no-such-page${q}`)).status,
        (await fetch(`${base}/health${q}`)).status,
        (
          await fetch(`${base}/twilio/status${q}`, {
            method: 'POST',
            body: new URLSearchParams({ CallSid: 'CAx' }),
          })
        ).status,
        (await fetch(`${base}/docs/json${q}`)).status,
        (
          await fetch(`${base}/api/agents/${encodeURIComponent(agent)}${q}`, {
            method: 'PUT',
            headers: { ...auth, 'content-type': 'application/json' },
            body: JSON.stringify({ name: 'Probe' }),
          })
        ).status,
        (
          await fetch(`${base}/api/agents/${encodeURIComponent(agent)}/status`, {
            method: 'PUT',
            headers: auth,
          })
        ).status,
      ];
      assert.deepEqual(answers, [401, 401, 404, 200, 403, 200, 200, 400]);
      const notFound = await (await fetch(`${base}/no-such-page${q}`)).text();
      assert.ok(!notFound.includes(secret), `the 404 body does not echo the query: ${notFound}`);
    } finally {
      proc.kill('SIGTERM');
      await exited;
      await db.sql`delete from agents where endpoint = ${agent}`;
      await db.close();
    }
    const lines = out.split('\n').filter((l) => l.trim());
    assert.ok(
      lines.filter((l) => l.includes('incoming request')).length >= 8,
      `requests were logged:\n${out}`,
    );
    assert.ok(
      lines.some((l) => l.includes('?[redacted]')),
      'the request lines say a query string was there',
    );
    assert.deepEqual(
      lines.filter((l) => l.includes(secret)),
      [],
      'the token in the query string',
    );
    assert.deepEqual(
      lines.filter((l) => l.includes(agent.slice(-10))),
      [],
      'the agent number in full',
    );
    assert.deepEqual(
      lines.filter((l) => l.includes(API_TOKEN)),
      [],
      'the API token',
    );
  },
);
