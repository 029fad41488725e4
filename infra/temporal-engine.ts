import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import Long from 'long';
import {
  TemporalSetupError,
  registerSearchAttributes,
  stopDevServer,
  track,
  waitForTemporal,
} from './temporal-server';
import { connectTemporal } from './temporal-connection';

/** The Temporal server release the production engine runs (the one the CLI embeds). */
export const TEMPORAL_SERVER_VERSION = 'v1.29.1';
const SERVER_MODULE = 'go.temporal.io/server';
const GO_FALLBACK = '/usr/local/go/bin/go';
const run = promisify(execFile);
type Progress = (line: string) => void;

/** Where `temporal-server` and `temporal-sql-tool` are built, keyed by version. */
export function engineBinDir(toolsDir: string): string {
  return path.join(toolsDir, `temporal-server-${TEMPORAL_SERVER_VERSION}`, 'bin');
}

function goBinary(): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, 'go');
    if (fs.existsSync(candidate)) return candidate;
  }
  if (fs.existsSync(GO_FALLBACK)) return GO_FALLBACK;
  throw new TemporalSetupError('The postgres engine builds temporal-server with Go ≥ 1.24: no `go` found.');
}

/** Builds `temporal-server` and `temporal-sql-tool` with `go install` unless already built. */
export async function ensureEngineBinaries(
  toolsDir: string,
  progress: Progress = () => {},
): Promise<{ server: string; sqlTool: string }> {
  const dir = engineBinDir(toolsDir);
  const bins = { server: path.join(dir, 'server'), sqlTool: path.join(dir, 'sql') };
  if (fs.existsSync(bins.server) && fs.existsSync(bins.sqlTool)) return bins;
  fs.mkdirSync(dir, { recursive: true });
  progress(
    `building temporal-server and temporal-sql-tool ${TEMPORAL_SERVER_VERSION} into ${dir} (about 2 minutes the first time)…`,
  );
  const started = Date.now();
  const ticker = setInterval(
    () => progress(`  … still building (${Math.round((Date.now() - started) / 1000)} s)`),
    15_000,
  );
  const pkgs = ['cmd/server', 'cmd/tools/sql'].map((p) => `${SERVER_MODULE}/${p}@${TEMPORAL_SERVER_VERSION}`);
  try {
    await run(goBinary(), ['install', ...pkgs], {
      env: { ...process.env, GOBIN: dir, GOFLAGS: process.env.GOFLAGS ?? '-mod=mod' },
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    throw new TemporalSetupError(`go install failed: ${(err as { stderr?: string }).stderr ?? String(err)}`);
  } finally {
    clearInterval(ticker);
  }
  progress(`built the Temporal server in ${Math.round((Date.now() - started) / 1000)} s`);
  return bins;
}

/** The server module's schema folder, from the Go module cache. */
export async function schemaDir(): Promise<string> {
  const { stdout } = await run(goBinary(), ['env', 'GOMODCACHE']);
  return path.join(
    stdout.trim(),
    `${SERVER_MODULE}@${TEMPORAL_SERVER_VERSION}`,
    'schema',
    'postgresql',
    'v12',
  );
}

export interface EngineDatabase {
  host: string;
  port: number;
  user: string;
  password: string;
  /** The two databases Temporal keeps: its state and its visibility (list, search). */
  names: { temporal: string; visibility: string };
}

/**
 * The PostgreSQL server and database names of a URL: its path names the state database (default
 * `temporal`), and the visibility database is that name with `_visibility` appended.
 */
export function engineDatabase(url: string): EngineDatabase {
  const u = new URL(url);
  const temporal = decodeURIComponent(u.pathname.replace(/^\//, '')) || 'temporal';
  const names = { temporal, visibility: `${temporal}_visibility` };
  return {
    host: u.hostname,
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username || 'postgres'),
    password: decodeURIComponent(u.password),
    names,
  };
}

/** Creates both databases if missing and brings their schemas up to the server's version. */
export async function prepareEngineDatabases(
  sqlTool: string,
  db: EngineDatabase,
  progress: Progress = () => {},
): Promise<void> {
  const schemas = await schemaDir();
  // the password goes in the environment, not on a command line others can read
  const env = { ...process.env, SQL_PASSWORD: db.password };
  const server = ['--plugin', 'postgres12', '--ep', db.host, '-p', String(db.port), '-u', db.user];
  for (const kind of ['temporal', 'visibility'] as const) {
    const name = db.names[kind];
    // create-database leaves an existing database alone; setup-schema -v 0.0 keeps a newer version
    for (const step of [
      ['create-database'],
      ['setup-schema', '-v', '0.0'],
      ['update-schema', '-d', path.join(schemas, kind, 'versioned')],
    ]) {
      await run(sqlTool, [...server, '--db', name, ...step], { env, maxBuffer: 16 << 20 }).catch(
        (err: { stderr?: string; message?: string }) => {
          throw new TemporalSetupError(`temporal-sql-tool ${step[0]} failed: ${err.stderr || err.message}`);
        },
      );
    }
    progress(`database ${name}: schema up to date`);
  }
}

export interface EnginePorts {
  frontend: number;
  frontendHttp: number;
  history: number;
  matching: number;
  worker: number;
  /** One membership port per service, in the order frontend, history, matching, worker. */
  membership: [number, number, number, number];
  metrics: number;
}

/**
 * Connections per service to each database. The server runs four services in one process and
 * each keeps its own pools, so it may open 4 × (state + visibility) connections: 120 with the
 * defaults, more than a stock PostgreSQL's max_connections (100) alone.
 */
export interface EngineConnections {
  state: number;
  visibility: number;
}
export const DEFAULT_ENGINE_CONNECTIONS: EngineConnections = { state: 20, visibility: 10 };

export interface EngineConfig {
  db: EngineDatabase;
  shards: number;
  ip: string;
  ports: EnginePorts;
  dynamicConfigFile: string;
  connections?: EngineConnections;
}

function datastore(db: EngineDatabase, name: string, conns: number): string {
  return `      sql:
        pluginName: "postgres12"
        databaseName: ${JSON.stringify(name)}
        connectAddr: ${JSON.stringify(`${db.host}:${db.port}`)}
        connectProtocol: "tcp"
        user: ${JSON.stringify(db.user)}
        password: ${JSON.stringify(db.password)}
        maxConns: ${conns}
        maxIdleConns: ${conns}
        maxConnLifetime: "1h"`;
}

function service(name: string, ip: string, ports: [number, number], extra = ''): string {
  return `  ${name}:
    rpc:
      grpcPort: ${ports[0]}
      membershipPort: ${ports[1]}
      bindOnIP: "${ip}"${extra}`;
}

/** The server's development.yaml (modelled on the module's config/development-postgres12.yaml). */
export function renderEngineConfig(c: EngineConfig): string {
  const p = c.ports;
  return `log:
  stdout: true
  level: warn

persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: ${c.shards}
  datastores:
    postgres-default:
${datastore(c.db, c.db.names.temporal, (c.connections ?? DEFAULT_ENGINE_CONNECTIONS).state)}
    postgres-visibility:
${datastore(c.db, c.db.names.visibility, (c.connections ?? DEFAULT_ENGINE_CONNECTIONS).visibility)}

global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "${c.ip}"
  metrics:
    prometheus:
      framework: "tally"
      timerType: "histogram"
      listenAddress: "${c.ip}:${p.metrics}"

services:
${service('frontend', c.ip, [p.frontend, p.membership[0]], `\n      httpPort: ${p.frontendHttp}`)}
${service('history', c.ip, [p.history, p.membership[1]])}
${service('matching', c.ip, [p.matching, p.membership[2]])}
${service('worker', c.ip, [p.worker, p.membership[3]])}

clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: "active"
  currentClusterName: "active"
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: "frontend"
      rpcAddress: "${c.ip}:${p.frontend}"

dcRedirectionPolicy:
  policy: "noop"

dynamicConfigClient:
  filepath: ${JSON.stringify(c.dynamicConfigFile)}
  pollInterval: "10s"
`;
}

/**
 * What the dialer relies on that a plain server leaves off (the dev server turns these on):
 * workflow updates (§ campaign commands), and search attributes readable right after an upsert.
 * One file for both ways to run the server: this command copies it into its config, compose
 * mounts it as the image's dynamic config.
 */
export const ENGINE_DYNAMIC_CONFIG_FILE = path.join(__dirname, 'temporal-dynamicconfig.yaml');
export const ENGINE_DYNAMIC_CONFIG = fs.readFileSync(ENGINE_DYNAMIC_CONFIG_FILE, 'utf8');

/** Listens on `port` (0: any) and lets go: the port it got, or null when taken. */
function probePort(host: string, port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(null));
    srv.listen(port, host, () => {
      const { port: got } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(got));
    });
  });
}

