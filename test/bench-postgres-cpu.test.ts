/**
 * The benchmark's PostgreSQL CPU per client (bench/pg-cpu.ts): a backend that connects during the
 * window counts, and the connections of the application a group leaves out do not. Needs the
 * machine's PostgreSQL as a local process (its /proc readable), as the benchmark does. The group
 * watches a database of its own, so that other tests' work on the test database stays out.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BackendCpu } from '../bench/pg-cpu';
import { cpuMs } from '../bench/stack';
import { cfg, uid } from '../harness/stack';
import { type RawConnection, rawConnection } from '../harness/raw-db';

/** A statement that keeps a backend on a core for a while (a few hundred ms). */
const burn = (sql: RawConnection) =>
  sql`select count(*) from generate_series(1, 5000000)`.then(() => undefined);

const onDatabase = (name: string) => {
  const u = new URL(cfg.testDatabaseUrl!);
  u.pathname = `/${name}`;
  return u.toString();
};

test("a group's backends are counted, new ones included, and its left-out application's are not", async () => {
  const name = `${new URL(cfg.testDatabaseUrl!).pathname.slice(1)}_${uid('cpu').replace(/-/g, '_')}`;
  const admin = rawConnection(onDatabase('postgres'));
  await admin.unsafe(`create database "${name}"`);
  const counted = rawConnection(onDatabase(name), { applicationName: 'bench-counted' });
  const noise = rawConnection(onDatabase(name), { applicationName: 'bench-noise' });
  try {
    const meter = await BackendCpu.start(cfg.testDatabaseUrl!, {
      db: { databases: [name], excludeApplication: 'bench-noise' },
    });
    assert.ok(meter, 'PostgreSQL runs here as a local process');
    // both connect after the window opened
    const [me] = await counted<{ pid: number }[]>`select pg_backend_pid() as pid`;
    await burn(counted);
    const countedMs = cpuMs(me!.pid);
    await burn(noise);
    await burn(noise);
    const { db } = await meter.stop();
    assert.ok(countedMs >= 50, `the burning backend used ${countedMs} ms`);
    // all of the counted backend's CPU, and not the left-out one's (twice as much)
    assert.ok(db! >= countedMs, `${db} ms counted, the backend used ${countedMs} ms`);
    assert.ok(db! < countedMs * 2, `${db} ms counted: the left-out application's backend is in it`);
  } finally {
    await Promise.all([counted.end(), noise.end()]);
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.end();
  }
});
