/**
 * CPU the machine's PostgreSQL spends for a client, over a window: its backends (one process per
 * connection) picked from pg_stat_activity by database, their CPU read from /proc/<pid>/stat.
 * PostgreSQL's shared processes (WAL writer, checkpointer, background writer) are not counted:
 * they work for every database at once.
 */
import fs from 'node:fs';
import { type RawConnection, rawConnection } from '../harness/raw-db';

/** The backends of a group: connected to one of `databases`, not under `excludeApplication`. */
export interface BackendGroup {
  databases: string[];
  /** The benchmark's own connections to the dialer's database (its progress counts, its checks). */
  excludeApplication?: string;
}

/** The connections that watch: none of them is in a group (they sit on the `postgres` database). */
const METER_APPLICATION = 'dialer-bench-meter';
const SAMPLE_MS = 1000;

interface ProcStat {
  cpuMs: number;
  /** Clock ticks after boot when the process started: a pid used again is another process. */
  startTicks: number;
}

const CLK_TCK = 100;

function procStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null; // gone
  }
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK, startTicks: Number(f[19]) };
}

interface Backend {
  group: string;
  fromMs: number;
  lastMs: number;
}

/**
 * Samples the groups' backends every second from `start` to `stop`. A backend that connects
 * meanwhile counts from 0; one that disconnects counts up to its last sample (Temporal and the
 * dialer keep their connections, so little is lost).
 */
export class BackendCpu {
  private readonly backends = new Map<string, Backend>();
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> = Promise.resolve();
  /**
   * When the window opened, by PostgreSQL's clock, to compare with pg_stat_activity's
   * backend_start. Not /proc/uptime against a process's start ticks: in some sandboxes the two
   * count from different boots, and every new backend looked older than the window (CI, 2026-12-07).
   */
  private windowStart: Date | undefined;

  private constructor(
    private readonly sql: RawConnection,
    private readonly groups: Record<string, BackendGroup>,
  ) {}

  /**
   * Starts watching, or null when PostgreSQL's processes are not readable here (a server on
   * another machine or in a container): its own backend's /proc entry must be a postgres process.
   */
  static async start(serverUrl: string, groups: Record<string, BackendGroup>): Promise<BackendCpu | null> {
    const u = new URL(serverUrl);
    u.pathname = '/postgres';
    const sql = rawConnection(u.toString(), { applicationName: METER_APPLICATION });
    try {
      const [me] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
      const cmdline = fs.readFileSync(`/proc/${me!.pid}/cmdline`, 'utf8');
      if (!cmdline.startsWith('postgres')) throw new Error(`pid ${me!.pid} is not a postgres process`);
    } catch {
      await sql.end();
      return null;
    }
    const meter = new BackendCpu(sql, groups);
    await meter.sample(true);
    meter.timer = setInterval(() => {
      meter.sampling = meter.sampling.then(() => meter.sample(false)).catch(() => undefined);
    }, SAMPLE_MS);
    return meter;
  }

  /** Ends the window: CPU ms per group. */
  async stop(): Promise<Record<string, number>> {
    clearInterval(this.timer);
    await this.sampling;
    await this.sample(false);
    await this.sql.end();
    const total = Object.fromEntries(Object.keys(this.groups).map((g) => [g, 0]));
    for (const b of this.backends.values()) total[b.group]! += b.lastMs - b.fromMs;
    return total;
  }

  private groupOf(row: { datname: string; application_name: string }): string | undefined {
    return Object.entries(this.groups).find(
      ([, g]) => g.databases.includes(row.datname) && row.application_name !== g.excludeApplication,
    )?.[0];
  }

  private async sample(first: boolean): Promise<void> {
    if (first) {
      const [now] = await this.sql<{ at: Date }[]>`select clock_timestamp() as at`;
      this.windowStart = now!.at;
    }
    const databases = Object.values(this.groups).flatMap((g) => g.databases);
    const rows = await this.sql<{ pid: number; datname: string; application_name: string; fresh: boolean }[]>`
      select pid, datname, application_name, backend_start >= ${this.windowStart!} as fresh
      from pg_stat_activity
      where backend_type = 'client backend' and datname in ${this.sql(databases)}`;
    for (const row of rows) {
      const group = this.groupOf(row);
      const stat = group === undefined ? null : procStat(row.pid);
      if (!group || !stat) continue;
      const key = `${row.pid}/${stat.startTicks}`;
      const known = this.backends.get(key);
      if (known) known.lastMs = stat.cpuMs;
      else {
        // a backend that began within the window counts whole; one that was there before, from now
        const fromMs = !first && row.fresh ? 0 : stat.cpuMs;
        this.backends.set(key, { group, fromMs, lastMs: stat.cpuMs });
      }
    }
  }
}