/**
 * A free port below 32768: the server stores membership ports in a smallint column, and
 * below the kernel's ephemeral range no other process is handed it by bind(0) meanwhile.
 */
export async function freeLocalPort(host: string): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const got = await probePort(host, 20_000 + Math.floor(Math.random() * 12_000));
    if (got !== null) return got;
  }
  throw new TemporalSetupError(`no free port below 32768 on ${host}`);
}

export async function enginePorts(ip: string, frontend: number): Promise<EnginePorts> {
  const next = () => freeLocalPort(ip);
  return {
    frontend,
    frontendHttp: await next(),
    history: await next(),
    matching: await next(),
    worker: await next(),
    membership: [await next(), await next(), await next(), await next()],
    metrics: await next(),
  };
}

export interface EngineOptions {
  toolsDir: string;
  /** The engine's folder: its config is written under it. */
  dir: string;
  databaseUrl: string;
  shards: number;
  address: string; // host:port of the frontend
  namespace: string;
  logFile?: string;
  /** Connections per service (default DEFAULT_ENGINE_CONNECTIONS). */
  connections?: EngineConnections;
}

/** Writes config/development.yaml and the dynamic config under o.dir; returns the config folder. */
async function writeEngineConfig(o: EngineOptions, db: EngineDatabase): Promise<string> {
  const [ip, port] = o.address.split(':');
  const configDir = path.join(o.dir, 'config');
  fs.mkdirSync(configDir, { recursive: true });
  const dynamicConfigFile = path.join(configDir, 'dynamicconfig.yaml');
  fs.writeFileSync(dynamicConfigFile, ENGINE_DYNAMIC_CONFIG);
  const ports = await enginePorts(ip!, Number(port));
  const yaml = renderEngineConfig({
    db,
    shards: o.shards,
    ip: ip!,
    ports,
    dynamicConfigFile,
    ...(o.connections ? { connections: o.connections } : {}),
  });
  fs.writeFileSync(path.join(configDir, 'development.yaml'), yaml, { mode: 0o600 });
  return configDir;
}

