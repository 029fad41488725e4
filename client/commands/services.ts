import path from 'node:path';
// Heavy modules (the worker and its native bridge, fastify, the simulator) load only in the
// commands that need them, so `dialer campaign status` starts fast.
import type { Command } from 'commander';
import type { FastifyInstance } from 'fastify';
import { SERVER_DEADLINES, WORKER_APPLICATION_NAME, connectDatabase } from '../../db/client';
import { ensureDatabase, migrateDatabase } from '../../db/migrate';
import {
  type Config,
  UNENCRYPTED_WARNING,
  parsePayloadKeys,
  payloadsEncrypted,
  twilioCredentials,
} from '../../infra/config';
import { createLogger } from '../../infra/logger';
import { dataConverterFor, payloadCodecFor } from '../../infra/payload-codec';
import { devApiToken, devPayloadKeys } from '../../infra/payload-keys';
import { maskUrlPassword } from '../../infra/secrets';
import { connectTemporal, temporalClient } from '../../infra/temporal-connection';
import {
  type DevServerOptions,
  ensureTemporalCli,
  killDevServersNow,
  registerSearchAttributes,
  startDevServer,
  stopDevServer,
  TemporalSetupError,
  temporalAnswers,
} from '../../infra/temporal-server';
import { type Ctx } from '../context';
import {
  DEV_ENGINE,
  type Engine,
  type EngineChoice,
  addEngineOptions,
  engineArg,
  engineChoice,
  startPostgresEngine,
} from './engine';
import { ensureEngineBinaries } from '../../infra/temporal-engine';
import { intArg, positiveNumberArg } from '../parse';

const progress = (line: string) => console.error(line);

/** require() at the point of use; the type comes from the module itself. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const lazy = <T>(id: string): T => require(id) as T;

/** After a second Ctrl-C, how long the in-process parts get to close before the process exits. */
const FORCED_EXIT_MS = 3000;

/**
 * Runs `body`, then waits for SIGINT or SIGTERM, then runs the returned cleanup. A signal while
 * `body` is still starting things is kept: they are stopped as soon as they are up. A second
 * signal during shutdown does not leave anything behind either: the Temporal dev server we
 * started is killed at once, the rest gets FORCED_EXIT_MS, then the process exits (and kills
 * whatever it started on the way out: see killDevServersNow).
 */
