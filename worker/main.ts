import os from 'node:os';
import type { DataConverter } from '@temporalio/common';
import type pino from 'pino';
import {
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  type WorkflowBundleOption,
} from '@temporalio/worker';
import { createActivities, type Deps } from '../activities';
import { twilioCalls } from '../activities/twilio-calls';
import { WORKER_APPLICATION_NAME, connectDatabase, type Database } from '../db/client';
import {
  type Config,
  ConfigError,
  UNENCRYPTED_WARNING,
  payloadsEncrypted,
  twilioCredentials,
} from '../infra/config';
import { createLogger } from '../infra/logger';
import { DialerMetrics, serveMetrics } from '../infra/metrics';
import { dataConverterFor } from '../infra/payload-codec';
import { temporalClient } from '../infra/temporal-connection';
import { createTwilioClient } from '../infra/twilio';
import { ContactChangeListener, type ContactChangesOptions, runsOnTaskQueue } from './contact-changes';
import { startReconciler } from './reconciler';
import { DialingWorkers } from './dialing';

export const workflowsPath = require.resolve('../workflows');

export interface WorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: Deps;
  /**
   * The payload codec (dataConverterFor): the same as deps.temporal's, for the main worker and the
   * dialing workers alike. Undefined: payloads in clear.
   */
  dataConverter: DataConverter | undefined;
  /** A prebuilt bundle (tests build one per file); otherwise the worker bundles workflowsPath. */
  workflowBundle?: WorkflowBundleOption;
  logger?: pino.Logger;
  /** How often the dialing workers look for campaigns started elsewhere (default 2 s). */
  dialingPollMs?: number;
  /** The worker's Temporal identity (default pid@host, as the SDK's). */
  identity?: string;
  /**
   * Where and how to watch for contacts the CRM changes by SQL (§8; see contactChangesFor).
   * Without it, such changes wait for the campaign's periodic refill.
   */
  contactChanges?: Pick<ContactChangesOptions, 'databaseUrl' | 'mode'>;
  /** How often this process's reconciler looks for closed campaigns (worker/reconciler.ts). */
  reconcileIntervalMs?: number;
}

/** The contact-change watch for a configuration: LISTEN, or a poll on the embedded PGlite. */
export function contactChangesFor(cfg: Config): Pick<ContactChangesOptions, 'databaseUrl' | 'mode'> {
  return { databaseUrl: cfg.databaseUrl, mode: cfg.embeddedDatabase ? 'poll' : 'listen' };
}

/** How long a stopping worker lets running activities finish (a create, a recorded outcome). */
export const SHUTDOWN_GRACE = '30s';

/** The main worker (workflows and activities) and the per-campaign dialing workers. */
export interface DialerWorker {
  /** Runs until shutdown() or a signal; the dialing workers and the contact-change watch stop with it. */
  run(): Promise<void>;
  shutdown(): void;
  dialing: DialingWorkers;
  contactChanges: ContactChangeListener | null;
}

export async function createWorker(o: WorkerOptions): Promise<DialerWorker> {
  const logger = o.logger ?? createLogger('warn', 'worker');
  const identity = o.identity ?? `${process.pid}@${os.hostname()}`;
  const dialing = new DialingWorkers({
    connection: o.connection,
    client: o.deps.temporal,
    namespace: o.namespace,
    taskQueue: o.taskQueue,
    dataConverter: o.dataConverter,
    db: o.deps.db,
    placeCall: (input) => activities.placeCall(input),
    logger,
    pollMs: o.dialingPollMs,
    identity,
  });
  const activities = createActivities({
    ...o.deps,
    workerIdentity: identity,
    onCampaignActive: async (campaign) => {
      // a failure here only delays the campaign's creates until the next sweep
      await dialing.ensure(campaign).catch((err: unknown) => {
        logger.warn({ err, campaign }, 'could not start the campaign’s dialing worker yet');
      });
    },
  });
  const worker = await Worker.create({
    connection: o.connection,
    namespace: o.namespace,
    taskQueue: o.taskQueue,
    dataConverter: o.dataConverter,
    ...(o.workflowBundle ? { workflowBundle: o.workflowBundle } : { workflowsPath }),
    // placeCall stays here too, for contact workflows that began before the dialing queues
    activities,
    identity,
    shutdownGraceTime: SHUTDOWN_GRACE,
  });
  const contactChanges = contactChangeListener(o, dialing, logger);
  return {
    dialing,
    contactChanges,
    async run() {
      dialing.start();
      await contactChanges?.start();
      const reconciler = startReconciler({
        sql: o.deps.db.sql,
        temporal: o.deps.temporal,
        logger,
        intervalMs: o.reconcileIntervalMs,
      });
      try {
        await worker.run();
      } finally {
        await Promise.all([dialing.stop(), contactChanges?.stop(), reconciler.stop()]);
      }
    },
    shutdown() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
    },
  };
}

/** §8: the CRM's row edits seen at once (worker/contact-changes.ts); null when not asked for. */
function contactChangeListener(
  o: WorkerOptions,
  dialing: DialingWorkers,
  logger: pino.Logger,
): ContactChangeListener | null {
  if (!o.contactChanges) return null;
  return new ContactChangeListener({
    ...o.contactChanges,
    temporal: o.deps.temporal,
    logger,
    // the campaigns its dialing workers serve, else ask Temporal (one just started)
    serves: (campaign) =>
      Object.hasOwn(dialing.campaigns, campaign) || runsOnTaskQueue(o.deps.temporal, campaign, o.taskQueue),
  });
}

