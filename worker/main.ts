import { Client } from '@temporalio/client';
import { NativeConnection, Worker, type WorkflowBundleOption } from '@temporalio/worker';
import { createActivities, type Deps } from '../activities';
import { twilioCalls } from '../activities/twilio-calls';
import { connectDatabase, type Database } from '../db/client';
import { type Config, ConfigError, twilioCredentials } from '../lib/config';
import { createTwilioClient } from '../lib/twilio';

export const workflowsPath = require.resolve('../workflows');

export interface WorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: Deps;
  /** A prebuilt bundle (tests build one per file); otherwise the worker bundles workflowsPath. */
  workflowBundle?: WorkflowBundleOption;
}

export async function createWorker(o: WorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: o.connection,
    namespace: o.namespace,
    taskQueue: o.taskQueue,
    ...(o.workflowBundle ? { workflowBundle: o.workflowBundle } : { workflowsPath }),
    activities: createActivities(o.deps),
  });
}

/** The activities' dependencies for a worker process, from the configuration. */
export function workerDeps(
  cfg: Config & { publicBaseUrl: string },
  database: Database,
  connection: NativeConnection,
): Deps {
  const creds = twilioCredentials(cfg);
  const client = createTwilioClient({ ...creds, apiBaseUrl: cfg.twilio.apiBaseUrl, timeoutMs: 10_000 });
  return {
    db: database,
    calls: twilioCalls(client),
    temporal: new Client({ connection, namespace: cfg.temporal.namespace }),
    clock: () => new Date(),
    publicBaseUrl: cfg.publicBaseUrl,
    defaultRegion: cfg.defaultRegion,
  };
}

/** The worker process: builds its dependencies once, runs until SIGINT/SIGTERM, closes them. */
export async function runWorker(cfg: Config): Promise<void> {
  const { publicBaseUrl } = cfg;
  if (!publicBaseUrl) {
    throw new ConfigError('PUBLIC_BASE_URL is not set: Twilio needs the webhook server’s address.');
  }
  twilioCredentials(cfg); // fail fast, before connecting anywhere
  const database = connectDatabase(cfg.databaseUrl);
  const connection = await NativeConnection.connect({ address: cfg.temporal.address });
  try {
    const worker = await createWorker({
      connection,
      namespace: cfg.temporal.namespace,
      taskQueue: cfg.temporal.taskQueue,
      deps: workerDeps({ ...cfg, publicBaseUrl }, database, connection),
    });
    await worker.run();
  } finally {
    await connection.close();
    await database.close();
  }
}
