import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { KEY_BYTES, type PayloadKey } from './payload-codec';

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

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** One `id:base64key` entry of DIALER_PAYLOAD_KEYS, or what is wrong with it (never quoting it). */
function payloadKeyEntry(entry: string, earlier: readonly PayloadKey[]): PayloadKey | string {
  if (entry === '') return 'empty (a stray comma?)';
  const colon = entry.indexOf(':');
  if (colon < 0) return 'not of the form <key id>:<base64 of 32 bytes>';
  const [id, key] = [entry.slice(0, colon), entry.slice(colon + 1)];
  if (!KEY_ID.test(id)) return 'the key id must be 1 to 64 characters of A-Z a-z 0-9 . _ -';
  const repeated = earlier.findIndex((k) => k.id === id);
  if (repeated >= 0) return `repeats the key id of entry ${repeated + 1}`;
  if (!BASE64.test(key)) return 'the key is not base64';
  const bytes = Buffer.from(key, 'base64');
  if (bytes.length !== KEY_BYTES) return `the key must be ${KEY_BYTES} bytes (it has ${bytes.length})`;
  return { id, key: crypto.createSecretKey(bytes) };
}

/** DIALER_PAYLOAD_KEYS: comma-separated `id:base64key` entries; the first encrypts, all decrypt. */
const payloadKeys = z.preprocess(emptyToUndefined, z.string().optional()).transform((text, ctx) => {
  const keys: PayloadKey[] = [];
  (text?.split(',') ?? []).forEach((entry, i) => {
    const parsed = payloadKeyEntry(entry.trim(), keys);
    if (typeof parsed === 'string')
      ctx.issues.push({ code: 'custom', message: `entry ${i + 1}: ${parsed}`, input: i });
    else keys.push(parsed);
  });
  return keys;
});

/** Browser origins (scheme://host[:port]), comma-separated. */
const origins = z
  .string()
  .transform((text) => text.split(',').map((o) => o.trim()))
  .refine((list) => list.every((o) => URL.canParse(o) && new URL(o).origin === o), {
    message: 'must be origins such as http://127.0.0.1:8233, comma-separated',
  });

const schema = z.object({
  TEMPORAL_ADDRESS: hostPort.default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('dialer'),
  TEMPORAL_UI_PORT: port.default(8233),
  /** Where browsers load the Temporal UI from (CORS of /codec); unset: http://127.0.0.1 and localhost at TEMPORAL_UI_PORT. */
  TEMPORAL_UI_ORIGIN: z.preprocess(emptyToUndefined, origins.optional()),
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
  /** Keys that encrypt Temporal's payloads (infra/payload-codec.ts): `id:base64key,…`, first one encrypts. */
  DIALER_PAYLOAD_KEYS: payloadKeys,
  NODE_ENV: z.string().optional(),
  DIALER_DATA_DIR: z.string().default(path.resolve(__dirname, '..', 'data')),
  DIALER_TOOLS_DIR: z.string().default(path.join(os.homedir(), '.cache', 'dialer-tools')),
});

export type Env = z.infer<typeof schema>;

export interface Config {
  temporal: {
    address: string;
    namespace: string;
    taskQueue: string;
    uiPort: number;
    /** The Temporal UI's origins as browsers see them: those /codec answers (CORS). */
    uiOrigins: string[];
  };
  /** DIALER_PAYLOAD_KEYS: the first encrypts what goes to Temporal, every one decrypts; none: in clear. */
  payloadKeys: PayloadKey[];
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
      uiOrigins: e.TEMPORAL_UI_ORIGIN ?? [
        `http://127.0.0.1:${e.TEMPORAL_UI_PORT}`,
        `http://localhost:${e.TEMPORAL_UI_PORT}`,
      ],
    },
    payloadKeys: e.DIALER_PAYLOAD_KEYS,
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

/** DIALER_PAYLOAD_KEYS text read from elsewhere (the dev key file), checked as the variable is. */
export function parsePayloadKeys(text: string, source: string): PayloadKey[] {
  const parsed = payloadKeys.safeParse(text);
  if (!parsed.success) {
    throw new ConfigError(`${source}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  }
  return parsed.data;
}

export const UNENCRYPTED_WARNING =
  'DIALER_PAYLOAD_KEYS is not set: phone numbers and names go to Temporal unencrypted';

/**
 * Whether Temporal's payloads are encrypted here. A deployment (NODE_ENV=production) without keys
 * is refused: its workflow histories would hold every number it dials in clear.
 */
export function payloadsEncrypted(cfg: Config): boolean {
  if (cfg.payloadKeys.length) return true;
  if (cfg.production) {
    throw new ConfigError(
      'DIALER_PAYLOAD_KEYS is not set: in production the dialer does not send phone numbers to Temporal unencrypted (see docs/deployment.md).',
    );
  }
  return false;
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
