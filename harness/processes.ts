import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const repoRoot = path.resolve(__dirname, '..');

/** The node arguments that run `dialer <args>` from this checkout (tsx, no build step). */
export function dialerArgv(args: string[]): string[] {
  return ['--import', 'tsx', path.join(repoRoot, 'client/main.ts'), ...args];
}

/**
 * Starts `dialer <args>` as its own process (a server or worker the caller stops); `nodeFlags`
 * go to node itself (e.g. --cpu-prof, which NODE_OPTIONS may not carry).
 */
export function spawnDialer(
  args: string[],
  env: NodeJS.ProcessEnv,
  o: { stdio?: StdioOptions; nodeFlags?: string[] } = {},
): ChildProcess {
  return spawn(process.execPath, [...(o.nodeFlags ?? []), ...dialerArgv(args)], {
    env,
    cwd: repoRoot,
    stdio: o.stdio ?? ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs `dialer <args>` as its own process, as an operator would; resolves when it exits. */
export function runDialer(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnDialer(args, env);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** Listens on `port` (0: any) on 127.0.0.1 and lets go: the port it got, or null when taken. */
function probePort(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(null));
    srv.listen(port, '127.0.0.1', () => {
      const addr = srv.address();
      const got = typeof addr === 'object' && addr ? addr.port : null;
      srv.close(() => resolve(got));
    });
  });
}

/** Where the kernel picks ports for bind(0) and outgoing connections (Linux's file, else its default). */
export function ephemeralPortRange(): [number, number] {
  try {
    const [lo, hi] = fs
      .readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    if (lo && hi && lo <= hi) return [lo, hi];
  } catch {
    // not Linux: its usual range
  }
  return [32768, 60999];
}

/** The ports freePort draws from: below the ephemeral range (or above it when that is too low). */
function listeningRange(): [number, number] | null {
  const [lo, hi] = ephemeralPortRange();
  if (lo > 12_000) return [10_000, lo - 1];
  if (hi < 63_000) return [hi + 1, 65_535];
  return null;
}

/**
 * A TCP port nothing listens on right now, outside the kernel's ephemeral range. A process that
 * asks the kernel for "any free port" (the Temporal dev server does for its HTTP, metrics and
 * internal ports, at every start) may be handed a port whose listener is down for a moment; a
 * server killed and restarted in the chaos run found its port taken by a restarted Temporal, and
 * the CRM's POSTs were answered 404 by Temporal's HTTP API. Ports outside that range are never
 * handed out so.
 */
export async function freePort(): Promise<number> {
  const range = listeningRange();
  for (let tries = 0; range && tries < 200; tries++) {
    const candidate = range[0] + Math.floor(Math.random() * (range[1] - range[0] + 1));
    if ((await probePort(candidate)) !== null) return candidate;
  }
  const port = await probePort(0);
  if (port === null) throw new Error('no free port on 127.0.0.1');
  return port;
}

/**
 * A free port whose next port is free too (METRICS_PORT: the worker's SDK exporter listens on the
 * port after ours). Tries a few free ports until one has a free neighbour.
 */
export async function freePortPair(): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const port = await freePort();
    if (port < 65535 && (await probePort(port + 1)) !== null) return port;
  }
  throw new Error('no free pair of neighbouring ports on 127.0.0.1');
}
