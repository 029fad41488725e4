/**
 * `dialer replay`, spawned as a process: a history from the server or from a file, replayed against
 * the current workflow code; nondeterminism and bad input reported with exit code 1.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { campaignWorkflowId, contactWorkflowId } from '../workflows/shared';
import {
  type Stack,
  createCampaign,
  insertContacts,
  repoRoot,
  runCli,
  startStack,
  testPhone,
  uid,
} from '../harness/stack';

describe('dialer replay', { timeout: 180_000 }, () => {
  let stack: Stack;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'replay-'));
  const committed = path.join(repoRoot, 'test', 'histories', 'contact-rescheduled-redial.json');
  before(async () => {
    stack = await startStack({ timeScale: 0.02 });
  });
  after(async () => {
    await stack?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a committed history replays deterministically', async () => {
    const r = await runCli(['replay', '--file', committed], stack.env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /44 events replayed against the current workflow code, deterministic/);
  });

  test('a workflow fetched from the server replays, and --save writes its history', async () => {
    const name = uid('replay');
    await createCampaign(stack.env, name);
    const [id] = await insertContacts(stack.db, name, [testPhone()]);
    assert.equal((await runCli(['campaign', 'start', name, '--until-empty'], stack.env)).code, 0);
    await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();
    const saved = path.join(dir, 'contact.json');
    const r = await runCli(['replay', contactWorkflowId(name, id!), '--save', saved], stack.env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /deterministic/);
    const again = await runCli(['replay', '--file', saved], stack.env);
    assert.equal(again.code, 0, again.stderr);
  });

  test('a history the current code would not reproduce is reported as nondeterministic', async () => {
    const history = JSON.parse(fs.readFileSync(committed, 'utf8')) as {
      events: { activityTaskScheduledEventAttributes?: { activityType?: { name?: string } } }[];
    };
    const scheduled = history.events.find(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'placeCall',
    );
    scheduled!.activityTaskScheduledEventAttributes!.activityType!.name = 'dialSomebody';
    const tampered = path.join(dir, 'tampered.json');
    fs.writeFileSync(tampered, JSON.stringify(history));
    const r = await runCli(['replay', '--file', tampered], stack.env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /NOT deterministic against the current workflow code/);
    assert.match(r.stderr, /dialSomebody/);
    assert.match(r.stderr, /patched\(\)/);
  });

  test('bad input: a file that is not a history, an unknown workflow, neither', async () => {
    const notJson = path.join(dir, 'notes.txt');
    fs.writeFileSync(notJson, 'hello');
    const cases: [string[], RegExp][] = [
      [['replay', '--file', notJson], /is not a Temporal history in JSON/],
      [['replay', '--file', path.join(dir, 'missing.json')], /Cannot read/],
      [['replay', `contact/${uid('nobody')}/1`], /No workflow contact\//],
      [['replay'], /Give either a workflow id or --file/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args, stack.env);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });
});
