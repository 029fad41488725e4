/**
 * `dialer dev` and Ctrl-C: a Ctrl-C could leave the Temporal dev server that
 * dev started running, orphaned (it runs in a process group of its own, so the terminal's SIGINT
 * never reaches it). Now the first Ctrl-C stops everything, a second one during the shutdown
 * still leaves nothing behind, and so does a Ctrl-C while dev is still starting.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { spawnDialer } from '../harness/processes';
import { cfg, eventually, freePort, embeddedDefaultsEnv } from '../harness/stack';

/** The processes whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,ppid='], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number))
    .filter(([, ppid]) => ppid === pid)
    .map(([p]) => p!);
}

/** Alive and not a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  try {
    const stat = execFileSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' }).trim();
    return stat !== '' && !stat.startsWith('Z');
  } catch {
    return false; // ps exits 1 when there is no such process
  }
}

async function startDev(): Promise<{ dev: ChildProcess; out: () => string; exited: Promise<number | null> }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dev-interrupt-'));
  const dev = spawnDialer(
    ['dev'],
    await embeddedDefaultsEnv(dataDir, {
      DATABASE_URL: cfg.testDatabaseUrl,
      // nothing answers there: dev starts a Temporal dev server of its own
      TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`,
      TEMPORAL_UI_PORT: String(await freePort()),
    }),
  );
  let out = '';
  dev.stdout!.on('data', (d) => (out += d));
  dev.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => dev.on('exit', (code) => r(code)));
  exited.then(
    () => fs.rmSync(dataDir, { recursive: true, force: true }),
    () => undefined,
  );
  return { dev, out: () => out, exited };
}

async function temporalChild(dev: ChildProcess, out: () => string): Promise<number> {
  let found: number | undefined;
  await eventually(
    async () => {
      found = childrenOf(dev.pid!)[0];
      return found !== undefined;
    },
    60_000,
    `dev to start its Temporal dev server:\n${out()}`,
  );
  return found!;
}

async function assertGone(pid: number, out: string): Promise<void> {
  await eventually(
    async () => !alive(pid),
    15_000,
    `the Temporal dev server (pid ${pid}) to be gone:\n${out}`,
  );
}

for (const [what, signals] of [
  ['one Ctrl-C', 1],
  ['a second Ctrl-C during the shutdown', 2],
] as const) {
  test(`dialer dev: ${what} stops everything it started`, { timeout: 120_000 }, async () => {
    const { dev, out, exited } = await startDev();
    let temporal: number | undefined;
    try {
      await eventually(
        async () => out().includes('Ctrl-C stops everything'),
        90_000,
        `dev to start:\n${out()}`,
      );
      temporal = await temporalChild(dev, out);
      assert.ok(alive(temporal));
      dev.kill('SIGINT');
      if (signals === 2) {
        await eventually(async () => out().includes('shutting down'), 10_000, out());
        dev.kill('SIGINT');
      }
      const code = await exited;
      assert.ok(code === 0 || (signals === 2 && code === 130), `exit code ${code}:\n${out()}`);
      await assertGone(temporal, out());
    } finally {
      if (dev.exitCode === null) dev.kill('SIGKILL');
      if (temporal !== undefined && alive(temporal)) process.kill(-temporal, 'SIGKILL');
    }
  });
}

test(
  'dialer dev: a Ctrl-C while it is still starting leaves nothing behind',
  { timeout: 120_000 },
  async () => {
    const { dev, out, exited } = await startDev();
    let temporal: number | undefined;
    try {
      temporal = await temporalChild(dev, out);
      dev.kill('SIGINT');
      const code = await exited;
      assert.equal(code, 0, out());
      await assertGone(temporal, out());
    } finally {
      if (dev.exitCode === null) dev.kill('SIGKILL');
      if (temporal !== undefined && alive(temporal)) process.kill(-temporal, 'SIGKILL');
    }
  },
);
