/**
 * The frame the benchmark scripts share (`npm run pacing`, `bench:lateness`, `bench:bare`,
 * `bench:campaign`): like `npm run bench`, each starts what it needs. Temporal is the server at
 * TEMPORAL_ADDRESS if one answers there, else an in-memory dev server of the script's own on free
 * ports, stopped at the end; the database of the in-process stack (TEST_DATABASE_URL, as the
 * tests') is created and migrated if it is not yet. A failure is one line on stderr and exit 1.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ensureDatabase, migrateDatabase } from '../db/migrate';
import { cfg, startStack, type Stack } from '../harness/stack';
import { freePort } from '../harness/processes';
import {
  TemporalSetupError,
  ensureTemporalCli,
  registerSearchAttributes,
  startDevServer,
  stopDevServer,
  temporalAnswers,
} from '../infra/temporal-server';
import type { SimulatorOptions } from '../simulator';

const progress = (line: string) => console.error(line);
const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Ends the script with one line: `<script>: <what went wrong>`, exit 1. */
function fail(script: string, err: unknown): never {
  console.error(`${script}: ${message(err)}`);
  process.exit(1);
}

/** The script's options (node's parseArgs); an unknown or malformed one ends the script in one line. */
export function benchArgs<const O extends NonNullable<ParseArgsConfig['options']>>(
  script: string,
  options: O,
) {
  try {
    return parseArgs({ options }).values;
  } catch (err) {
    return fail(script, err);
  }
}

/**
 * Runs a script's `main`: a failure is one line and exit 1, and Ctrl-C (or SIGTERM) exits at once.
 * A dev server started here runs in a process group of its own, which the terminal's Ctrl-C does
 * not reach; exiting kills it all the same (see `track` in infra/temporal-server.ts).
 */
export function runBench(script: string, main: () => Promise<void>): void {
  const interrupted = () => process.exit(130);
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
  main().catch((err: unknown) => fail(script, err));
}

/**
 * Runs `body` with Temporal: the server at TEMPORAL_ADDRESS if it answers (our search attributes
 * registered on it), else a dev server of our own (see startOwnDevServer), stopped when `body` is
 * done, whether it succeeded or not.
 */
export async function withTemporal<T>(body: (address: string) => Promise<T>): Promise<T> {
  const configured = cfg.temporal.address;
  if (await temporalAnswers(configured)) {
    await registerSearchAttributes(configured, cfg.temporal.namespace);
    return await body(configured);
  }
  const own = await startOwnDevServer(configured);
  try {
    return await body(own.address);
  } finally {
    await own.stop();
  }
}

/**
 * An in-memory dev server (with our search attributes) on free ports, never the configured ones,
 * which may be another host's or taken; its log in a temp folder, removed when it stops, kept
 * if it did not start.
 */
async function startOwnDevServer(configured: string): Promise<{ address: string; stop(): Promise<void> }> {
  const address = `127.0.0.1:${await freePort()}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dialer-bench-temporal-'));
  const logFile = path.join(dir, 'temporal.log');
  // on Ctrl-C too: the process exits at once (see runBench), its dev server killed on the way
  const removeDir = () => fs.rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeDir);
  progress(`no Temporal at ${configured}: starting a dev server at ${address} (log in ${dir})…`);
  try {
    const server = await startDevServer({
      cli: await ensureTemporalCli(cfg.toolsDir, progress),
      address,
      uiPort: await freePort(),
      namespace: cfg.temporal.namespace,
      logFile,
    });
    return {
      address,
      async stop() {
        await stopDevServer(server);
        process.off('exit', removeDir);
        removeDir();
      },
    };
  } catch (err) {
    process.off('exit', removeDir);
    if (!fs.existsSync(logFile)) {
      removeDir(); // no CLI to start: nothing was logged
      throw err;
    }
    throw new TemporalSetupError(
      `the Temporal dev server did not start: ${message(err)} (its log: ${logFile})`,
    );
  }
}

/** Creates the database if it is missing and applies the migrations, as `npm test` does. */
async function prepareDatabase(url: string): Promise<void> {
  const where = new URL(url);
  const name = decodeURIComponent(where.pathname.slice(1));
  try {
    if (await ensureDatabase(url)) progress(`created database ${name} on ${where.host}`);
    await migrateDatabase(url);
  } catch (err) {
    throw new Error(`database ${name} on ${where.host} (TEST_DATABASE_URL): ${message(err)}`);
  }
}

/**
 * Runs a bench on a fresh in-process stack (harness/stack.ts: simulator, webhook server, worker)
 * on its database and Temporal (see withTemporal), and stops the stack whatever happens.
 */
export function runOnStack(
  script: string,
  sim: Partial<SimulatorOptions>,
  bench: (stack: Stack, temporalAddress: string) => Promise<void>,
): void {
  runBench(script, async () => {
    await prepareDatabase(cfg.testDatabaseUrl);
    await withTemporal(async (temporalAddress) => {
      const stack = await startStack(sim, { temporalAddress });
      try {
        await bench(stack, temporalAddress);
      } finally {
        await stack.stop();
      }
    });
  });
}