/**
 * Writes the config again with new ports for everything but the frontend (whose address the
 * clients know): for a launch that failed because another process took one of them meanwhile.
 */
export async function redrawEnginePorts(o: EngineOptions): Promise<void> {
  await writeEngineConfig(o, engineDatabase(o.databaseUrl));
}

/** A server ready to launch: its binary, its arguments (config written, ports drawn) and its log. */
export interface PreparedEngine {
  server: string;
  args: string[];
  logFile: string;
  address: string;
  namespace: string;
}

/** Builds the binaries, prepares the databases and writes the config: everything but the process. */
export async function prepareEngine(
  o: EngineOptions,
  progress: Progress = () => {},
): Promise<PreparedEngine> {
  const bins = await ensureEngineBinaries(o.toolsDir, progress);
  const db = engineDatabase(o.databaseUrl);
  await prepareEngineDatabases(bins.sqlTool, db, progress);
  const configDir = await writeEngineConfig(o, db);
  const args = ['--root', o.dir, '--config', path.relative(o.dir, configDir), '--env', 'development'];
  return {
    server: bins.server,
    args: [...args, '--allow-no-auth', 'start'],
    logFile: o.logFile ?? path.join(o.dir, 'temporal-server.log'),
    address: o.address,
    namespace: o.namespace,
  };
}

/**
 * Starts temporal-server as prepared and makes the namespace usable. Launched again on the same
 * preparation (after a crash or a kill -9), it takes the same ports: the membership rows the
 * killed process left name them, so the new one answers at the addresses they give.
 */
export async function launchEngine(
  p: PreparedEngine,
  progress: Progress = () => {},
  timeoutMs = 120_000,
): Promise<ChildProcess> {
  const out = fs.openSync(p.logFile, 'a');
  const child = spawn(p.server, p.args, { stdio: ['ignore', out, out], detached: true });
  fs.closeSync(out);
  track(child);
  try {
    await waitForTemporal(p.address, timeoutMs, child);
    await ensureNamespace(p.address, p.namespace, progress);
    await retry(() => registerSearchAttributes(p.address, p.namespace), 60_000);
  } catch (err) {
    await stopDevServer(child);
    throw err;
  }
  return child;
}

/** Builds, prepares the databases, starts temporal-server, and makes the namespace usable. */
export async function startEngine(o: EngineOptions, progress: Progress = () => {}): Promise<ChildProcess> {
  const prepared = await prepareEngine(o, progress);
  return launchEngine(prepared, progress);
}

async function retry<T>(f: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await f();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

const RETENTION_SECONDS = Long.fromNumber(3 * 24 * 3600);

/** Registers the namespace if missing (what `temporal operator namespace create` does). */
async function ensureNamespace(address: string, namespace: string, progress: Progress): Promise<void> {
  const conn = await connectTemporal(address, { callMs: 10_000 });
  try {
    const exists = await conn.workflowService.describeNamespace({ namespace }).then(
      () => true,
      () => false,
    );
    if (exists) return;
    progress(`creating namespace ${namespace}…`);
    await retry(
      () =>
        conn.workflowService
          .registerNamespace({ namespace, workflowExecutionRetentionPeriod: { seconds: RETENTION_SECONDS } })
          .catch((err: { code?: number }) => {
            if (err.code !== 6) throw err; // 6: ALREADY_EXISTS
          }),
      30_000,
    );
    await retry(() => conn.workflowService.describeNamespace({ namespace }), 30_000);
  } finally {
    await conn.close();
  }
}
