/**
 * The short fault-injection run on the production engine (docs/development.md): temporal-server on
 * fresh PostgreSQL databases behind a proxy of its own, 100 contacts, three faults of each of the
 * postgres engine's kinds (its kill -9 and the cuts of its own connections among them), every
 * invariant checked; Temporal's databases are measured and dropped at the end. The first run
 * builds temporal-server (about 2 minutes).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ENGINE_FAULT_KINDS } from '../chaos/plan';
import { formatReport, runChaos } from '../chaos/run';
import { databaseSizes } from '../harness/raw-db';
import { cfg } from '../harness/stack';

const FAULTS_PER_KIND = 3;

test(
  'chaos on the postgres engine: 100 contacts, 3 faults of each kind, every invariant held',
  {
    timeout: 900_000,
  },
  async () => {
    // named after the test database, so that runs on one server under other names never meet
    const testDb = new URL(cfg.testDatabaseUrl).pathname.replace(/^\//, '');
    const url = new URL(cfg.testDatabaseUrl);
    url.pathname = `/${testDb}_chaos_pg`;
    const temporalUrl = new URL(cfg.testDatabaseUrl);
    temporalUrl.pathname = `/${testDb}_t`;
    const kinds = ENGINE_FAULT_KINDS.postgres;
    const lines: string[] = [];
    const report = await runChaos({
      engine: 'postgres',
      contacts: 100,
      faults: FAULTS_PER_KIND * kinds.length,
      seed: 20261127,
      faultGapMs: 1000,
      databaseUrl: url.toString(),
      temporalDatabaseUrl: temporalUrl.toString(),
      settleTimeoutMs: 300_000,
      sampleEveryMs: 5000,
      log: (line) => lines.push(line),
    });
    const text = formatReport(report);
    console.log(text);
    const tail = (n: number) => lines.slice(-n).join('\n');
    assert.equal(report.engine, 'postgres');
    assert.ok(text.includes('engine postgres'), 'the report names the engine');
    for (const kind of kinds) assert.equal(report.faults[kind], FAULTS_PER_KIND, `faults of kind ${kind}`);
    assert.ok(report.settled, `the campaign settled:\n${tail(20)}`);
    assert.ok(report.attempts >= report.contacts - 10 && report.calls > 0, 'contacts were dialed');
    assert.deepEqual(
      Object.entries(report.violations).filter(([, n]) => n > 0),
      [],
      `violations:\n${text}\n${tail(30)}`,
    );
    assert.ok(!('error' in report.campaignWorkflow), `the campaign's histories were read:\n${text}`);
    assert.ok(report.campaignWorkflow.runs >= 1);
    assert.ok(report.rss['worker-1'] && report.rss['worker-2'] && report.rss.temporal, 'memory sampled');
    const dbs = report.temporalDatabases;
    assert.ok(dbs && dbs.dropped && Object.keys(dbs.bytes).length === 2, `Temporal's databases measured`);
    for (const [name, bytes] of Object.entries(dbs.bytes)) {
      assert.ok(name.startsWith(`${testDb}_t_20261127_`) && bytes > 0, name);
    }
    assert.deepEqual(await databaseSizes(url.toString(), Object.keys(dbs.bytes)), {}, 'dropped at the end');
  },
);