async function untilSignalled(body: () => Promise<() => Promise<void>>): Promise<void> {
  let signals = 0;
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const onSignal = () => {
    if (++signals === 1) return stop();
    console.error('stopping at once: killing the Temporal dev server started here…');
    killDevServersNow();
    setTimeout(() => process.exit(130), FORCED_EXIT_MS).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const cleanup = await body();
    await stopped;
    console.error('shutting down… (Ctrl-C again to stop at once)');
    await cleanup();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * A command that starts a service and keeps it until SIGINT or SIGTERM: `start` gets the configuration
 * and the command's options, and returns how to stop what it started (see untilSignalled).
 */
function serviceCommand<O>(
  parent: Command,
  ctx: Ctx,
  name: string,
  description: string,
  start: (cfg: Config, o: O) => Promise<() => Promise<void>>,
): Command {
  return parent
    .command(name)
    .description(description)
    .action((o: O) => untilSignalled(() => start(ctx().cfg, o)));
}

/**
 * Stops taking connections, lets the requests in flight finish (a Twilio callback or a CRM write
 * half done is completed, not dropped), and after `graceMs` cuts whatever is still open, so a
 * stalled client cannot hold a shutdown forever.
 */
async function closeServer(app: FastifyInstance, graceMs: number): Promise<void> {
  const timer = setTimeout(() => {
    app.log.warn(`requests still open ${graceMs} ms after SIGTERM: closing their connections`);
    app.server.closeAllConnections();
  }, graceMs);
  try {
    await app.close();
  } finally {
    clearTimeout(timer);
  }
}

/** What a dev server started here is given: its database and log files, the UI's codec server. */
type DevServerFiles = Pick<DevServerOptions, 'dbFile' | 'logFile' | 'codecEndpoint'>;

/** What ensureTemporal found or started; `stop` is set when it started the server. */
interface TemporalInUse {
  stop?: () => Promise<void>;
  /** The Web UI of a dev server started here (the postgres engine has none). */
  uiUrl: string | null;
  /** What runs, for the summary: "started here", "already running", the engine. */
  description: string;
}

/**
 * Uses the Temporal server answering at the configured address, or starts one there: the dev
 * server, or with `engine.engine === 'postgres'` temporal-server on PostgreSQL.
 */
export async function ensureTemporal(
  cfg: Config,
  opts: DevServerFiles = {},
  engine: EngineChoice = DEV_ENGINE,
): Promise<TemporalInUse> {
  if (await temporalAnswers(cfg.temporal.address)) {
    const added = await registerSearchAttributes(cfg.temporal.address, cfg.temporal.namespace);
    if (added.length) progress(`registered search attributes ${added.join(', ')}`);
    return { uiUrl: null, description: 'already running' };
  }
  if (engine.engine === 'postgres') {
    const { stop, description } = await startPostgresEngine(cfg, engine, progress);
    return { stop, uiUrl: null, description: `started here: ${description}` };
  }
  const uiUrl = `http://127.0.0.1:${cfg.temporal.uiPort}`;
  let cli: string;
  try {
    cli = await ensureTemporalCli(cfg.toolsDir, progress);
  } catch (err) {
    if (!(err instanceof TemporalSetupError)) throw err;
    // neither the CLI nor Go: where the internet can be reached, the SDK downloads a dev server
    const downloaded = await downloadedDevServer(cfg, opts).catch((e: unknown) => {
      throw new TemporalSetupError(
        `${err.message}\n(The dev server that @temporalio/testing downloads could not be fetched either: ${String(e)})`,
      );
    });
    return { stop: downloaded, uiUrl, description: 'started here: downloaded dev server' };
  }
  progress(`starting Temporal dev server at ${cfg.temporal.address} (${cli})…`);
  const started = await startDevServer({
    cli,
    address: cfg.temporal.address,
    uiPort: cfg.temporal.uiPort,
    namespace: cfg.temporal.namespace,
    ...opts,
  });
  return { stop: () => stopDevServer(started), uiUrl, description: 'started here: dev server' };
}

/** The third way to a server: @temporalio/testing downloads one (needs the internet; untried here). */
async function downloadedDevServer(cfg: Config, o: DevServerFiles): Promise<() => Promise<void>> {
  const { TestWorkflowEnvironment } = lazy<typeof import('@temporalio/testing')>('@temporalio/testing');
  const [ip, port] = cfg.temporal.address.split(':');
  progress(`downloading a Temporal dev server (no CLI and no Go here) for ${cfg.temporal.address}…`);
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      ip,
      port: Number(port),
      uiPort: cfg.temporal.uiPort,
      namespace: cfg.temporal.namespace,
      ...(o.dbFile ? { dbFilename: o.dbFile } : {}),
      extraArgs: [
        ...['--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal'],
        ...(o.codecEndpoint ? ['--ui-codec-endpoint', o.codecEndpoint] : []),
      ],
    },
  });
  await registerSearchAttributes(cfg.temporal.address, cfg.temporal.namespace);
  return () => env.teardown();
}

interface SimulatorCommandOptions {
  port?: number;
  scenario?: string;
  timeScale: number;
  callsPerSecond?: number;
  maxConcurrentCalls?: number;
  maxConcurrentRequests?: number;
}

export function registerServiceCommands(program: Command, ctx: Ctx): void {
  program
    .command('worker')
    .description('run a Temporal worker for the campaign and contact workflows')
    .action(async () => {
      const { runWorker } = lazy<typeof import('../../worker/main')>('../../worker/main');
      await runWorker(ctx().cfg);
    });
  registerServer(program, ctx);
  registerSimulator(program, ctx);
  registerTemporal(program, ctx);
  const dev = serviceCommand(
    program,
    ctx,
    'dev',
    'run everything locally: Temporal, the simulator, the webhook server and a worker',
    async (cfg, o: EngineChoice) => (await startDev(cfg, { engine: engineChoice(o) })).cleanup,
  );
  addEngineOptions(dev);
}

