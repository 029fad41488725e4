/**
 * `npm test`: prepares what the tests need, runs them with node's test runner, tears down what it
 * started. The test database (TEST_DATABASE_URL, default dialer_test on the machine's PostgreSQL)
 * is created and migrated; a Temporal server already answering at TEMPORAL_ADDRESS is used,
 * otherwise an in-memory dev server is started there (the CLI is built first if it is missing).
 *
 * `npm test -- --engine postgres [files…]`: the engine pass. temporal-server on PostgreSQL is
 * started at TEMPORAL_ADDRESS on two fresh databases (dropped after), and the tests that matter
 * most for the engine run on it (ENGINE_PASS, unless files are given). test/chaos-engine.test.ts
 * runs only there.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureDatabase, migrateDatabase } from '../db/migrate';
import { type Config, config } from '../infra/config';
import { startEngine } from '../infra/temporal-engine';
import {
  ensureTemporalCli,
  registerSearchAttributes,
  startDevServer,
  stopDevServer,
  temporalAnswers,
} from '../infra/temporal-server';
import { dropDatabases } from '../harness/raw-db';

/** What the engine pass runs: a campaign end to end (continue-as-new included), the contract, §9 under load, scale-out, pacing, the UI's buttons, replay, and a short chaos run (on a postgres engine of its own, which it kills). */
export const ENGINE_PASS = [
  'campaign-end-to-end',
  'campaign-rules',
  'campaign-life',
  'campaign-lifecycle',
  'invariants',
  'crm-redials',
  'scale-out',
  'rate-limit',
  'temporal-ui-buttons',
  'replay',
  'chaos-engine',
].map((name) => path.join('test', `${name}.test.ts`));

/** Tests that run only in the engine pass: they need temporal-server (chaos kills its own). */
const ENGINE_ONLY = new Set([path.join('test', 'chaos-engine.test.ts')]);

const log = (s: string) => console.error(`[test setup] ${s}`);

interface Args {
  engine: 'dev' | 'postgres';
  files: string[];
  passThrough: string[];
}

/** Arguments: `--engine dev|postgres`, test files, and node --test options (passed through). */
function parseArgs(argv: string[]): Args {
  const rest = [...argv];
  let engine: Args['engine'] = 'dev';
  const at = rest.findIndex((a) => a === '--engine' || a.startsWith('--engine='));
  if (at >= 0) {
    const [value] = rest[at]!.includes('=') ? [rest[at]!.split('=')[1]] : rest.splice(at + 1, 1);
    rest.splice(at, 1);
    if (value !== 'dev' && value !== 'postgres') throw new Error(`--engine: dev or postgres, not "${value}"`);
    engine = value;
  }
  return {
    engine,
    files: rest.filter((a) => !a.startsWith('--')),
    passThrough: rest.filter((a) => a.startsWith('--')),
  };
}

/** The dev server when nothing answers (else the server that does); returns how to stop it. */
async function devServer(cfg: Config): Promise<() => Promise<void>> {
  if (await temporalAnswers(cfg.temporal.address)) {
    log(`using the Temporal server at ${cfg.temporal.address}`);
    await registerSearchAttributes(cfg.temporal.address, cfg.temporal.namespace);
    return async () => {};
  }
  const cli = await ensureTemporalCli(cfg.toolsDir, log);
  fs.mkdirSync(cfg.dataDir, { recursive: true });
  const server = await startDevServer({
    cli,
    address: cfg.temporal.address,
    uiPort: cfg.temporal.uiPort,
    namespace: cfg.temporal.namespace,
    logFile: path.join(cfg.dataDir, 'temporal-test.log'),
  });
  log(`started an in-memory Temporal dev server at ${cfg.temporal.address}`);
  return () => stopDevServer(server);
}

/** temporal-server on two fresh databases next to the test database; stopped and dropped after. */
async function postgresEngine(cfg: Config): Promise<() => Promise<void>> {
  if (await temporalAnswers(cfg.temporal.address)) {
    throw new Error(
      `something already answers at ${cfg.temporal.address}: the engine pass starts its own server`,
    );
  }
  const server = new URL(cfg.testDatabaseUrl);
  const name = `temporal_test_${Date.now().toString(36)}`;
  server.pathname = `/${name}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dialer-test-engine-'));
  const t0 = Date.now();
  const child = await startEngine(
    {
      toolsDir: cfg.toolsDir,
      dir,
      databaseUrl: server.toString(),
      shards: 4,
      address: cfg.temporal.address,
      namespace: cfg.temporal.namespace,
    },
    log,
  );
  log(
    `started temporal-server on PostgreSQL (${name}, 4 shards) at ${cfg.temporal.address} in ${Date.now() - t0} ms`,
  );
  return async () => {
    await stopDevServer(child, 30_000);
    try {
      await dropDatabases(cfg.testDatabaseUrl, [name, `${name}_visibility`]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
}

function runNodeTests(args: string[]): Promise<number> {
  return new Promise<number>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...args], {
      stdio: 'inherit',
      cwd: path.join(__dirname, '..'),
    });
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function main(): Promise<number> {
  const cfg = config();
  const args = parseArgs(process.argv.slice(2));
  await ensureDatabase(cfg.testDatabaseUrl);
  await migrateDatabase(cfg.testDatabaseUrl);
  log(`database ${new URL(cfg.testDatabaseUrl).pathname.slice(1)} migrated`);

  const stop = args.engine === 'postgres' ? await postgresEngine(cfg) : await devServer(cfg);
  const testFiles = args.files.length
    ? args.files
    : args.engine === 'postgres'
      ? ENGINE_PASS
      : fs
          .readdirSync(path.join(__dirname, '..', 'test'))
          .filter((f) => f.endsWith('.test.ts'))
          .sort()
          .map((f) => path.join('test', f))
          .filter((f) => !ENGINE_ONLY.has(f));
  try {
    return await runNodeTests([...args.passThrough, ...testFiles]);
  } finally {
    await stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
