/**
 * `dialer dev` brings every piece up for local use (here on the suite's Temporal server and test
 * database), prints where they are, dials a campaign, and stops what it started on SIGTERM.
 */
import fs from 'node:fs';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { Connection } from '@temporalio/client';
import { temporalClient } from '../infra/temporal-connection';
import { SIMULATOR_AUTH_TOKEN } from '../infra/config';
import { campaignWorkflowId } from '../workflows/shared';
import {
  cfg,
  eventually,
  freePort,
  freePortPair,
  insertContacts,
  repoRoot,
  runCli,
  testDatabase,
  testPhone,
  uid,
  createCampaign,
} from '../harness/stack';

test('dialer dev runs a campaign end to end and stops on SIGTERM', { timeout: 180_000 }, async () => {
  const serverPort = await freePort();
  const simulatorPort = await freePort();
  const metricsPort = await freePortPair(); // the SDK's exporter takes the port after it
  const env = {
    ...process.env,
    DATABASE_URL: cfg.testDatabaseUrl,
    TEMPORAL_TASK_QUEUE: uid('tq'),
    SERVER_PORT: String(serverPort),
    SIMULATOR_PORT: String(simulatorPort),
    METRICS_PORT: String(metricsPort),
    // no Twilio settings: dev starts the simulator with its demo credentials
    TWILIO_ACCOUNT_SID: '',
    TWILIO_AUTH_TOKEN: '',
    TWILIO_API_BASE_URL: '',
    PUBLIC_BASE_URL: '',
    // no API token: dev keeps one in its data folder, and the console signs in with it
    DIALER_API_TOKEN: '',
    LOG_LEVEL: 'warn',
  };
  const dev = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'client/main.ts'), 'dev'], {
    env,
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  dev.stdout.on('data', (d) => (out += d));
  dev.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => dev.on('exit', (code) => r(code)));
  const db = testDatabase();
  const connection = await Connection.connect({ address: cfg.temporal.address });
  try {
    await eventually(async () => out.includes('Ctrl-C stops everything'), 60_000, `dev to start:\n${out}`);
    for (const v of [
      'TEMPORAL_ADDRESS',
      'TEMPORAL_NAMESPACE',
      'TEMPORAL_TASK_QUEUE',
      'DATABASE_URL',
      'TWILIO_ACCOUNT_SID',
      'TWILIO_AUTH_TOKEN',
      'TWILIO_API_BASE_URL',
      'PUBLIC_BASE_URL',
      'SERVER_PORT',
      'SIMULATOR_PORT',
      'LOG_LEVEL',
    ]) {
      assert.match(out, new RegExp(`${v}=`), `dev prints ${v}`);
    }
    assert.match(out, new RegExp(`simulator at http://127.0.0.1:${simulatorPort}`));
    assert.doesNotMatch(out, new RegExp(SIMULATOR_AUTH_TOKEN), 'the auth token is never printed');
    const health = await fetch(`http://127.0.0.1:${serverPort}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(((await health.json()) as { checks: unknown }).checks, {
      database: 'ok',
      temporal: 'ok',
    });
    // the codec server the Web UI decodes through: from the UI's origin, no token under dev
    assert.match(out, new RegExp(`Codec server +http://127.0.0.1:${serverPort}/codec`));
    // the operator's console on the same port
    assert.match(out, new RegExp(`Console +http://127.0.0.1:${serverPort}/console `));
    assert.equal((await fetch(`http://127.0.0.1:${serverPort}/console/assets/console.css`)).status, 200);
    const tokenFile = /sign in with the token in (\S+)\)/.exec(out)?.[1];
    assert.ok(tokenFile, `dev says where its API token is:\n${out}`);
    const signedIn = await fetch(`http://127.0.0.1:${serverPort}/console/sign-in`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        origin: `http://127.0.0.1:${serverPort}`,
      },
      body: new URLSearchParams({ token: fs.readFileSync(path.resolve(repoRoot, tokenFile), 'utf8').trim() }),
    });
    assert.equal(signedIn.status, 303, 'the kept token signs in to the console');
    assert.match(signedIn.headers.get('set-cookie') ?? '', /HttpOnly/i);
    assert.doesNotMatch(
      out,
      new RegExp(fs.readFileSync(path.resolve(repoRoot, tokenFile), 'utf8').trim()),
      'the token is never printed',
    );
    const codec = (op: string, body: unknown) =>
      fetch(`http://127.0.0.1:${serverPort}/codec/${op}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: `http://127.0.0.1:${cfg.temporal.uiPort}` },
        body: JSON.stringify(body),
      });
    const plain = {
      payloads: [{ metadata: { encoding: 'anNvbi9wbGFpbg==' }, data: 'IisxNTAwNTU1MDE5OSI=' }],
    };
    const sealed = await codec('encode', plain);
    assert.equal(sealed.status, 200);
    const back = await codec('decode', await sealed.json());
    assert.deepEqual(await back.json(), plain);

    const name = uid('dev');
    const phones = [testPhone(), testPhone(), testPhone()];
    await createCampaign(env, name);
    await insertContacts(db, name, phones);
    assert.equal((await runCli(['campaign', 'start', name, '--until-empty'], env)).code, 0);
    const client = temporalClient(connection, cfg);
    const result = await client.workflow.getHandle(campaignWorkflowId(name)).result();
    assert.equal(result.status, 'completed');
    const rows =
      await db.sql`select contact_successful, last_state, number_of_contacts from contacts where campaign_name = ${name}`;
    assert.deepEqual(
      rows.map((r) => ({ ...r })),
      phones.map(() => ({ contact_successful: 1, last_state: 0, number_of_contacts: 1 })),
    );

    // one scrape: our counters and the Temporal SDK's metrics
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(metrics, new RegExp(`dialer_calls_placed_total\\{campaign="${name}"\\} 3`));
    assert.match(
      metrics,
      new RegExp(`dialer_attempt_outcomes_total\\{campaign="${name}",last_state="Connected"\\} 3`),
    );
    // the abandon ledger: three people answered, none abandoned (no agents: the message is the call)
    assert.match(metrics, new RegExp(`dialer_live_answers\\{campaign="${name}",period="30d"\\} 3`));
    assert.match(metrics, new RegExp(`dialer_abandoned_calls\\{campaign="${name}",period="24h"\\} 0`));
    assert.match(metrics, new RegExp(`dialer_abandon_rate\\{campaign="${name}",period="24h"\\} 0`));
    assert.match(metrics, /^temporal_\w+/m, 'the SDK exporter is merged in');
    for (const p of phones) assert.ok(!metrics.includes(p), 'no phone number in the metrics');
  } finally {
    dev.kill('SIGTERM');
    const code = await exited;
    await connection.close();
    await db.close();
    assert.equal(code, 0, `dev exits cleanly on SIGTERM:\n${out}`);
  }
  await assert.rejects(fetch(`http://127.0.0.1:${serverPort}/health`), 'the webhook server is down');
  await assert.rejects(fetch(`http://127.0.0.1:${simulatorPort}/health`), 'the simulator is down');
});
