/**
 * Pacing: one scenario, dialed in turn by progressive, power and predictive
 * campaigns with the same agents' worth of people. Every contact's answer and talk time is drawn
 * once from a seeded generator, so each mode meets the same people. Prints, per mode: how long it
 * took, calls and live answers, abandons and their rate (the ledger's definition), and agent
 * occupancy (bridged talk time over the agents' time); progressive is the baseline.
 *
 *   npm run pacing -- [--agents 20] [--contacts 2000] [--time-scale 0.02] [--calls-per-agent 2]
 *                     [--modes progressive,power,predictive] [--seed 7]
 *
 * Simulated seconds run `time-scale` times faster than real ones; the table is in simulated time.
 */
import { abandonLedger } from '../ops/abandon-ledger';
import { campaignWorkflowId } from '../workflows/shared';
import {
  createCampaign,
  insertContacts,
  runCli,
  seededRandom,
  testPhone,
  uid,
  type Stack,
} from '../harness/stack';
import { benchArgs, runOnStack } from './on-stack';

const values = benchArgs('pacing', {
  agents: { type: 'string', default: '20' },
  contacts: { type: 'string', default: '2000' },
  'time-scale': { type: 'string', default: '0.02' },
  'calls-per-agent': { type: 'string', default: '2' },
  modes: { type: 'string', default: 'progressive,power,predictive' },
  seed: { type: 'string', default: '7' },
});
const AGENTS = Number(values.agents);
const N = Number(values.contacts);
const SCALE = Number(values['time-scale']);
const MODES = values.modes!.split(',');

type Person = { outcome: string; ringSeconds: number; talkSeconds: number };

/** About 35 % answer in person, 15 % machines, 10 % busy, 40 % never answer; talk 30 s to 5 min. */
function people(n: number, seed: number): Person[] {
  const r = seededRandom(seed);
  return Array.from({ length: n }, () => {
    const x = r();
    const outcome = x < 0.35 ? 'human' : x < 0.5 ? 'machine' : x < 0.6 ? 'busy' : 'no-answer';
    return { outcome, ringSeconds: Math.round(3 + r() * 22), talkSeconds: Math.round(30 + r() * 270) };
  });
}

interface Row {
  mode: string;
  simMinutes: number;
  calls: number;
  liveAnswers: number;
  abandons: number;
  abandonRate: string;
  occupancy: string;
  conversationsPerAgentHour: number;
}

/** Sets up one mode's campaign over the crowd, with its agents and contacts, ready to start. */
async function prepareMode(
  stack: Stack,
  mode: string,
  crowd: Person[],
): Promise<{ name: string; phones: string[] }> {
  const name = uid(`pacing-${mode}`);
  const phones = crowd.map(() => testPhone());
  stack.sim.setScenario({
    default: { outcome: 'human', ringSeconds: 5, talkSeconds: 60 },
    numbers: Object.fromEntries(phones.map((p, i) => [p, crowd[i]!])),
  });
  await createCampaign(
    stack.env,
    name,
    ...['--mode', mode, '--calls-per-agent', values['calls-per-agent']!, '--lines', String(AGENTS * 5)],
    ...['--calls-per-second', '50', '--max-attempts', '1', '--ring-timeout', '25'],
    ...['--amd', 'hangup', '--wrap-up', '0'],
  );
  for (let i = 0; i < AGENTS; i++) {
    const a = await runCli(['agents', 'add', `client:${name}-agent-${i}`, '--campaign', name], stack.env);
    if (a.code !== 0) throw new Error(a.stderr);
  }
  for (let i = 0; i < N; i += 1000) await insertContacts(stack.db, name, phones.slice(i, i + 1000));
  return { name, phones };
}

/** Runs one mode's campaign to its end and measures it. */
async function runMode(stack: Stack, mode: string, crowd: Person[]): Promise<Row> {
  const { name, phones } = await prepareMode(stack, mode, crowd);
  const t0 = Date.now();
  const started = await runCli(
    ['campaign', 'start', name, '--until-empty', '--refill-interval', '2s'],
    stack.env,
  );
  if (started.code !== 0) throw new Error(started.stderr);
  const progress = setInterval(async () => {
    const [r] = await stack.db.sql<{ n: number }[]>`
      select count(*)::int as n from call_attempts where campaign_name = ${name} and recorded_at is not null`;
    console.error(`  ${mode}: ${r!.n}/${N} contacts done after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }, 10_000);
  await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();
  clearInterval(progress);
  const simSeconds = (Date.now() - t0) / 1000 / SCALE;
  const calls = phones.flatMap((p) => stack.sim.calls({ to: p }));
  const talk = calls.flatMap((c) => c.legs).reduce((sum, l) => sum + (l.durationSeconds ?? 0), 0);
  const conversations = calls.filter((c) => c.legs.some((l) => (l.durationSeconds ?? 0) > 0)).length;
  const ledger = await abandonLedger(stack.db.sql, name);
  const row: Row = {
    mode: mode === 'power' ? `power ×${values['calls-per-agent']}` : mode,
    simMinutes: Math.round(simSeconds / 60),
    calls: calls.length,
    liveAnswers: ledger.last24Hours.liveAnswers,
    abandons: ledger.last24Hours.abandons,
    abandonRate: `${((ledger.last24Hours.rate ?? 0) * 100).toFixed(1)} %`,
    occupancy: `${((talk / (AGENTS * simSeconds)) * 100).toFixed(0)} %`,
    conversationsPerAgentHour: Number((conversations / AGENTS / (simSeconds / 3600)).toFixed(1)),
  };
  console.error(`  ${mode}: done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return row;
}

async function main(stack: Stack) {
  const crowd = people(N, Number(values.seed));
  const rows: Row[] = [];
  for (const mode of MODES) rows.push(await runMode(stack, mode, crowd));
  console.log(`pacing: ${AGENTS} agents, ${N} contacts, time scale ${SCALE} (simulated time below)`);
  console.table(rows);
  console.log(JSON.stringify(rows));
}

runOnStack('pacing', { timeScale: SCALE }, main);
