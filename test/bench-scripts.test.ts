/**
 * The benchmark scripts start what they need, as `npm run bench` does (bench/on-stack.ts). With
 * nothing answering at TEMPORAL_ADDRESS, `npm run pacing` and `npm run bench:bare` start a Temporal
 * dev server of their own, and pacing creates and migrates a database that does not exist yet;
 * each prints its results, exits 0 and leaves no Temporal process behind. A failure is one line
 * and exit 1, not a stack trace.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { after, describe, test } from 'node:test';
import { cfg, freePort, repoRoot } from '../harness/stack';
import { databaseSizes, dropDatabases } from '../harness/raw-db';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `npm run <script> -- <args>` as a user types it, with these variables on top of ours. */
function npmRun(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', script, '--', ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The Temporal processes (`temporal server start-dev`) listening on this port, by /proc. */
function temporalProcesses(port: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // gone meanwhile
    }
    const at = argv.indexOf('--port');
    if (argv.includes('start-dev') && at >= 0 && argv[at + 1] === port) pids.push(Number(entry));
  }
  return pids;
}

/** What the script said of the dev server it started: its port and its temp folder. */
function startedServer(run: Run, closedAddress: string): { port: string; dir: string } {
  const m = /no Temporal at (\S+): starting a dev server at 127\.0\.0\.1:(\d+) \(log in (.+?)\)/.exec(
    run.stderr,
  );
  assert.ok(m, `no "starting a dev server" line in:\n${run.stderr}`);
  assert.equal(m[1], closedAddress);
  return { port: m[2]!, dir: m[3]! };
}

/** The dev server the script started is gone, and its temp folder with it. */
function assertStopped(server: { port: string; dir: string }): void {
  assert.deepEqual(
    temporalProcesses(server.port),
    [],
    `a Temporal dev server on port ${server.port} still runs`,
  );
  assert.equal(fs.existsSync(server.dir), false, `${server.dir} is left behind`);
}

const explain = (r: Run) => `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

describe('benchmark scripts start the stack they need', () => {
  const suiteDb = new URL(cfg.testDatabaseUrl);
  const freshName = `${decodeURIComponent(suiteDb.pathname.slice(1))}_bench_${Date.now().toString(36)}`;
  const freshUrl = new URL(suiteDb);
  freshUrl.pathname = `/${freshName}`;
  after(() => dropDatabases(cfg.testDatabaseUrl, [freshName]));

  test('npm run pacing, no Temporal and no database yet: runs, prints its table, stops its server', async () => {
    const closed = `127.0.0.1:${await freePort()}`;
    const run = await npmRun(
      'pacing',
      ['--contacts', '20', '--agents', '2', '--modes', 'progressive', '--time-scale', '0.005'],
      { TEMPORAL_ADDRESS: closed, TEST_DATABASE_URL: freshUrl.toString() },
    );
    assert.equal(run.code, 0, explain(run));
    const server = startedServer(run, closed);
    assert.match(run.stderr, new RegExp(`created database ${freshName}`));
    assert.match(run.stdout, /pacing: 2 agents, 20 contacts/);
    const rows = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { mode: string; calls: number }[];
    assert.deepEqual(
      rows.map((r) => [r.mode, r.calls]),
      [['progressive', 20]],
    );
    assert.ok(freshName in (await databaseSizes(cfg.testDatabaseUrl, [freshName])));
    assertStopped(server);
  });

  test('npm run bench:bare, no Temporal: fans out on a dev server of its own, then stops it', async () => {
    const closed = `127.0.0.1:${await freePort()}`;
    const run = await npmRun('bench:bare', ['--children', '20', '--in-flight', '5'], {
      TEMPORAL_ADDRESS: closed,
    });
    assert.equal(run.code, 0, explain(run));
    const server = startedServer(run, closed);
    const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { children: number };
    assert.equal(result.children, 20);
    assertStopped(server);
  });

  test('a failure is one line and exit 1: the database unreachable, an unknown option', async () => {
    const noDatabase = `postgres://postgres@127.0.0.1:${await freePort()}/nowhere`;
    const unreachable = await npmRun('pacing', ['--contacts', '1'], { TEST_DATABASE_URL: noDatabase });
    assert.equal(unreachable.code, 1, explain(unreachable));
    assert.match(
      unreachable.stderr,
      /^pacing: database nowhere on 127\.0\.0\.1:\d+ \(TEST_DATABASE_URL\): .+$/m,
    );
    const wrong = await npmRun('bench:bare', ['--childs', '20'], {});
    assert.equal(wrong.code, 1, explain(wrong));
    assert.match(wrong.stderr, /^bench:bare: .*--childs.*$/m);
    for (const r of [unreachable, wrong]) assert.doesNotMatch(r.stderr, /^\s+at /m, 'a stack trace');
  });
});
