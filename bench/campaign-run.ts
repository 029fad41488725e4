/**
 * A long campaign on the real stack: N contacts answered at once (zero ring and talk time), with
 * the campaign continuing as new as its history grows. Prints dials per second end to end, how
 * many runs the campaign workflow took, and checks that every contact was dialed exactly once and
 * none is left at 3.
 *
 *   npm run bench:campaign -- [--contacts 3000] [--lines 100] [--max-history 10000]
 */
import { campaignWorkflowId } from '../workflows/shared';
import { createCampaign, insertContacts, runCli, testPhone, uid, type Stack } from '../harness/stack';
import { benchArgs, runOnStack } from './on-stack';

const values = benchArgs('bench:campaign', {
  contacts: { type: 'string', default: '3000' },
  lines: { type: 'string', default: '100' },
  'max-history': { type: 'string', default: '10000' },
});
const N = Number(values.contacts);

async function main(stack: Stack) {
  stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 0, talkSeconds: 0 } });
  const name = uid('long');
  await createCampaign(stack.env, name, '--calls-per-second', '1000', '--lines', values.lines!);
  for (let i = 0; i < N; i += 1000) {
    await insertContacts(stack.db, name, Array.from({ length: Math.min(1000, N - i) }, testPhone));
  }
  const t0 = Date.now();
  const started = await runCli(
    ['campaign', 'start', name, '--until-empty', '--max-history', values['max-history']!],
    stack.env,
  );
  if (started.code !== 0) throw new Error(started.stderr);
  const handle = stack.client.workflow.getHandle(campaignWorkflowId(name));
  const progress = setInterval(async () => {
    const [{ n }] = (await stack.db
      .sql`select count(*)::int as n from call_attempts where campaign_name = ${name} and recorded_at is not null`) as unknown as [
      { n: number },
    ];
    console.error(`  ${n}/${N} recorded after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }, 10_000);
  const result = await handle.result();
  clearInterval(progress);
  const seconds = (Date.now() - t0) / 1000;
  let runs = 0;
  for await (const _ of stack.client.workflow.list({ query: `WorkflowId = '${campaignWorkflowId(name)}'` }))
    runs++;
  const [check] = await stack.db.sql<{ at3: number; not_once: number; attempts: number }[]>`
    select count(*) filter (where contact_successful = 3)::int as at3,
           count(*) filter (where number_of_contacts <> 1 or contact_successful <> 1)::int as not_once,
           (select count(*)::int from call_attempts where campaign_name = ${name}) as attempts
    from contacts where campaign_name = ${name}`;
  const calls = ((await (await fetch(`${stack.sim.url}/sim/calls`)).json()) as unknown[]).length;
  const out = {
    contacts: N,
    seconds: Number(seconds.toFixed(1)),
    dialsPerSecond: Number((N / seconds).toFixed(1)),
    campaignRuns: runs,
    attemptsReported: result.stats.attemptsFinished,
    attemptRows: check!.attempts,
    simulatorCalls: calls,
    leftAt3: check!.at3,
    notDialedExactlyOnce: check!.not_once,
  };
  console.log(JSON.stringify(out));
}

runOnStack('bench:campaign', { timeScale: 1 }, main);
