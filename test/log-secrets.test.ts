/**
 * Logs never carry secrets or full phone numbers: a worker and a server run a campaign
 * with debug logging, the CRM API is called with its token, and every line they wrote is searched
 * for the Twilio auth token, the API token and each dialed number in full.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawnDialer } from '../harness/processes';
import { test } from 'node:test';
import { SIMULATOR_AUTH_TOKEN } from '../infra/config';
import { campaignWorkflowId } from '../workflows/shared';
import {
  API_TOKEN,
  createCampaign,
  eventually,
  freePort,
  insertContacts,
  runCli,
  startStack,
  testPhone,
  uid,
} from '../harness/stack';

test(
  'debug logs of a whole campaign hold no auth token, no API token and no full phone number',
  { timeout: 180_000 },
  async () => {
    const stack = await startStack({ timeScale: 0.05 }, { worker: false });
    const port = await freePort();
    const env = {
      ...stack.env,
      LOG_LEVEL: 'debug',
      SERVER_PORT: String(port),
      PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
      DIALER_API_TOKEN: API_TOKEN,
    };
    let phones: string[] = [];
    const name = uid('logs');
    const procs: { proc: ChildProcess; out: string[]; exited: Promise<unknown> }[] = [];
    const start = (args: string[]) => {
      const proc = spawnDialer(args, env);
      const out: string[] = [];
      proc.stdout!.on('data', (d) => out.push(String(d)));
      proc.stderr!.on('data', (d) => out.push(String(d)));
      procs.push({ proc, out, exited: new Promise((r) => proc.on('exit', r)) });
    };
    try {
      start(['server']);
      start(['worker']);
      await eventually(async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok, 60_000, 'the server');
      await createCampaign(env, name, '--max-attempts', '2', '--retry', 'default=1s', '--retry', 'Busy=1s');
      phones = [testPhone(), testPhone(), testPhone(), testPhone()];
      stack.sim.setScenario({
        default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 },
        numbers: { [phones[1]!]: ['busy', 'human'], [phones[2]!]: 'unreachable', [phones[3]!]: 'invalid' },
      });
      const ids = await insertContacts(stack.db, name, phones);
      assert.equal((await runCli(['campaign', 'start', name, '--until-empty'], env)).code, 0);
      const redial = await fetch(`http://127.0.0.1:${port}/api/contacts/${ids[0]}/redial`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ at: 'now' }),
      });
      assert.ok(redial.status < 500, `the CRM call was answered (${redial.status})`);
      await eventually(
        async () => {
          const [r] = await stack.db.sql<{ n: number }[]>`
          select count(*)::int as n from contacts where campaign_name = ${name} and contact_successful in (0, 2, 3)`;
          return r!.n === 0;
        },
        120_000,
        `the campaign to dial everyone:\n${procs
          .map((p) =>
            p.out
              .join('')
              .split('\n')
              .filter((l) => !l.includes('"level":20'))
              .slice(-15)
              .join('\n'),
          )
          .join('\n')}`,
      );
      await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();
      const [row] = await stack.db.sql<{ n: number }[]>`
      select count(*)::int as n from call_attempts where campaign_name = ${name} and placed`;
      assert.ok(row!.n >= 3, `calls were placed (${row!.n})`);
    } finally {
      for (const p of procs) p.proc.kill('SIGTERM');
      await Promise.all(procs.map((p) => p.exited));
      await stack.stop();
    }
    const lines = procs.flatMap((p) => p.out.join('').split('\n')).filter((l) => l.trim());
    assert.ok(
      lines.some((l) => l.includes('"level":20')),
      `debug lines were written (${lines.length} lines)`,
    );
    const leaks = (needle: string) => lines.filter((l) => l.includes(needle));
    assert.deepEqual(leaks(SIMULATOR_AUTH_TOKEN), [], 'the Twilio auth token');
    assert.deepEqual(leaks(API_TOKEN), [], 'the API token');
    assert.ok(
      lines.filter((l) => l.includes(name)).length >= 10,
      'the logs speak of this campaign’s calls (so the search looks where a leak would be)',
    );
    for (const phone of phones) {
      // the number in any spelling: +1500…, 1500… or %2B1500… all contain its last ten digits
      assert.deepEqual(leaks(phone.slice(-10)).slice(0, 3), [], `the number ${phone} in full`);
    }
  },
);
