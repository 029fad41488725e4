/**
 * `campaign update|show|list` and `campaign status --watch` through the real command line.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { campaignWorkflowId } from '../workflows/shared';
import {
  type Stack,
  createCampaign,
  eventually,
  insertContacts,
  repoRoot,
  runCli,
  startStack,
  testPhone,
  uid,
} from '../harness/stack';

describe('campaign update, show, list, status --watch', { timeout: 180_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ timeScale: 0.02 });
  });
  after(async () => stack?.stop());
  const show = async (name: string) => {
    const r = await runCli(['campaign', 'show', name, '--json'], stack.env);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as {
      lines: number;
      callsPerSecond: number;
      retryRules: { delaySeconds: Record<string, number>; defaultDelaySeconds: number; final: string[] };
    };
  };

  test('update changes only what it names; bad input changes nothing', async () => {
    const name = uid('upd');
    await createCampaign(stack.env, name, '--lines', '5', '--retry', 'Busy=5m');
    const r = await runCli(
      ['campaign', 'update', name, '--lines', '7', '--retry', 'NoAnswer=10m', '--final', 'Fax'],
      stack.env,
    );
    assert.notEqual(r.code, 0, 'NoAnswer is not a LastState');
    assert.match(r.stderr, /"NoAnswer" is not a LastState/);
    const ok = await runCli(
      ['campaign', 'update', name, '--lines', '7', '--retry', 'AlertingTimeout=10m', '--final', 'Fax'],
      stack.env,
    );
    assert.equal(ok.code, 0, ok.stderr);
    const s = await show(name);
    assert.equal(s.lines, 7);
    assert.equal(s.retryRules.delaySeconds.Busy, 300, 'the other rules stay');
    assert.equal(s.retryRules.delaySeconds.AlertingTimeout, 600);
    assert.deepEqual([...s.retryRules.final].sort(), ['Banned', 'Fax', 'WrongNumber']);

    for (const [args, message] of [
      [['campaign', 'update', name, '--lines', '0'], /--lines/],
      [['campaign', 'update', name], /Nothing to change/],
      [['campaign', 'update', uid('nope'), '--lines', '3'], /Unknown campaign/],
      [['campaign', 'update', name, '--amd', 'message'], /--machine-message/],
    ] as [string[], RegExp][]) {
      const bad = await runCli(args, stack.env);
      assert.notEqual(bad.code, 0, args.join(' '));
      assert.match(bad.stderr, message);
    }
    assert.equal((await show(name)).lines, 7, 'unchanged by the refused updates');
  });

  test('a running campaign uses updated retry rules for its next attempts', async () => {
    const name = uid('upd');
    await createCampaign(stack.env, name, '--retry', 'Busy=1h');
    const start = await runCli(['campaign', 'start', name, '--refill-interval', '10m'], stack.env);
    assert.equal(start.code, 0, start.stderr);
    const upd = await runCli(['campaign', 'update', name, '--retry', 'Busy=2m'], stack.env);
    assert.equal(upd.code, 0, upd.stderr);
    assert.match(upd.stdout, /the running campaign uses it/);
    const phone = testPhone();
    stack.sim.setScenario({
      default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 },
      numbers: { [phone]: 'busy' },
    });
    const [id] = await insertContacts(stack.db, name, [phone]);
    assert.equal((await runCli(['campaign', 'refill', name], stack.env)).code, 0);
    const row = await eventually(async () => {
      const [c] = await stack.db.sql<
        { redial_time: Date | null; updated_at: Date; last_state: number | null }[]
      >`
        select redial_time, updated_at, last_state from contacts where id = ${id!}`;
      return c?.redial_time ? c : undefined;
    }, 30_000);
    const delayMs = row.redial_time!.getTime() - row.updated_at.getTime();
    assert.ok(
      delayMs > 60_000 && delayMs < 125_000,
      `Busy redial after 2 min (the new rule), not 1 h: ${delayMs} ms`,
    );
    assert.equal((await runCli(['campaign', 'stop', name, '--wait'], stack.env)).code, 0);
  });

  test('list shows every campaign with its contacts', async () => {
    const name = uid('lst');
    await createCampaign(stack.env, name);
    await insertContacts(stack.db, name, [testPhone(), testPhone()]);
    const r = await runCli(['campaign', 'list', '--json'], stack.env);
    assert.equal(r.code, 0, r.stderr);
    const mine = (JSON.parse(r.stdout) as { name: string; contacts: number; status: string }[]).find(
      (c) => c.name === name,
    );
    assert.deepEqual(mine && [mine.contacts, mine.status], [2, 'idle']);
  });

  test('status --watch follows the campaign until it ends', async () => {
    // The campaign starts empty and keeps running, so the first frame is drawn before any call
    // however slow the machine; the contacts come after it, and the watch ends with the campaign.
    const name = uid('watch');
    await createCampaign(stack.env, name, '--lines', '1');
    stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 } });
    assert.equal((await runCli(['campaign', 'start', name], stack.env)).code, 0);
    const watch = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(repoRoot, 'client/main.ts'),
        'campaign',
        'status',
        name,
        '--watch',
        '--json',
        '--interval',
        '300ms',
      ],
      { env: stack.env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    watch.stdout.on('data', (d) => (out += d));
    watch.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => watch.on('exit', (c) => r(c)));
    type Frame = { status: string; attempts: number; byContactSuccessful: Record<string, number> };
    const frames = () =>
      out
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as Frame);
    await eventually(async () => frames().length >= 1, 60_000, 'the first frame');
    await insertContacts(stack.db, name, [testPhone(), testPhone(), testPhone()]);
    assert.equal((await runCli(['campaign', 'refill', name], stack.env)).code, 0);
    await eventually(
      async () => frames().at(-1)?.byContactSuccessful.Successful === 3,
      120_000,
      'the watch to show the three reached',
    );
    assert.equal((await runCli(['campaign', 'stop', name], stack.env)).code, 0);
    assert.equal(await exited, 0, err);
    const all = frames();
    assert.equal(all[0]!.attempts, 0, 'the first frame was drawn before any call');
    assert.ok(all.length >= 2, `it redrew as calls came (${all.length} frames)`);
    assert.equal(all.at(-1)!.status, 'stopped', 'the watch ends with the campaign');
    assert.equal(all.at(-1)!.byContactSuccessful.Successful, 3);
    await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();
  });
});