function registerServer(program: Command, ctx: Ctx): void {
  serviceCommand(
    program,
    ctx,
    'server',
    'run the HTTP server: Twilio webhooks, the API under /api (docs at /docs), /health',
    async (cfg) => {
      const app = await startServer(cfg, cfg.publicBaseUrl ?? `http://${cfg.server.host}:${cfg.server.port}`);
      return () => closeServer(app, cfg.server.shutdownGraceMs);
    },
  );
}

function registerSimulator(program: Command, ctx: Ctx): void {
  serviceCommand(
    program,
    ctx,
    'simulator',
    'run the Twilio simulator (dry-run campaigns without Twilio)',
    runSimulator,
  )
    .option('--port <port>', 'port to listen on (default SIMULATOR_PORT)', intArg(0, 65535))
    .option('--scenario <file>', 'scenario JSON: what each number does')
    .option(
      '--time-scale <factor>',
      'multiply ring and talk times (0.1 = ten times faster)',
      positiveNumberArg,
      1,
    )
    .option('--calls-per-second <n>', "the account's rate: excess calls wait in queued", positiveNumberArg)
    .option('--max-concurrent-calls <n>', 'live calls at once; a create over it fails with 10004', intArg(1))
    .option(
      '--max-concurrent-requests <n>',
      'REST requests at once; one more fails with 429 / 20429',
      intArg(1),
    );
}

async function runSimulator(cfg: Config, o: SimulatorCommandOptions): Promise<() => Promise<void>> {
  const creds = twilioCredentials({ ...cfg, twilio: { ...cfg.twilio, apiBaseUrl: 'http://simulator' } });
  const { loadScenarioFile, startSimulator } = lazy<typeof import('../../simulator')>('../../simulator');
  const sim = await startSimulator({
    host: cfg.simulator.host,
    port: o.port ?? cfg.simulator.port,
    ...creds,
    ...(o.scenario ? { scenario: loadScenarioFile(o.scenario) } : {}),
    timeScale: o.timeScale,
    callsPerSecond: o.callsPerSecond,
    maxConcurrentCalls: o.maxConcurrentCalls,
    maxConcurrentRequests: o.maxConcurrentRequests,
    logger: createLogger(cfg.logLevel, 'simulator'),
  });
  console.log(`Twilio simulator listening at ${sim.url} (account ${creds.accountSid})`);
  return () => sim.close();
}

function registerTemporal(program: Command, ctx: Ctx): void {
  const temporal = program.command('temporal').description('the Temporal development server');
  temporal
    .command('build')
    .description(
      'find the temporal CLI, or build it with Go into the tools cache (--engine postgres: temporal-server and temporal-sql-tool too)',
    )
    .option(
      '--engine <engine>',
      'dev (the CLI) or postgres (the CLI and the server binaries)',
      engineArg,
      'dev',
    )
    .action(async (o: { engine: Engine }) => {
      console.log(await ensureTemporalCli(ctx().cfg.toolsDir, progress));
      if (o.engine === 'postgres') {
        const bins = await ensureEngineBinaries(ctx().cfg.toolsDir, progress);
        console.log(`${bins.server}\n${bins.sqlTool}`);
      }
    });
  const start = serviceCommand(
    temporal,
    ctx,
    'start',
    'start a Temporal server (dev: file database under the data folder; postgres: temporal-server on PostgreSQL) and wait for Ctrl-C',
    async (cfg, o: EngineChoice & { databaseUrl?: string }) => {
      const engine = engineChoice(o);
      if (engine.engine === 'postgres' && (await temporalAnswers(cfg.temporal.address))) {
        throw new TemporalSetupError(
          `something already answers at ${cfg.temporal.address}; not starting another`,
        );
      }
      const dbFile = path.join(cfg.dataDir, 'temporal.db');
      const { stop, uiUrl, description } = await ensureTemporal(cfg, { dbFile }, engine);
      if (!stop) {
        console.log(`Temporal already answers at ${cfg.temporal.address}; nothing to start.`);
        return async () => {};
      }
      console.log(
        `Temporal at ${cfg.temporal.address} (${description})${uiUrl ? `, Web UI at ${uiUrl}` : ''}`,
      );
      return stop;
    },
  );
  addEngineOptions(start, 'database-url');
}

/** The server's Temporal calls (a signal, a query for a campaign's status) give up after this. */
const SERVER_TEMPORAL_CALL_MS = 4000;

