/**
 * `dialer demo` on the embedded defaults: DATABASE_URL unset, so PGlite serves the database; the
 * simulator dials; the summary it prints agrees with what the embedded database holds afterwards.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import type { DemoSummary } from '../client/commands/demo';
import { contactSuccessfulName } from '../domain/contract';
import { cfg, embeddedDefaultsEnv, runCli, uid } from '../harness/stack';

test(
  'the demo runs on the embedded PGlite and its summary agrees with the database',
  { timeout: 240_000 },
  async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-'));
    try {
      const env = await embeddedDefaultsEnv(dataDir, {
        TEMPORAL_ADDRESS: cfg.temporal.address,
        TEMPORAL_TASK_QUEUE: uid('tq-demo'),
      });
      const r = await runCli(['demo', '--contacts', '20', '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /embedded PostgreSQL \(PGlite\)/);
      const summary = JSON.parse(r.stdout) as DemoSummary;
      assert.equal(summary.contacts, 20);
      assert.ok(summary.redials > 0, 'redials happened during the run');
      assert.ok(
        Object.keys(summary.attemptsByLastState).length >= 6,
        JSON.stringify(summary.attemptsByLastState),
      );
      assert.equal(summary.byContactSuccessful.MarkedForDialing, undefined, 'no contact left at 3');
      assert.equal(summary.consoleUrl, `http://127.0.0.1:${env.SERVER_PORT}/console`);
      assert.match(r.stderr, new RegExp(`operator console: http://127.0.0.1:${env.SERVER_PORT}/console`));

      // the demo stopped everything it started; open its database directly and compare
      const db = await PGlite.create(path.join(dataDir, 'pglite'));
      try {
        const cs = await db.query<{ cs: number; n: number }>(
          'select contact_successful as cs, count(*)::int as n from contacts where campaign_name = $1 group by 1',
          [summary.campaign],
        );
        assert.deepEqual(
          Object.fromEntries(cs.rows.map((row) => [contactSuccessfulName(row.cs), row.n])),
          summary.byContactSuccessful,
        );
        const a = await db.query<{ attempts: number; placed: number; counted: number }>(
          `select count(*)::int as attempts, count(*) filter (where placed)::int as placed,
           (select sum(number_of_contacts)::int from contacts where campaign_name = $1) as counted
         from call_attempts where campaign_name = $1`,
          [summary.campaign],
        );
        assert.equal(a.rows[0]!.attempts, summary.attempts);
        assert.equal(a.rows[0]!.placed, summary.callsPlaced);
        assert.equal(
          a.rows[0]!.counted,
          summary.callsPlaced,
          'number_of_contacts counts every placed call once',
        );
      } finally {
        await db.close();
      }
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  },
);
