/**
 * `dialer temporal start --engine postgres` builds temporal-server, sets up its two databases on
 * PostgreSQL, starts it, and a campaign runs end to end on it; Ctrl-C stops it cleanly. Fresh
 * database names per run, dropped at the end. The first run builds the server (about 2 minutes).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ContactSuccessful, LastState } from '../domain/contract';
import { spawnDialer } from '../harness/processes';
import { dropDatabases, rawConnection } from '../harness/raw-db';
import {
  cfg,
  createCampaign,
  embeddedDefaultsEnv,
  eventually,
  freePort,
  insertContacts,
  runCli,
  startStack,
  testDataConverter,
  testPhone,
  uid,
} from '../harness/stack';
import { campaignWorkflowId } from '../workflows/shared';
import type { DemoSummary } from '../client/commands/demo';
import { temporalAnswers } from '../infra/temporal-server';
import { Client, Connection } from '@temporalio/client';

const pgServer = (database: string) => {
  const u = new URL(cfg.testDatabaseUrl!);
  u.pathname = `/${database}`;
  return u.toString();
};

const dropEngineDatabases = (name: string) =>
  dropDatabases(cfg.testDatabaseUrl, [name, `${name}_visibility`]);

/** `dialer temporal start --engine postgres …` until it says it is up; `stop` sends SIGINT and gives the exit code. */
async function startEngineCommand(env: NodeJS.ProcessEnv, databaseUrl: string) {
  const engine = spawnDialer(
    ['temporal', 'start', '--engine', 'postgres', '--database-url', databaseUrl, '--shards', '2'],
    env,
  );
  let out = '';
  engine.stdout!.on('data', (d) => (out += d));
  engine.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => engine.on('exit', (code) => r(code)));
  const gone = exited.then((code) => {
    throw new Error(`the engine exited (${code}) before it was up:\n${out}`);
  });
  try {
    await Promise.race([
      eventually(async () => out.includes('postgres engine'), 400_000, 'the engine'),
      gone,
    ]);
  } catch (err) {
    engine.kill('SIGKILL');
    throw err;
  }
  gone.catch(() => undefined);
  return {
    output: () => out,
    kill: () => engine.exitCode === null && engine.kill('SIGKILL'),
    stop: async () => {
      engine.kill('SIGINT');
      return exited;
    },
  };
}

test(
  'the postgres engine runs a campaign end to end, stops on Ctrl-C and keeps it across a restart',
  { timeout: 600_000 },
  async () => {
    const dbName = `temporal_t_${Math.random().toString(36).slice(2, 10)}`;
    const address = `127.0.0.1:${await freePort()}`;
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dialer-engine-'));
    const env = { ...process.env, TEMPORAL_ADDRESS: address, DIALER_DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
    let engine = await startEngineCommand(env, pgServer(dbName));
    try {
      assert.ok(fs.existsSync(path.join(dataDir, 'temporal-postgres', 'config', 'development.yaml')));
      const name = await runCampaign(address);
      assert.equal(await engine.stop(), 0, engine.output());
      assert.equal(await temporalAnswers(address), false, 'stopped');

      engine = await startEngineCommand(env, pgServer(dbName));
      const connection = await Connection.connect({ address });
      try {
        const client = new Client({ connection, dataConverter: testDataConverter });
        const again = await client.workflow.getHandle(campaignWorkflowId(name)).describe();
        assert.equal(
          again.status.name,
          'COMPLETED',
          "the campaign's workflow is still there after a restart",
        );
      } finally {
        await connection.close();
      }
      assert.equal(await engine.stop(), 0, engine.output());
    } finally {
      engine.kill();
      await dropEngineDatabases(dbName);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  },
);

test(
  'dialer demo --engine postgres runs its campaign on temporal-server and stops it after',
  { timeout: 600_000 },
  async () => {
    const dbName = `temporal_t_${Math.random().toString(36).slice(2, 10)}`;
    const address = `127.0.0.1:${await freePort()}`;
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dialer-engine-demo-'));
    const env = await embeddedDefaultsEnv(dataDir, { TEMPORAL_ADDRESS: address });
    try {
      const args = ['demo', '--engine', 'postgres', '--temporal-database-url', pgServer(dbName)];
      const r = await runCli([...args, '--contacts', '12', '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      const summary = JSON.parse(r.stdout) as DemoSummary;
      assert.equal(summary.contacts, 12);
      assert.equal(summary.byContactSuccessful.MarkedForDialing, undefined, 'no contact left at 3');
      assert.ok(summary.callsPlaced >= 12, `calls placed: ${summary.callsPlaced}`);
      assert.equal(summary.temporalUi, null, 'the postgres engine has no Web UI to link to');
      // the campaign's history is in the engine's database, and the engine is gone with the demo
      const sql = rawConnection(pgServer(dbName));
      try {
        const [row] = await sql<{ n: number }[]>`
        select count(*)::int as n from executions where workflow_id = ${`campaign/${summary.campaign}`}`;
        assert.ok(row!.n >= 1, "the campaign's workflow state is in the engine's database");
      } finally {
        await sql.end();
      }
      const vis = rawConnection(pgServer(`${dbName}_visibility`));
      try {
        const [row] = await vis<{ n: number }[]>`
        select count(*)::int as n from executions_visibility where workflow_id = ${`campaign/${summary.campaign}`}`;
        assert.equal(row!.n, 1, "the campaign's workflow is listed in the engine's visibility database");
      } finally {
        await vis.end();
      }
      assert.equal(await temporalAnswers(address), false, 'the demo stopped the engine it started');
    } finally {
      await dropEngineDatabases(dbName);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  },
);

async function runCampaign(temporalAddress: string): Promise<string> {
  const stack = await startStack({ timeScale: 0.05 }, { temporalAddress });
  try {
    const name = uid('engine');
    const human = Array.from({ length: 3 }, testPhone);
    const busy = Array.from({ length: 2 }, testPhone);
    const numbers = Object.fromEntries([...human.map((p) => [p, 'human']), ...busy.map((p) => [p, 'busy'])]);
    stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 }, numbers });
    await createCampaign(
      stack.env,
      name,
      '--max-attempts',
      '2',
      '--lines',
      '2',
      '--retry',
      'default=1s',
      '--retry',
      'Busy=1s',
    );
    await insertContacts(stack.db, name, [...human, ...busy]);
    const start = await runCli(
      ['campaign', 'start', name, '--until-empty', '--refill-interval', '2s'],
      stack.env,
    );
    assert.equal(start.code, 0, start.stderr);
    const result = await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();
    assert.equal(result.status, 'completed');
    const rows = await stack.db.sql<
      { phone_number: string; contact_successful: number; last_state: number }[]
    >`
      select phone_number, contact_successful, last_state from contacts where campaign_name = ${name}`;
    assert.equal(rows.length, 5);
    for (const r of rows) {
      const isHuman = human.includes(r.phone_number);
      assert.equal(
        r.contact_successful,
        isHuman ? ContactSuccessful.Successful : ContactSuccessful.Unreachable,
        r.phone_number,
      );
      assert.equal(r.last_state, isHuman ? LastState.Connected : LastState.Busy, r.phone_number);
    }
    return name;
  } finally {
    await stack.stop();
  }
}
