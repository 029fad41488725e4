/**
 * A cut PostgreSQL connection must not kill a dialer process (found by `npm run chaos`: the
 * `postgres` driver threw from a setImmediate on a closed socket, and left a rejected promise
 * unhandled; see scripts/patch-postgres.cjs). Without the patch this process dies in every run.
 * The queries in flight fail and are retried; the process lives on and its pool recovers, and no
 * write the driver acknowledged is missing from the table afterwards.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { cfg, repoRoot } from '../harness/stack';

test(
  'connections cut again and again under load: the process survives, the pool recovers, no acknowledged write is lost',
  { timeout: 240_000 },
  async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(repoRoot, 'harness/pg-cuts.ts'), cfg.testDatabaseUrl, '100'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    assert.equal(code, 0, `the process died:\n${err}`);
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as {
      cuts: number;
      reset: number;
      ok: number;
      failed: number;
      stuck: number;
      answeredAfter: number;
      acknowledgedWrites: number;
      lostWrites: unknown[];
      wrong: string[];
      wrongCount: number;
    };
    assert.ok(r.reset > 0, `the cuts reset open connections (${r.reset})`);
    assert.ok(r.failed > 0, 'queries in flight failed at the cuts (the cuts were real)');
    assert.ok(r.ok > 0, 'queries succeeded between the cuts');
    // The driver can still leave a rare query pending for good when a cut hits it at the wrong
    // moment (porsager/postgres#1209; 2 of 14 runs of 60 cuts here): counted and printed, not
    // asserted; the dialer bounds it with its activity timeouts.
    assert.ok(r.answeredAfter > 0, 'queries are answered after the cuts');
    // Without the third fix in scripts/patch-postgres.cjs the driver answered 1–3 queries per run
    // (in about half of the 60-cut runs) that it never sent: an UPDATE resolved with no rows and
    // did not run. placeCall stores a call's SID with such an update: the chaos run's contact 321
    // had a placed call and an attempt row without its SID.
    assert.ok(r.acknowledgedWrites > 0, 'writes succeeded between the cuts');
    assert.deepEqual(r.lostWrites, [], 'every acknowledged write is in the table');
    assert.equal(r.wrongCount, 0, `every query got its own answer: ${r.wrong.join('; ')}`);
    console.log(
      `after ${r.cuts} cuts: ${r.answeredAfter}/30 fresh queries answered, ${r.stuck} operations left pending, ` +
        `${r.acknowledgedWrites} acknowledged writes all kept`,
    );
  },
);
