/**
 * The table `npm run bench` prints at the end: a figure a line, a column per engine measured,
 * the target and whether each engine met it.
 */
import type { BenchReport } from './main';

/** A figure, 'n/a' where the engine has no such thing (PostgreSQL under the dev server), null: not run. */
type Cell = number | 'n/a' | null;

interface Row {
  label: string;
  cells: Cell[];
  target: string;
  ok: (v: number) => boolean;
}

type Details = Record<string, number | null | undefined>;
const detail = (r: BenchReport, ...keys: string[]): Details | undefined =>
  keys.reduce<Record<string, unknown> | undefined>(
    (o, k) => o?.[k] as Record<string, unknown> | undefined,
    r.details,
  ) as Details | undefined;

/** A figure of the cost part (or of the bare fan-out beside it): 'n/a' if measured as null. */
function cpuCell(r: BenchReport, path: string[], key: string): Cell {
  const d = detail(r, ...path);
  if (!d || !detail(r, 'throughput', 'cost')) return null;
  return d[key] ?? 'n/a';
}

/** A target: its text and the test a figure passes. */
type Goal = Pick<Row, 'target' | 'ok'>;
const NO_GOAL: Goal = { target: '', ok: () => true };
const atLeast = (n: number, shown = String(n)): Goal => ({ target: `≥ ${shown}`, ok: (v) => v >= n });
const atMost = (n: number): Goal => ({ target: `≤ ${n}`, ok: (v) => v <= n });
type AddRow = (label: string, cell: (r: BenchReport) => Cell, goal?: Goal) => void;

function figureRows(reports: BenchReport[]): Row[] {
  const rows: Row[] = [];
  const add: AddRow = (label, cell, goal = NO_GOAL) =>
    rows.push({ label, ...goal, cells: reports.map(cell) });
  add('dials/s end to end', (r) => r.dialsPerSecond, atLeast(25));
  add('bare fan-out children/s (ceiling)', (r) => r.bareDialsPerSecond);
  add('ratio to bare', (r) => r.ratioToBare, atLeast(0.8, '0.80'));
  add('raw loop dials/s (no Temporal)', (r) => r.rawDialsPerSecond);
  add('ratio to raw', (r) => r.ratioToRaw);
  add('history events per attempt', (r) => r.eventsPerAttempt, atMost(28));
  add('database statements per attempt', (r) => r.dbStatementsPerAttempt, atMost(6));
  add('one campaign’s ceiling (attempts/s)', (r) => r.campaignCeilingPerSecond, atLeast(100));
  add('  its worker CPU ms per attempt', (r) =>
    cpuCell(r, ['throughput', 'cost', 'campaignWorkflow'], 'campaignWorkerCpuMsPerAttempt'),
  );
  add('  its server CPU ms per attempt', (r) =>
    cpuCell(r, ['throughput', 'cost', 'campaignWorkflow'], 'campaignServerCpuMsPerAttempt'),
  );
  add('campaign workflow busy (share of wall time)', (r) =>
    cpuCell(r, ['throughput', 'cost', 'campaignWorkflow'], 'busyFraction'),
  );
  cpuRows(add);
  add('redial lateness p50 (ms)', (r) => r.latenessP50Ms);
  add('redial lateness p99 (ms)', (r) => r.latenessP99Ms, atMost(1000));
  add('CRM follow-up lateness p50 (ms)', (r) => detail(r, 'crm', 'crmMs')?.p50 ?? null);
  add('CRM follow-up lateness p99 (ms)', (r) => r.crmLatenessP99Ms, atMost(1000));
  add('  bare timers beside it, p99 (ms)', (r) => detail(r, 'crm', 'bareTimersMs')?.p99 ?? null);
  add('batch selection at scale (ms)', (r) => r.selectionMs, atMost(20));
  add('worker RSS growth (MB)', (r) => r.rssGrowthMb, atMost(50));
  add('payloads through the codec per attempt', (r) => r.payloadsPerAttempt);
  add('converter + codec CPU per attempt (ms)', (r) => r.codecCpuMsPerAttempt);
  add('  converter alone beside it (ms)', (r) => r.codecBaselineCpuMsPerAttempt);
  return rows;
}

/** The worker's CPU per attempt over the bare fan-out worker's per child. */
function workerRatio(r: BenchReport): Cell {
  const dialer = cpuCell(r, ['throughput', 'cost'], 'workerCpuMsPerAttempt');
  const bare = cpuCell(r, ['throughput', 'bare'], 'workerCpuMsPerChild');
  return typeof dialer === 'number' && typeof bare === 'number' && bare > 0
    ? Math.round((dialer / bare) * 100) / 100
    : null;
}

/** Where an attempt's CPU goes, each process beside the bare fan-out's per child. */
function cpuRows(add: AddRow): void {
  const cost = ['throughput', 'cost'];
  const bare = ['throughput', 'bare'];
  add('Temporal server CPU ms per attempt', (r) => cpuCell(r, cost, 'temporalCpuMsPerAttempt'));
  add('  bare fan-out, per child', (r) => cpuCell(r, bare, 'temporalCpuMsPerChild'));
  add('PostgreSQL for Temporal CPU ms per attempt', (r) =>
    cpuCell(r, cost, 'temporalPostgresCpuMsPerAttempt'),
  );
  add('  bare fan-out, per child', (r) => cpuCell(r, bare, 'temporalPostgresCpuMsPerChild'));
  add('PostgreSQL for the dialer CPU ms per attempt', (r) =>
    cpuCell(r, cost, 'dialerPostgresCpuMsPerAttempt'),
  );
  add('worker CPU ms per attempt', (r) => cpuCell(r, cost, 'workerCpuMsPerAttempt'));
  add('  bare fan-out worker, per child', (r) => cpuCell(r, bare, 'workerCpuMsPerChild'));
  add('  worker per attempt / bare per child', (r) => workerRatio(r), atMost(1.3));
  add('webhook server CPU ms per attempt', (r) => cpuCell(r, cost, 'webhookServerCpuMsPerAttempt'));
  add('simulator and driver CPU ms per attempt', (r) =>
    cpuCell(r, cost, 'simulatorAndDriverCpuMsPerAttempt'),
  );
}

/** A column's heading: the engine, and temporal-server's shards. */
export const engineLabel = (r: BenchReport) =>
  r.shards === null ? r.engine : `${r.engine} (${r.shards} shards)`;

export function printTable(reports: BenchReport[]): void {
  const heads = reports.map(engineLabel);
  const widths = heads.map((h) => Math.max(9, h.length));
  const rows = figureRows(reports).filter((row) => row.cells.some((c) => c !== null));
  const labelWidth = Math.max(...rows.map((row) => row.label.length), 6);
  const verdict = (row: Row) =>
    row.target
      ? row.cells.map((c) => (typeof c === 'number' ? (row.ok(c) ? 'met' : 'MISSED') : '—')).join(' / ')
      : '';
  const line = (label: string, cells: string[], target: string, says: string) =>
    [label.padEnd(labelWidth), ...cells.map((c, i) => c.padStart(widths[i]!)), target.padEnd(7), says]
      .join('  ')
      .trimEnd();
  console.log(line('figure', heads, 'target', ''));
  for (const row of rows)
    console.log(
      line(
        row.label,
        row.cells.map((c) => (c === null ? '' : String(c))),
        row.target,
        verdict(row),
      ),
    );
  for (const r of reports)
    for (const [k, v] of Object.entries(r.details))
      console.log(`${reports.length > 1 ? `${r.engine} ` : ''}${k}: ${JSON.stringify(v)}`);
}
