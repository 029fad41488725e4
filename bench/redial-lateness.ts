/**
 * How late redials are dialed: N contacts with redial times spread over a window, dialed by a
 * campaign on the real stack (Temporal, PostgreSQL, simulator: see bench/on-stack.ts). Lateness is
 * create_requested_at − due_at per attempt. Baseline in the same run: N bare workflows that sleep
 * on a durable timer until the same kind of times and stamp the clock in an activity — the
 * lateness Temporal's timers alone give on this machine.
 *
 *   npm run bench:lateness -- [--redials 250] [--spread-seconds 20] [--lines 20]
 */
import { Worker } from '@temporalio/worker';
import { campaignWorkflowId } from '../workflows/shared';
import {
  cfg,
  createCampaign,
  insertContacts,
  runCli,
  testDataConverter,
  testPhone,
  uid,
  type Stack,
} from '../harness/stack';
import { temporalClient } from '../infra/temporal-connection';
import { NativeConnection } from '@temporalio/worker';
import path from 'node:path';
import { benchArgs, runOnStack } from './on-stack';

export const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
export const summary = (xs: number[]) => ({
  n: xs.length,
  p50: pct(xs, 50),
  p90: pct(xs, 90),
  p99: pct(xs, 99),
  max: Math.max(...xs),
  min: Math.min(...xs),
});

/** Bare durable timers to `times`, each stamping the clock in an activity: ms late per timer. */
export async function timerBaseline(times: Date[], address = cfg.temporal.address): Promise<number[]> {
  const connection = await NativeConnection.connect({ address });
  const taskQueue = uid('bench-timer');
  const stamps = new Map<string, number>();
  const worker = await Worker.create({
    connection,
    taskQueue,
    namespace: cfg.temporal.namespace,
    dataConverter: testDataConverter,
    workflowsPath: path.join(__dirname, 'timer-workflow.ts'),
    activities: { stamp: async (id: string) => void stamps.set(id, Date.now()) },
  });
  const running = worker.run();
  const client = temporalClient(connection, cfg);
  const handles = await Promise.all(
    times.map((t, i) =>
      client.workflow.start('sleepUntil', {
        taskQueue,
        workflowId: `${taskQueue}-${i}`,
        args: [t.toISOString(), String(i)],
      }),
    ),
  );
  await Promise.all(handles.map((h) => h.result()));
  worker.shutdown();
  await running;
  await connection.close();
  return times.map((t, i) => stamps.get(String(i))! - t.getTime());
}

interface LatenessOptions {
  redials: number;
  spreadMs: number;
  lines: number;
}

/** A campaign's redials due over the spread, then as many bare timers: how late each was. */
async function main(stack: Stack, temporalAddress: string, o: LatenessOptions) {
  const { redials: N, spreadMs, lines } = o;
  stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 } });
  const name = uid('lateness');
  await createCampaign(stack.env, name, '--calls-per-second', '1000', '--lines', String(lines));
  const t0 = Date.now() + 8000;
  const times = Array.from({ length: N }, (_, i) => new Date(t0 + Math.round((i * spreadMs) / N)));
  for (const t of times) {
    await insertContacts(stack.db, name, [testPhone()], {
      contact_successful: 2,
      number_of_contacts: 1,
      redial_time: t,
    });
  }
  const started = await runCli(['campaign', 'start', name, '--until-empty'], stack.env);
  if (started.code !== 0) throw new Error(started.stderr);
  console.error(`campaign ${name}: ${N} redials due from +8 s over ${spreadMs / 1000} s, ${lines} lines…`);
  await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();
  const rows = await stack.db.sql<{ late: number }[]>`
    select extract(epoch from (create_requested_at - due_at)) * 1000 as late
    from call_attempts where campaign_name = ${name} and due_at is not null`;
  const dialer = rows.map((r) => Number(r.late));
  console.error('baseline: bare durable timers to the same kind of times…');
  const bt0 = Date.now() + 5000;
  const bare = await timerBaseline(
    Array.from({ length: N }, (_, i) => new Date(bt0 + Math.round((i * spreadMs) / N))),
    temporalAddress,
  );
  const result = {
    redials: summary(dialer),
    bareTimers: summary(bare),
    early: dialer.filter((x) => x < 0).length,
  };
  console.table({
    'dialer redials (ms late)': result.redials,
    'bare Temporal timers (ms late)': result.bareTimers,
  });
  console.log(JSON.stringify(result));
}

if (require.main === module) {
  const values = benchArgs('bench:lateness', {
    redials: { type: 'string', default: '250' },
    'spread-seconds': { type: 'string', default: '20' },
    lines: { type: 'string', default: '20' },
  });
  const o = {
    redials: Number(values.redials),
    spreadMs: Number(values['spread-seconds']) * 1000,
    lines: Number(values.lines),
  };
  runOnStack('bench:lateness', { timeScale: 0.01 }, (stack, address) => main(stack, address, o));
}