const SDK_LEVELS = {
  fatal: 'ERROR',
  error: 'ERROR',
  warn: 'WARN',
  info: 'INFO',
  debug: 'DEBUG',
  trace: 'TRACE',
  silent: 'ERROR',
} as const;
const PINO_LEVELS = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;

/**
 * Sets up the Temporal SDK's runtime for a worker process (call before anything else touches
 * it): its logs, workflow and activity logs included, go through our pino logger as JSON lines
 * (with workflow id, activity type and our campaign / contact / attempt fields); its metrics go to
 * a Prometheus exporter on 127.0.0.1 at METRICS_PORT + 1, merged into our /metrics. Returns the
 * metrics endpoint, or null when METRICS_PORT=off.
 */
export async function startMetrics(
  cfg: Config,
  logger: pino.Logger = createLogger(cfg.logLevel, 'worker'),
): Promise<{ metrics: DialerMetrics; url: string; close(): Promise<void> } | null> {
  const sdkPort = !cfg.metrics || cfg.metrics.port === 0 ? 0 : cfg.metrics.port + 1;
  const sdkMetricsUrl = sdkPort ? `http://127.0.0.1:${sdkPort}/metrics` : undefined;
  const coreLevel = cfg.logLevel === 'debug' ? 'INFO' : SDK_LEVELS[cfg.logLevel];
  Runtime.install({
    logger: new DefaultLogger(SDK_LEVELS[cfg.logLevel], (entry) =>
      logger[PINO_LEVELS[entry.level]]({ ...entry.meta }, entry.message),
    ),
    telemetryOptions: {
      // The SDK core's own debug output (every poll and gRPC call) drowns a worker: it comes
      // only with LOG_LEVEL=trace; debug gives ours and the SDK's info.
      logging: { filter: { core: coreLevel, other: coreLevel }, forward: {} },
      ...(sdkPort ? { metrics: { prometheus: { bindAddress: `127.0.0.1:${sdkPort}` } } } : {}),
    },
  });
  if (!cfg.metrics) return null;
  const metrics = new DialerMetrics();
  const server = await serveMetrics({
    metrics,
    host: cfg.metrics.host,
    port: cfg.metrics.port,
    sdkMetricsUrl,
  });
  return { metrics, url: server.url, close: server.close };
}

/** The activities' dependencies for a worker process, from the configuration. */
export function workerDeps(
  cfg: Config & { publicBaseUrl: string },
  database: Database,
  connection: NativeConnection,
  metrics?: DialerMetrics,
): Deps {
  metrics?.watchAbandons(database.sql);
  const creds = twilioCredentials(cfg);
  const client = createTwilioClient({
    ...creds,
    apiBaseUrl: cfg.twilio.apiBaseUrl,
    timeoutMs: cfg.twilio.timeoutMs,
  });
  return {
    db: database,
    calls: twilioCalls(client),
    temporal: temporalClient(connection, cfg),
    clock: () => new Date(),
    publicBaseUrl: cfg.publicBaseUrl,
    defaultRegion: cfg.defaultRegion,
    ...(metrics ? { metrics } : {}),
  };
}

/**
 * Connects to Temporal, waiting while it does not answer (a restart, or a deployment where the
 * worker comes up first) instead of exiting: up to `maxWaitMs`, then the error.
 */
export async function connectWhenUp(
  address: string,
  logger: pino.Logger,
  maxWaitMs = 120_000,
): Promise<NativeConnection> {
  const deadline = Date.now() + maxWaitMs;
  for (let delay = 500; ; delay = Math.min(delay * 2, 5000)) {
    try {
      return await NativeConnection.connect({ address });
    } catch (err) {
      if (Date.now() + delay > deadline) throw err;
      logger.warn({ address, retryInMs: delay }, 'Temporal does not answer yet; trying again');
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** The worker process: builds its dependencies once, runs until SIGINT/SIGTERM, closes them. */
export async function runWorker(cfg: Config): Promise<void> {
  const { publicBaseUrl } = cfg;
  if (!publicBaseUrl) {
    throw new ConfigError('PUBLIC_BASE_URL is not set: Twilio needs the webhook server’s address.');
  }
  const encrypted = payloadsEncrypted(cfg); // fail fast, before connecting anywhere
  twilioCredentials(cfg);
  const logger = createLogger(cfg.logLevel, 'worker');
  if (!encrypted) logger.warn(UNENCRYPTED_WARNING);
  const served = await startMetrics(cfg, logger);
  if (served) logger.info({ url: served.url }, 'metrics for Prometheus');
  const database = connectDatabase(cfg.databaseUrl, { applicationName: WORKER_APPLICATION_NAME });
  const connection = await connectWhenUp(cfg.temporal.address, logger);
  try {
    const worker = await createWorker({
      connection,
      namespace: cfg.temporal.namespace,
      taskQueue: cfg.temporal.taskQueue,
      dataConverter: dataConverterFor(cfg),
      deps: workerDeps({ ...cfg, publicBaseUrl }, database, connection, served?.metrics),
      logger,
      contactChanges: contactChangesFor(cfg),
    });
    await worker.run();
  } finally {
    await served?.close();
    await connection.close();
    await database.close();
  }
}
