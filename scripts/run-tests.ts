/**
 * `npm test`: prepares what the tests need, runs them with node's test runner, tears down what it
 * started. The test database (TEST_DATABASE_URL, default dialer_test on the machine's PostgreSQL)
 * is created and migrated; a Temporal server already answering at TEMPORAL_ADDRESS is used,
 * otherwise an in-memory dev server is started there (the CLI is built first if it is missing).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ensureDatabase, migrateDatabase } from '../db/migrate';
import { config } from '../infra/config';
import {
  ensureTemporalCli,
  registerSearchAttributes,
  startDevServer,
  stopDevServer,
  temporalAnswers,
} from '../infra/temporal-server';

async function main(): Promise<number> {
  const cfg = config();
  const log = (s: string) => console.error(`[test setup] ${s}`);
  await ensureDatabase(cfg.testDatabaseUrl);
  await migrateDatabase(cfg.testDatabaseUrl);
  log(`database ${new URL(cfg.testDatabaseUrl).pathname.slice(1)} migrated`);

  let server;
  if (await temporalAnswers(cfg.temporal.address)) {
    log(`using the Temporal server at ${cfg.temporal.address}`);
    await registerSearchAttributes(cfg.temporal.address, cfg.temporal.namespace);
  } else {
    const cli = await ensureTemporalCli(cfg.toolsDir, log);
    fs.mkdirSync(cfg.dataDir, { recursive: true });
    server = await startDevServer({
      cli,
      address: cfg.temporal.address,
      uiPort: cfg.temporal.uiPort,
      namespace: cfg.temporal.namespace,
      logFile: path.join(cfg.dataDir, 'temporal-test.log'),
    });
    log(`started an in-memory Temporal dev server at ${cfg.temporal.address}`);
  }

  // arguments: test files, and node --test options (e.g. --test-name-pattern=…) passed through
  const args = process.argv.slice(2);
  const files = args.filter((a) => !a.startsWith('--'));
  const passThrough = args.filter((a) => a.startsWith('--'));
  const testFiles = files.length
    ? files
    : fs
        .readdirSync(path.join(__dirname, '..', 'test'))
        .filter((f) => f.endsWith('.test.ts'))
        .sort()
        .map((f) => path.join('test', f));
  try {
    return await new Promise<number>((resolve) => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', '--test', '--test-reporter=spec', ...passThrough, ...testFiles],
        {
          stdio: 'inherit',
          cwd: path.join(__dirname, '..'),
        },
      );
      const forward = (sig: NodeJS.Signals) => child.kill(sig);
      process.on('SIGINT', forward);
      process.on('SIGTERM', forward);
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    });
  } finally {
    if (server) await stopDevServer(server);
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
