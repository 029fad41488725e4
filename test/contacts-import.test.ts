/**
 * `contacts import` and `contacts export` through the real command line: every row checked first,
 * bad rows named by line, nothing imported while any is bad (unless --skip-invalid), numbers in
 * E.164, a running campaign told to look at once; export writes what the table holds.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { campaignWorkflowId } from '../workflows/shared';
import { type Stack, createCampaign, eventually, runCli, startStack, testPhone, uid } from '../harness/stack';

const national = (e164: string) => `(${e164.slice(2, 5)}) ${e164.slice(5, 8)}-${e164.slice(8)}`;

describe('contacts import and export', { timeout: 180_000 }, () => {
  let stack: Stack;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'import-'));
  const write = (name: string, text: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };
  before(async () => {
    stack = await startStack({ timeScale: 0.02 });
  });
  after(async () => {
    await stack?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const rowsOf = (campaign: string) =>
    stack.db.sql<
      {
        phone_number: string;
        name: string | null;
        time_zone: string | null;
        contact_successful: number;
        redial_time: Date | null;
        data: Record<string, string>;
      }[]
    >`select phone_number, name, time_zone, contact_successful, redial_time, data from contacts
      where campaign_name = ${campaign} order by id`;

  test('a good file: numbers normalised, redials at 2, extra columns kept in data', async () => {
    const name = uid('imp');
    await createCampaign(stack.env, name);
    const [a, b] = [testPhone(), testPhone()];
    const file = write(
      'good.csv',
      `phone_number,name,time_zone,redial_time,customer_id\n` +
        `${a},Ada,Europe/Berlin,,C-1\n` +
        `"${national(b)}",Bob,,2030-01-02T09:00:00Z,C-2\n`,
    );
    const r = await runCli(['contacts', 'import', file, '--campaign', name], stack.env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`2 rows: 2 into ${name}`));
    assert.deepEqual(
      [...(await rowsOf(name))],
      [
        {
          phone_number: a,
          name: 'Ada',
          time_zone: 'Europe/Berlin',
          contact_successful: 0,
          redial_time: null,
          data: { customer_id: 'C-1' },
        },
        {
          phone_number: b,
          name: 'Bob',
          time_zone: null,
          contact_successful: 2,
          redial_time: new Date('2030-01-02T09:00:00Z'),
          data: { customer_id: 'C-2' },
        },
      ],
    );
  });

  test('bad rows are each named by line and nothing is imported; --skip-invalid imports the rest', async () => {
    const name = uid('imp');
    await createCampaign(stack.env, name);
    const existing = testPhone();
    assert.equal(
      (
        await runCli(
          ['contacts', 'import', write('one.csv', `phone_number\n${existing}\n`), '--campaign', name],
          stack.env,
        )
      ).code,
      0,
    );
    const [g1, g2] = [testPhone(), testPhone()];
    const file = write(
      'mixed.csv',
      [
        'campaign_name,phone_number,time_zone,redial_time',
        `${name},${g1},,`, // 2 good
        `${name},12345,,`, // 3 not a number
        `no-such-campaign-x,${testPhone()},,`, // 4 unknown campaign
        `${name},${testPhone()},Mars/Olympus,`, // 5 bad zone
        `${name},${testPhone()},,tomorrow morning`, // 6 bad time
        `${name},${national(g1)},,`, // 7 duplicate of line 2
        `${name},${existing},,`, // 8 already in the campaign
        `,${testPhone()},,`, // 9 no campaign
        `${name},${g2},America/New_York,+1h`, // 10 good
      ].join('\n') + '\n',
    );
    const refused = await runCli(['contacts', 'import', file], stack.env);
    assert.equal(refused.code, 1);
    const expected: [number, RegExp][] = [
      [3, /phone_number "12345" is not a phone number/],
      [4, /unknown campaign "no-such-campaign-x"/],
      [5, /time_zone "Mars\/Olympus" is not an IANA time zone/],
      [6, /redial_time: "tomorrow morning" is not a time/],
      [7, /is already on line 2/],
      [8, /is already in campaign .* \(contact \d+\)/],
      [9, /no campaign_name \(or give --campaign\)/],
    ];
    for (const [line, message] of expected) {
      const reported = refused.stderr.split('\n').find((l) => l.includes(`line ${line}:`));
      assert.ok(reported, `line ${line} is reported: ${refused.stderr}`);
      assert.match(reported, message);
    }
    assert.match(refused.stderr, /7 bad row\(s\) .* nothing imported/);
    assert.equal((await rowsOf(name)).length, 1, 'only the contact that was there before');

    const skipped = await runCli(['contacts', 'import', file, '--skip-invalid', '--json'], stack.env);
    assert.equal(skipped.code, 0, skipped.stderr);
    const result = JSON.parse(skipped.stdout) as {
      rows: number;
      byCampaign: Record<string, number>;
      bad: unknown[];
    };
    assert.deepEqual([result.rows, result.byCampaign[name], result.bad.length], [9, 2, 7]);
    assert.deepEqual(
      (await rowsOf(name)).map((r) => r.phone_number),
      [existing, g1, g2],
    );
  });

  test('a file that cannot be read as contacts is refused with the reason', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['contacts', 'import', write('h.csv', 'number,name\n+15005550100,x\n'), '--campaign', 'x'],
        /Unknown campaign "x"/,
      ],
      [
        ['contacts', 'import', write('h2.csv', 'number,name\n+15005550100,x\n')],
        /the header has no column phone_number/,
      ],
      [
        ['contacts', 'import', write('q.csv', 'phone_number,name\n"+15005550100,x\n')],
        /line 2: a quote opened here is never closed/,
      ],
      [['contacts', 'import', path.join(dir, 'absent.csv')], /no such file/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args, stack.env);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
      assert.match(r.stderr, message);
    }
  });

  test('contacts imported into a running campaign are dialed without waiting for its refill', async () => {
    const name = uid('imp');
    await createCampaign(stack.env, name);
    const start = await runCli(['campaign', 'start', name, '--refill-interval', '10m'], stack.env);
    assert.equal(start.code, 0, start.stderr);
    const phone = testPhone();
    const r = await runCli(
      ['contacts', 'import', write('live.csv', `phone_number\n${phone}\n`), '--campaign', name],
      stack.env,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /told to look now/);
    await eventually(async () => stack.sim.calls({ to: phone }).length === 1, 30_000, 'the call');
    const stop = await runCli(['campaign', 'stop', name, '--wait'], stack.env);
    assert.equal(stop.code, 0, stop.stderr);
    await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();
  });

  test('export writes the table as CSV, filtered by campaign and state', async () => {
    const name = uid('exp');
    await createCampaign(stack.env, name);
    const [a, b] = [testPhone(), testPhone()];
    const file = write(
      'exp.csv',
      `phone_number,name,redial_time,note\n${a},"Doe, Jane",,"said ""later"""\n${b},,2030-01-01T00:00:00Z,\n`,
    );
    assert.equal((await runCli(['contacts', 'import', file, '--campaign', name], stack.env)).code, 0);
    const all = await runCli(['contacts', 'export', '--campaign', name], stack.env);
    assert.equal(all.code, 0, all.stderr);
    const records = parse(all.stdout, { columns: true }) as Record<string, string>[];
    assert.deepEqual(
      records.map((r) => [r.phone_number, r.name, r.contact_successful, r.redial_time, r.data]),
      [
        [a, 'Doe, Jane', '0', '', JSON.stringify({ note: 'said "later"' })],
        [b, '', '2', '2030-01-01T00:00:00.000Z', '{}'],
      ],
    );
    const out = path.join(dir, 'redials.csv');
    const redials = await runCli(
      ['contacts', 'export', '--campaign', name, '--state', '2', '--out', out],
      stack.env,
    );
    assert.equal(redials.code, 0, redials.stderr);
    assert.match(redials.stderr, /1 contact\(s\) exported/);
    const onlyB = parse(fs.readFileSync(out, 'utf8'), { columns: true }) as Record<string, string>[];
    assert.deepEqual(
      onlyB.map((r) => r.phone_number),
      [b],
    );
  });
});