/**
 * The HTTP server; `trustUiOrigin` (dev on loopback only) lets the Temporal UI's requests to the
 * codec server through without the token it cannot send (server/codec.ts).
 */
async function startServer(cfg: Config, publicBaseUrl: string, trustUiOrigin = false) {
  const { buildServer } = lazy<typeof import('../../server/app')>('../../server/app');
  const creds = twilioCredentials(cfg);
  const logger = createLogger(cfg.logLevel, 'server');
  if (!payloadsEncrypted(cfg)) logger.warn(UNENCRYPTED_WARNING);
  // deadlines on every call: a request fails with 503 instead of hanging while a dependency is down
  const database = connectDatabase(cfg.databaseUrl, { deadlines: SERVER_DEADLINES });
  const connection = await connectTemporal(cfg.temporal.address, { callMs: SERVER_TEMPORAL_CALL_MS });
  const app = await buildServer({
    temporal: temporalClient(connection, cfg),
    db: database,
    authToken: creds.authToken,
    publicBaseUrl,
    logger,
    apiToken: cfg.apiToken,
    taskQueue: cfg.temporal.taskQueue,
    defaultRegion: cfg.defaultRegion,
    payloadCodec: payloadCodecFor(cfg),
    uiOrigins: cfg.temporal.uiOrigins,
    trustUiOrigin,
    temporalUiUrl: cfg.temporal.uiOrigins[0],
  });
  app.addHook('onClose', async () => {
    await connection.close();
    await database.close();
  });
  await app.listen({ host: cfg.server.host, port: cfg.server.port });
  return app;
}

export interface DevStack {
  /** The configuration in use: the simulator's address, the webhook server's, the database's, the payload key. */
  cfg: Config & { publicBaseUrl: string };
  /** The Temporal Web UI, when this process started the server. */
  uiUrl: string | null;
  /** The operator's console on the server's port, as a browser on this machine reaches it. */
  consoleUrl: string;
  /** How to sign in to the console: with DIALER_API_TOKEN, or the token kept in this file. */
  signIn: string;
  /** Whether Twilio is our simulator (no credentials configured). */
  simulated: boolean;
  cleanup(): Promise<void>;
}

type Cleanups = (() => Promise<void>)[];

/** What `dialer dev` says about the payload key and the codec server besides the configuration. */
interface DevCodec {
  /** Set when the key is the data folder's (no DIALER_PAYLOAD_KEYS). */
  keysFile?: string;
  /** The codec server as the browser reaches it. */
  url: string;
  /** The operator's console, on the same port. */
  consoleUrl: string;
  /** Whether the UI's requests need no token: the server listens on loopback only. */
  trustUiOrigin: boolean;
}

/** `dialer dev`: every piece on embedded defaults, torn down in reverse order on exit. */
export async function startDev(
  given: Config,
  o: { simulatorTimeScale?: number; quiet?: boolean; engine?: EngineChoice } = {},
): Promise<DevStack> {
  const cleanups: Cleanups = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch((e) => console.error(String(e)));
  };
  try {
    const { cfg: keyed, codec } = devPayloadCodec(given);
    const { cfg: base, signIn } = devSignIn(keyed);
    await startDatabase(base, cleanups);
    const temporal = await ensureTemporal(
      base,
      {
        dbFile: path.join(base.dataDir, 'temporal.db'),
        logFile: path.join(base.dataDir, 'temporal.log'),
        codecEndpoint: codec.url,
      },
      o.engine,
    );
    if (temporal.stop) cleanups.push(temporal.stop);

    let cfg = await withSimulator(base, o.simulatorTimeScale, cleanups);
    const publicBaseUrl = cfg.publicBaseUrl ?? `http://${cfg.server.host}:${cfg.server.port}`;
    cfg = { ...cfg, publicBaseUrl };
    const app = await startServer(cfg, publicBaseUrl, codec.trustUiOrigin);
    cleanups.push(() => closeServer(app, cfg.server.shutdownGraceMs));
    const metricsUrl = await startDevWorker({ ...cfg, publicBaseUrl }, cleanups);

    const result: DevStack = {
      cfg: { ...cfg, publicBaseUrl },
      uiUrl: temporal.uiUrl,
      consoleUrl: codec.consoleUrl,
      signIn,
      simulated: !base.twilio.apiBaseUrl && !base.twilio.accountSid,
      cleanup,
    };
    if (!o.quiet) printDevSummary({ ...cfg, publicBaseUrl }, { temporal, metricsUrl, codec, signIn });
    return result;
  } catch (err) {
    await cleanup();
    throw err;
  }
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1)$/;

