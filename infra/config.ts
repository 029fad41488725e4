import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

/**
 * The one place that reads process.env. Every other module takes a Config (or a part of it),
 * so tests can build their own without touching the environment.
 */
const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'must look like host:port, e.g. 127.0.0.1:7233');
const port = z.coerce.number().int().min(0).max(65535);
const optionalUrl = z
  .string()
  .url()
  .transform((u) => u.replace(/\/+$/, ''))
  .optional();
const emptyToUndefined = (v: unknown) => (v === '' ? undefined : v);

const schema = z.object({
  TEMPORAL_ADDRESS: hostPort.default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('dialer'),
  TEMPORAL_UI_PORT: port.default(8233),
  /** Unset: the embedded PostgreSQL (PGlite) that `dialer dev` and `npm run demo` serve. */
  DATABASE_URL: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
      .optional(),
  ),
  EMBEDDED_POSTGRES_PORT: port.default(54320),
  /** The database the test suite may wipe and fill (never DATABASE_URL, which may be real). */
  TEST_DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .default('postgres://postgres@127.0.0.1:5432/dialer_test'),
  TWILIO_ACCOUNT_SID: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^AC[0-9a-fA-F]{32}$/, 'must be AC followed by 32 hex digits')
      .optional(),
  ),
  TWILIO_AUTH_TOKEN: z.preprocess(emptyToUndefined, z.string().min(8).optional()),
  TWILIO_API_BASE_URL: z.preprocess(emptyToUndefined, optionalUrl),
  PUBLIC_BASE_URL: z.preprocess(emptyToUndefined, optionalUrl),
  /** Below the placing activity's 30 s timeout, so a timed-out try is over before the retry lists calls. */
  TWILIO_TIMEOUT_MS: z.coerce.number().int().min(100).max(25_000).default(10_000),
  SERVER_PORT: port.default(3000),
  SERVER_HOST: z.string().default('127.0.0.1'),
  /** On SIGTERM the server finishes the requests in flight for up to this long, then cuts them. */
  SERVER_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
  SIMULATOR_PORT: port.default(3100),
  METRICS_HOST: z.string().default('127.0.0.1'),
  METRICS_PORT: z.union([z.literal('off'), port.max(65534)]).default(9464),
  SIMULATOR_HOST: z.string().default('127.0.0.1'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DEFAULT_REGION: z
    .string()
    .regex(/^[A-Z]{2}$/, 'must be a two-letter ISO country code, e.g. US')
    .default('US'),
  DIALER_API_TOKEN: z.preprocess(
    emptyToUndefined,
    z.string().min(16, 'must be at least 16 characters (a random secret)').optional(),
  ),
  /** The auth token the simulator and the dialer share for dry runs (overrides the derived one). */
  SIMULATOR_AUTH_TOKEN: z.preprocess(
    emptyToUndefined,
    z.string().min(16, 'must be at least 16 characters (a random secret)').optional(),
  ),
  NODE_ENV: z.string().optional(),
  DIALER_DATA_DIR: z.string().default(path.resolve(__dirname, '..', 'data')),
  DIALER_TOOLS_DIR: z.string().default(path.join(os.homedir(), '.cache', 'dialer-tools')),
});

export type Env = z.infer<typeof schema>;

export interface Config {
  temporal: { address: string; namespace: string; taskQueue: string; uiPort: number };
  /** DATABASE_URL, or the embedded database's address when it is unset. */
  databaseUrl: string;
  /** Set when DATABASE_URL is not: where the embedded PostgreSQL (PGlite) listens. */
  embeddedDatabase: { port: number } | null;
  testDatabaseUrl: string;
  twilio: { accountSid?: string; authToken?: string; apiBaseUrl?: string; timeoutMs: number };
  publicBaseUrl?: string;
  server: { host: string; port: number; shutdownGraceMs: number };
  simulator: { host: string; port: number };
  /** A worker's Prometheus endpoint; the SDK's own exporter listens on 127.0.0.1 at port + 1. */
  metrics: { host: string; port: number } | null;
  logLevel: Env['LOG_LEVEL'];
  defaultRegion: string;
  /** The bearer token of the HTTP API; unset: the API answers 503. */
  apiToken?: string;
  /** SIMULATOR_AUTH_TOKEN, when set. */
  simulatorAuthToken?: string;
  /** NODE_ENV=production (the image sets it): a deployment, not a developer's machine. */
  production: boolean;
  dataDir: string;
  toolsDir: string;
}

