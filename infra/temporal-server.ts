import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../workflows/shared';
import { connectTemporal } from './temporal-connection';

/** The newest Temporal CLI release that `go install` accepts (it embeds server 1.29.1 and the UI). */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';

export class TemporalSetupError extends Error {
  override name = 'TemporalSetupError';
}

type Progress = (line: string) => void;

/** Where the project keeps its own build of the CLI, keyed by version (outside the clone). */
export function cachedCliPath(toolsDir: string): string {
  return path.join(toolsDir, `temporal-${TEMPORAL_CLI_VERSION}`, 'bin', 'temporal');
}

/** Where to look for executables: PATH, and the places Go's installer puts it. */
export interface ToolSearch {
  path: string;
  goFallbacks: string[];
}
const defaultSearch = (): ToolSearch => ({
  path: process.env.PATH ?? '',
  goFallbacks: ['/usr/local/go/bin/go'],
});

function onPath(cmd: string, searchPath: string): string | undefined {
  for (const dir of searchPath.split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, cmd);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/** A `temporal` CLI on PATH, else the project's cached build, else undefined. */
export function findTemporalCli(toolsDir: string, search: ToolSearch = defaultSearch()): string | undefined {
  const fromPath = onPath('temporal', search.path);
  if (fromPath) return fromPath;
  const cached = cachedCliPath(toolsDir);
  return fs.existsSync(cached) ? cached : undefined;
}

/** Finds the CLI or builds it with `go install` into the tools cache (about 3 minutes the first time). */
export async function ensureTemporalCli(
  toolsDir: string,
  progress: Progress = () => {},
  search: ToolSearch = defaultSearch(),
): Promise<string> {
  const found = findTemporalCli(toolsDir, search);
  if (found) return found;
  const go = onPath('go', search.path) ?? search.goFallbacks.find((g) => fs.existsSync(g));
  if (!go) {
    throw new TemporalSetupError(
      'No Temporal server available: there is no `temporal` CLI on PATH or in ' +
        `${path.dirname(cachedCliPath(toolsDir))}, and no Go toolchain to build one.\n` +
        'Install one of: the Temporal CLI (https://docs.temporal.io/cli, put `temporal` on PATH), ' +
        'or Go ≥ 1.24 (then this command builds the CLI itself), ' +
        'or point TEMPORAL_ADDRESS at a running Temporal server.',
    );
  }
  const gobin = path.dirname(cachedCliPath(toolsDir));
  fs.mkdirSync(gobin, { recursive: true });
  progress(
    `building the Temporal CLI ${TEMPORAL_CLI_VERSION} with ${go} into ${gobin} (about 3 minutes the first time)…`,
  );
  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(go, ['install', `${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`], {
      env: { ...process.env, GOBIN: gobin, GOFLAGS: process.env.GOFLAGS ?? '-mod=mod' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let downloads = 0;
    let tail = '';
    const ticker = setInterval(
      () =>
        progress(
          `  … still building (${Math.round((Date.now() - started) / 1000)} s, ${downloads} modules fetched)`,
        ),
      15_000,
    );
    child.stderr.on('data', (d: Buffer) => {
      const text = d.toString();
      downloads += (text.match(/go: downloading/g) ?? []).length;
      tail = (tail + text).slice(-4000);
    });
    child.on('error', (e) => (clearInterval(ticker), reject(e)));
    child.on('exit', (code) => {
      clearInterval(ticker);
      if (code === 0) resolve();
      else reject(new TemporalSetupError(`go install failed (exit ${code}):\n${tail}`));
    });
  });
  progress(`built the Temporal CLI in ${Math.round((Date.now() - started) / 1000)} s`);
  return cachedCliPath(toolsDir);
}

export interface DevServerOptions {
  cli: string;
  address: string; // host:port for gRPC
  uiPort: number;
  namespace: string;
  /** SQLite file for the server's state; undefined → in memory. */
  dbFile?: string;
  logFile?: string;
  /** The codec server the Web UI decodes payloads through (`dialer dev`: the dialer server's /codec). */
  codecEndpoint?: string;
}

/** True when a Temporal frontend answers at this address. */
export async function temporalAnswers(address: string, timeoutMs = 2000): Promise<boolean> {
  let conn: Connection | undefined;
  try {
    conn = await Connection.connect({ address, connectTimeout: timeoutMs });
    await conn.workflowService.getSystemInfo({});
    return true;
  } catch {
    return false;
  } finally {
    await conn?.close().catch(() => undefined);
  }
}

export async function waitForTemporal(
  address: string,
  timeoutMs: number,
  child?: ChildProcess,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) {
      throw new TemporalSetupError(`temporal server exited with code ${child.exitCode} before answering`);
    }
    if (await temporalAnswers(address, 1000)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new TemporalSetupError(`Temporal did not answer at ${address} within ${timeoutMs / 1000} s`);
}

/** Starts `temporal server start-dev` with our search attributes, waits until it answers. */
export async function startDevServer(o: DevServerOptions): Promise<ChildProcess> {
  const [ip, port] = o.address.split(':');
  const args = ['server', 'start-dev', '--ip', ip!, '--port', port!, '--ui-port', String(o.uiPort)];
  args.push('--namespace', o.namespace, '--log-level', 'warn');
  if (o.codecEndpoint) args.push('--ui-codec-endpoint', o.codecEndpoint);
  if (o.dbFile) {
    fs.mkdirSync(path.dirname(o.dbFile), { recursive: true });
    // Without these pragmas the file-backed server is about 4× slower (measured: 9 → 36 children/s).
    args.push('--db-filename', o.dbFile);
    args.push('--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal');
  }
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES))
    args.push('--search-attribute', `${name}=${type}`);
  const out = o.logFile ? fs.openSync(o.logFile, 'a') : 'ignore';
  const child = spawn(o.cli, args, { stdio: ['ignore', out, out], detached: true });
  track(child);
  try {
    await waitForTemporal(o.address, 60_000, child);
    await registerSearchAttributes(o.address, o.namespace);
  } catch (err) {
    await stopDevServer(child); // a server that never became usable is not left running
    throw err;
  }
  return child;
}