/**
 * Dev's payload key: DIALER_PAYLOAD_KEYS, or else the data folder's own (infra/payload-keys.ts),
 * exported to the processes this one starts. And its codec server, where the browser finds it.
 */
function devPayloadCodec(cfg: Config): { cfg: Config; codec: DevCodec } {
  const { host, port } = cfg.server;
  const browserHost =
    host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const codec: DevCodec = {
    url: `http://${browserHost}:${port}/codec`,
    consoleUrl: `http://${browserHost}:${port}/console`,
    trustUiOrigin: LOOPBACK.test(host),
  };
  if (cfg.payloadKeys.length) return { cfg, codec };
  const { text, file } = devPayloadKeys(cfg.dataDir);
  process.env.DIALER_PAYLOAD_KEYS = text;
  return { cfg: { ...cfg, payloadKeys: parsePayloadKeys(text, file) }, codec: { ...codec, keysFile: file } };
}

/**
 * Dev's API token: DIALER_API_TOKEN, or else the data folder's own (infra/payload-keys.ts),
 * exported to the processes this one starts: the API and the console work on embedded defaults.
 * Returns how to sign in to the console.
 */
const SIGN_IN_WITH_TOKEN = 'sign in with DIALER_API_TOKEN';

function devSignIn(cfg: Config): { cfg: Config; signIn: string } {
  if (cfg.apiToken) return { cfg, signIn: SIGN_IN_WITH_TOKEN };
  const { token, file } = devApiToken(cfg.dataDir);
  process.env.DIALER_API_TOKEN = token;
  return { cfg: { ...cfg, apiToken: token }, signIn: `sign in with the token in ${file}` };
}

/** The embedded PostgreSQL when no DATABASE_URL is set; then the database created if missing, and migrated. */
async function startDatabase(base: Config, cleanups: Cleanups): Promise<void> {
  if (base.embeddedDatabase) {
    const { startEmbeddedPostgres } = lazy<typeof import('../../infra/embedded-postgres')>(
      '../../infra/embedded-postgres',
    );
    const pg = await startEmbeddedPostgres({ dataDir: base.dataDir, port: base.embeddedDatabase.port });
    cleanups.push(() => pg.stop());
    progress(
      pg.started
        ? `embedded PostgreSQL (PGlite) at ${pg.url}, data in ${path.join(base.dataDir, 'pglite')}`
        : `using the embedded PostgreSQL already served at ${pg.url}`,
    );
  }
  const created = await ensureDatabase(base.databaseUrl);
  await migrateDatabase(base.databaseUrl);
  progress(`${created ? 'created and ' : ''}migrated the database`);
}

/** The Twilio simulator when no Twilio is configured; the configuration then points at it. */
async function withSimulator(
  cfg: Config,
  timeScale: number | undefined,
  cleanups: Cleanups,
): Promise<Config> {
  if (cfg.twilio.apiBaseUrl || cfg.twilio.accountSid) return cfg;
  const { startSimulator } = lazy<typeof import('../../simulator')>('../../simulator');
  const creds = twilioCredentials({ ...cfg, twilio: { ...cfg.twilio, apiBaseUrl: 'http://simulator' } });
  const sim = await startSimulator({
    ...cfg.simulator,
    ...creds,
    ...(timeScale ? { timeScale } : {}),
    logger: createLogger(cfg.logLevel, 'simulator'),
  });
  cleanups.push(() => sim.close());
  return { ...cfg, twilio: { ...cfg.twilio, apiBaseUrl: sim.url } };
}

