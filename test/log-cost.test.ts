/**
 * Logs at `info` cost nothing per attempt (issue 23): a worker and a server run a campaign at
 * LOG_LEVEL=info, and what they write while it dials does not grow with its attempts. At `debug`
 * the same campaign's attempts are there, so the test looks where per-attempt lines would be.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { test } from 'node:test';
import { spawnDialer } from '../harness/processes';
import { campaignWorkflowId } from '../workflows/shared';
import {
  createCampaign,
  eventually,
  freePort,
  insertContacts,
  runCli,
  startStack,
  testPhone,
  uid,
} from '../harness/stack';

const CONTACTS = 16;
/** What a campaign may write at info whatever its size: its dialing queue's worker starting. */
const PER_CAMPAIGN_LINES = 8;

/** Runs a campaign of CONTACTS answered calls on a worker and a server at `level`; their lines while it ran. */
async function linesWhileDialing(level: 'info' | 'debug'): Promise<string[]> {
  const stack = await startStack({ timeScale: 0.05 }, { worker: false });
  const port = await freePort();
  const env = {
    ...stack.env,
    LOG_LEVEL: level,
    SERVER_PORT: String(port),
    PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
  };
  const name = uid(`logcost-${level}`);
  const procs: { proc: ChildProcess; out: string[]; exited: Promise<unknown> }[] = [];
  const start = (args: string[]) => {
    const proc = spawnDialer(args, env);
    const out: string[] = [];
    proc.stdout!.on('data', (d) => out.push(String(d)));
    proc.stderr!.on('data', (d) => out.push(String(d)));
    procs.push({ proc, out, exited: new Promise((r) => proc.on('exit', r)) });
  };
  let before = 0;
  let after = 0;
  const written = () => procs.flatMap((p) => p.out.join('').split('\n')).filter((l) => l.trim());
  try {
    start(['server']);
    start(['worker']);
    await eventually(async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok, 60_000, 'the server');
    // the worker's start-up lines are not the campaign's
    await eventually(
      async () => written().some((l) => l.includes('"state":"RUNNING"')),
      60_000,
      'the worker',
    );
    await createCampaign(env, name);
    stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 } });
    await insertContacts(
      stack.db,
      name,
      Array.from({ length: CONTACTS }, () => testPhone()),
    );
    before = written().length;
    assert.equal((await runCli(['campaign', 'start', name, '--until-empty'], env)).code, 0);
    await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();
    const [row] = await stack.db.sql<{ n: number }[]>`
      select count(*)::int as n from call_attempts where campaign_name = ${name} and recorded_at is not null`;
    assert.equal(row!.n, CONTACTS, 'every contact was dialed and recorded');
    after = written().length;
  } finally {
    for (const p of procs) p.proc.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.exited));
    await stack.stop();
  }
  return written().slice(before, after);
}

test('at info, a campaign’s attempts write no log line; at debug they do', { timeout: 240_000 }, async () => {
  const info = await linesWhileDialing('info');
  // a few lines a campaign may write (its dialing queue served), none per attempt
  assert.ok(
    info.length <= PER_CAMPAIGN_LINES,
    `${info.length} lines at info for ${CONTACTS} attempts:\n${info.join('\n')}`,
  );
  const perAttempt = /CA[0-9a-f]{32}|\/twilio\//;
  assert.deepEqual(
    info.filter((l) => perAttempt.test(l)),
    [],
    'no line names a call or a webhook',
  );
  const debug = await linesWhileDialing('debug');
  assert.ok(
    debug.filter((l) => perAttempt.test(l)).length >= CONTACTS,
    `at debug the attempts are logged (${debug.length} lines)`,
  );
});