const INDEXED_TYPE: Record<string, temporal.api.enums.v1.IndexedValueType> = {
  Keyword: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  Int: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT,
  Datetime: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
};

/**
 * Registers our search attributes through the operator API (what `temporal operator
 * search-attribute create` calls). Needed besides --search-attribute: the flags are ignored once a
 * persistent namespace exists, and a server we did not start has never seen them.
 */
export async function registerSearchAttributes(address: string, namespace: string): Promise<string[]> {
  const conn = await connectTemporal(address, { callMs: 10_000 });
  try {
    const existing = await conn.operatorService.listSearchAttributes({ namespace });
    const known = new Set(Object.keys(existing.customAttributes ?? {}));
    const missing = Object.entries(SEARCH_ATTRIBUTES).filter(([name]) => !known.has(name));
    if (missing.length === 0) return [];
    await conn.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map(([n, t]) => [n, INDEXED_TYPE[t]!])),
    });
    return missing.map(([n]) => n);
  } finally {
    await conn.close();
  }
}

/**
 * The dev servers this process started and that still run. A dev server runs in a process group
 * of its own (detached: a Ctrl-C in the terminal is ours to handle, not its), so it would outlive
 * us if we exited without stopping it: whatever way this process exits, they are killed with it.
 */
const runningServers = new Set<ChildProcess>();

/** Kills the server with this process, whatever way it exits (see killDevServersNow). */
export function track(child: ChildProcess): void {
  if (runningServers.size === 0) process.once('exit', killDevServersNow);
  runningServers.add(child);
  child.once('exit', () => {
    runningServers.delete(child);
    if (runningServers.size === 0) process.off('exit', killDevServersNow);
  });
}

/** SIGKILL to every dev server this process started that still runs (synchronous: fit for 'exit'). */
export function killDevServersNow(): void {
  for (const child of runningServers) {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

/** SIGTERM to the server's process group, SIGKILL if it has not gone within the grace period. */
export async function stopDevServer(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }, graceMs);
  await exited;
  clearTimeout(timer);
}