/** A worker in this process (and its metrics endpoint, unless off); returns the metrics' URL. */
async function startDevWorker(
  cfg: Config & { publicBaseUrl: string },
  cleanups: Cleanups,
): Promise<string | undefined> {
  const { NativeConnection } = lazy<typeof import('@temporalio/worker')>('@temporalio/worker');
  const { createWorker, contactChangesFor, startMetrics, workerDeps } =
    lazy<typeof import('../../worker/main')>('../../worker/main');
  const served = await startMetrics(cfg);
  if (served) cleanups.push(() => served.close());
  const database = connectDatabase(cfg.databaseUrl, { applicationName: WORKER_APPLICATION_NAME });
  const connection = await NativeConnection.connect({ address: cfg.temporal.address });
  const worker = await createWorker({
    connection,
    namespace: cfg.temporal.namespace,
    taskQueue: cfg.temporal.taskQueue,
    dataConverter: dataConverterFor(cfg),
    deps: workerDeps(cfg, database, connection, served?.metrics),
    logger: createLogger(cfg.logLevel, 'worker'),
    contactChanges: contactChangesFor(cfg),
  });
  const running = worker.run();
  cleanups.push(async () => {
    // shutdown() does nothing until the worker is RUNNING: a Ctrl-C right after start-up would
    // otherwise wait forever, so ask again until it has stopped
    worker.shutdown();
    const again = setInterval(() => worker.shutdown(), 200);
    await running.finally(() => clearInterval(again));
    await connection.close();
    await database.close();
  });
  return served?.url;
}

/** What `dialer dev` runs and the configuration in use (no secret shown). */
function printDevSummary(
  cfg: Config & { publicBaseUrl: string },
  {
    temporal,
    metricsUrl,
    codec,
    signIn,
  }: { temporal: TemporalInUse; metricsUrl: string | undefined; codec: DevCodec; signIn: string },
) {
  const dbUrl = maskUrlPassword(cfg.databaseUrl); // postgres://user:***@host/db
  const creds = twilioCredentials(cfg);
  const publicBaseUrl = cfg.publicBaseUrl;
  console.log(
    [
      'dialer dev is running:',
      `  Temporal          ${cfg.temporal.address}  (${temporal.description})`,
      `  Temporal Web UI   ${temporal.uiUrl ?? (temporal.stop ? 'none (the postgres engine has no UI: docs/deployment.md)' : 'wherever the running server serves it')}`,
      `  Database          ${dbUrl}${cfg.embeddedDatabase ? '  (embedded PGlite; set DATABASE_URL for your own PostgreSQL)' : ''}`,
      `  Twilio            ${cfg.twilio.apiBaseUrl ? `simulator at ${cfg.twilio.apiBaseUrl}` : 'api.twilio.com'}`,
      `  Webhook server    ${publicBaseUrl}  (GET /health)`,
      `  Console           ${codec.consoleUrl}  (${signIn})`,
      `  Worker            task queue ${cfg.temporal.taskQueue}, namespace ${cfg.temporal.namespace}`,
      `  Metrics           ${metricsUrl ?? 'off (METRICS_PORT=off)'}`,
      `  Codec server      ${codec.url}  (the Web UI decrypts payloads through it${codec.trustUiOrigin ? '; its origin needs no token here' : ''})`,
      'Configuration in use:',
      `  TEMPORAL_ADDRESS=${cfg.temporal.address}`,
      `  TEMPORAL_NAMESPACE=${cfg.temporal.namespace}`,
      `  TEMPORAL_TASK_QUEUE=${cfg.temporal.taskQueue}`,
      `  DATABASE_URL=${cfg.embeddedDatabase ? `(unset: embedded at ${dbUrl})` : dbUrl}`,
      `  TWILIO_ACCOUNT_SID=${creds.accountSid}`,
      `  TWILIO_AUTH_TOKEN=(set, not shown)`,
      `  TWILIO_API_BASE_URL=${cfg.twilio.apiBaseUrl ?? '(unset: real Twilio)'}`,
      `  PUBLIC_BASE_URL=${publicBaseUrl}`,
      `  DIALER_API_TOKEN=${signIn === SIGN_IN_WITH_TOKEN ? '(set, not shown)' : `(unset: ${signIn.replace(/^sign in with /, '')})`}`,
      `  DIALER_PAYLOAD_KEYS=${codec.keysFile ? `(unset: the key in ${codec.keysFile})` : '(set, not shown)'}`,
      `  SERVER_PORT=${cfg.server.port}`,
      `  SIMULATOR_PORT=${cfg.simulator.port}`,
      `  LOG_LEVEL=${cfg.logLevel}`,
      'Ctrl-C stops everything started here.',
    ].join('\n'),
  );
}