/** PGlite serves one database, "postgres", over the wire protocol on a local port. */
export const embeddedDatabaseUrl = (port: number) => `postgres://postgres@127.0.0.1:${port}/postgres`;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function parseConfig(env: Record<string, string | undefined>): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration in the environment:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  return {
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
      uiPort: e.TEMPORAL_UI_PORT,
    },
    databaseUrl: e.DATABASE_URL ?? embeddedDatabaseUrl(e.EMBEDDED_POSTGRES_PORT),
    embeddedDatabase: e.DATABASE_URL ? null : { port: e.EMBEDDED_POSTGRES_PORT },
    testDatabaseUrl: e.TEST_DATABASE_URL,
    twilio: {
      accountSid: e.TWILIO_ACCOUNT_SID,
      authToken: e.TWILIO_AUTH_TOKEN,
      apiBaseUrl: e.TWILIO_API_BASE_URL,
      timeoutMs: e.TWILIO_TIMEOUT_MS,
    },
    publicBaseUrl: e.PUBLIC_BASE_URL,
    server: { host: e.SERVER_HOST, port: e.SERVER_PORT, shutdownGraceMs: e.SERVER_SHUTDOWN_GRACE_MS },
    simulator: { host: e.SIMULATOR_HOST, port: e.SIMULATOR_PORT },
    metrics: e.METRICS_PORT === 'off' ? null : { host: e.METRICS_HOST, port: e.METRICS_PORT },
    logLevel: e.LOG_LEVEL,
    defaultRegion: e.DEFAULT_REGION,
    apiToken: e.DIALER_API_TOKEN,
    simulatorAuthToken: e.SIMULATOR_AUTH_TOKEN,
    production: e.NODE_ENV === 'production',
    dataDir: e.DIALER_DATA_DIR,
    toolsDir: e.DIALER_TOOLS_DIR,
  };
}

let cached: Config | undefined;
/** The process's configuration, parsed once. */
export function config(): Config {
  cached ??= parseConfig(process.env);
  return cached;
}

/** Demo credentials used with the simulator when none are configured (never valid at Twilio). */
export const SIMULATOR_ACCOUNT_SID = 'AC00000000000000000000000000000000';
export const SIMULATOR_AUTH_TOKEN = 'simulator-auth-token';

/**
 * The auth token for dry runs against the simulator. On a developer's machine, the demo token
 * everyone knows. In a deployment (NODE_ENV=production, as the image sets) never that one: its
 * public webhook server would believe callbacks anyone can sign. There it is SIMULATOR_AUTH_TOKEN,
 * or else derived from the deployment's own API secret (every container of a deployment agrees
 * without talking to each other; no two deployments share it, and it reveals nothing of the secret).
 */
function simulatorToken(cfg: Config): string {
  if (cfg.simulatorAuthToken) return cfg.simulatorAuthToken;
  if (!cfg.production) return SIMULATOR_AUTH_TOKEN;
  if (!cfg.apiToken) {
    throw new ConfigError(
      'A dry run in production needs a secret for the simulator: set SIMULATOR_AUTH_TOKEN (or DIALER_API_TOKEN).',
    );
  }
  return crypto.createHmac('sha256', cfg.apiToken).update('dialer twilio simulator').digest('hex');
}

/** Account credentials, with the simulator's pair when talking to the simulator. */
export function twilioCredentials(cfg: Config): { accountSid: string; authToken: string } {
  const { accountSid, authToken, apiBaseUrl } = cfg.twilio;
  if (accountSid && authToken) return { accountSid, authToken };
  if (apiBaseUrl && !accountSid && !authToken) {
    return { accountSid: SIMULATOR_ACCOUNT_SID, authToken: simulatorToken(cfg) };
  }
  throw new ConfigError(
    'Twilio credentials missing: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, ' +
      'or set TWILIO_API_BASE_URL to a Twilio simulator (see `dialer simulator`).',
  );
}
