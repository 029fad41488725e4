/**
 * The do-not-call list through the real command line: add, remove, list, import (all or nothing,
 * bad rows named by line), and a number listed while its contact waits for a redial is never
 * dialed (telephony.md §1.1).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LastState as S } from '../domain/contract';
import { campaignWorkflowId, contactStatusQuery, contactWorkflowId } from '../workflows/shared';
import {
  type Stack,
  createCampaign,
  eventually,
  insertContacts,
  runCli,
  startStack,
  testPhone,
  uid,
} from '../harness/stack';

describe('dnc commands', { timeout: 180_000 }, () => {
  let stack: Stack;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dnc-'));
  before(async () => {
    stack = await startStack({ timeScale: 0.02 });
  });
  after(async () => {
    await stack?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const listed = async (phone: string) =>
    (
      await stack.db.sql<
        { reason: string | null }[]
      >`select reason from banned_numbers where phone_number = ${phone}`
    )[0];
  const national = (e164: string) => `(${e164.slice(2, 5)}) ${e164.slice(5, 8)}-${e164.slice(8)}`;

  test('add normalises to E.164, list shows it, remove takes it off', async () => {
    const a = testPhone();
    const b = testPhone();
    const add = await runCli(['dnc', 'add', a, national(b), '--reason', 'asked on the phone'], stack.env);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /2 added, 0 already on the list/);
    assert.deepEqual(
      await listed(b),
      { reason: 'asked on the phone' },
      'the national form was stored as E.164',
    );
    const again = await runCli(['dnc', 'add', a], stack.env);
    assert.match(again.stdout, /0 added, 1 already on the list/);

    const list = await runCli(['dnc', 'list', '--json'], stack.env);
    assert.equal(list.code, 0, list.stderr);
    const numbers = (JSON.parse(list.stdout) as { phoneNumber: string }[]).map((r) => r.phoneNumber);
    assert.ok(numbers.includes(a) && numbers.includes(b));

    const remove = await runCli(['dnc', 'remove', a, testPhone()], stack.env);
    assert.equal(remove.code, 0, remove.stderr);
    assert.match(remove.stdout, /1 removed/);
    assert.match(remove.stderr, /was not on the list/);
    assert.equal(await listed(a), undefined);
  });

  test('a bad number is refused by name and nothing is added', async () => {
    const good = testPhone();
    const r = await runCli(['dnc', 'add', good, 'call me maybe'], stack.env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not a phone number: "call me maybe"; nothing changed/);
    assert.equal(await listed(good), undefined);
  });

  test('import: every bad row named by its line, nothing imported; --skip-invalid imports the rest', async () => {
    const [p1, p2, p3] = [testPhone(), testPhone(), testPhone()];
    const file = path.join(dir, 'dnc.csv');
    fs.writeFileSync(
      file,
      `phone_number,reason\n${p1},complaint\n12,\n\n${national(p2)},\nnonsense,x\n${p3},\n`,
    );
    const refused = await runCli(['dnc', 'import', file], stack.env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /line 3: phone_number "12" is not a phone number/);
    assert.match(refused.stderr, /line 6: phone_number "nonsense" is not a phone number/);
    assert.match(refused.stderr, /2 bad row\(s\) .* nothing imported/);
    for (const p of [p1, p2, p3]) assert.equal(await listed(p), undefined, `${p} not imported`);

    const skipped = await runCli(
      ['dnc', 'import', file, '--skip-invalid', '--reason', 'list from legal', '--json'],
      stack.env,
    );
    assert.equal(skipped.code, 0, skipped.stderr);
    const result = JSON.parse(skipped.stdout) as { rows: number; added: number; bad: unknown[] };
    assert.deepEqual([result.rows, result.added, result.bad.length], [5, 3, 2]);
    assert.deepEqual(await listed(p1), { reason: 'complaint' });
    assert.deepEqual(await listed(p2), { reason: 'list from legal' });

    const wrongHeader = path.join(dir, 'wrong.csv');
    fs.writeFileSync(wrongHeader, `number,reason\n${testPhone()},x\n`);
    const header = await runCli(['dnc', 'import', wrongHeader], stack.env);
    assert.equal(header.code, 1);
    assert.match(header.stderr, /the header has no column phone_number/);
    const missing = await runCli(['dnc', 'import', path.join(dir, 'nope.csv')], stack.env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no such file/);
  });

  test('a number listed while its contact waits for a redial ends Banned and is never dialed', async () => {
    const name = uid('dnc');
    const phone = testPhone();
    await createCampaign(stack.env, name);
    const [id] = await insertContacts(stack.db, name, [phone], {
      contact_successful: 2,
      number_of_contacts: 1,
      redial_time: new Date(Date.now() + 6_000),
    });
    assert.equal((await runCli(['campaign', 'start', name, '--until-empty'], stack.env)).code, 0);
    const child = stack.client.workflow.getHandle(contactWorkflowId(name, id!));
    await eventually(async () => (await child.query(contactStatusQuery)).phase === 'waiting', 20_000);
    assert.equal((await runCli(['dnc', 'add', phone], stack.env)).code, 0);
    await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();
    const [c] = await stack.db.sql<
      { last_state: number; contact_successful: number; number_of_contacts: number }[]
    >`
      select last_state, contact_successful, number_of_contacts from contacts where id = ${id!}`;
    assert.deepEqual([c!.last_state, c!.contact_successful, c!.number_of_contacts], [S.Banned, -1, 1]);
    assert.equal(stack.sim.calls({ to: phone }).length, 0, 'no call reached the simulator');
    assert.equal(stack.sim.rejections().filter((r) => r.to === phone).length, 0, 'not even a create');
  });
});
