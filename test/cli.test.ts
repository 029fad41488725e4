/**
 * The operator's command line, run as a separate process: what it accepts, and how it refuses
 * bad input (a clear message naming what is wrong, exit code 1, nothing changed).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Database } from '../db/client';
import { cfg, runCli, testDatabase, uid } from '../harness/stack';

describe('dialer command line', () => {
  let db: Database;
  const env = {
    ...process.env,
    DATABASE_URL: cfg.testDatabaseUrl,
    TEMPORAL_TASK_QUEUE: uid('tq'),
    LOG_LEVEL: 'warn',
  };
  const campaignCount = async (name: string) =>
    (await db.sql`select 1 from campaigns where name = ${name}`).length;

  before(() => {
    db = testDatabase();
  });
  after(async () => db.close());

  test('campaign create stores every setting it is given', async () => {
    const name = uid('cli');
    const r = await runCli(
      [
        'campaign',
        'create',
        name,
        '--caller-id',
        '+15005550006',
        '--max-attempts',
        '5',
        '--lines',
        '7',
        '--calls-per-second',
        '2.5',
        '--ring-timeout',
        '25',
        '--retry',
        'Busy=90s',
        '--retry',
        'default=1h',
        '--final',
        'Fax,Incompatible',
        '--message',
        'Hi there',
        '--json',
      ],
      env,
    );
    assert.equal(r.code, 0, r.stderr);
    const [row] = await db.sql`select * from campaigns where name = ${name}`;
    assert.equal(row!.max_attempts, 5);
    assert.equal(row!.lines, 7);
    assert.equal(row!.calls_per_second, 2.5);
    assert.equal(row!.ring_timeout_seconds, 25);
    assert.equal(row!.caller_id, '+15005550006');
    assert.equal(row!.message, 'Hi there');
    assert.equal(row!.status, 'idle');
    assert.equal(row!.retry_rules.defaultDelaySeconds, 3600);
    assert.equal(row!.retry_rules.delaySeconds.Busy, 90);
    assert.equal(row!.retry_rules.delaySeconds.AlertingTimeout, 1800, 'defaults kept for states not given');
    assert.deepEqual([...row!.retry_rules.final].sort(), ['Banned', 'Fax', 'Incompatible', 'WrongNumber']);
    assert.equal(JSON.parse(r.stdout).name, name);
  });

  test('campaign create and update store the calling window, caps and dialing mode', async () => {
    const name = uid('cli-rules');
    const created = await runCli(
      [
        'campaign',
        'create',
        name,
        '--caller-id',
        '+15005550006',
        '--window',
        'mon-fri 09:00-20:00; holidays US',
        '--time-zone',
        'America/Chicago',
        '--max-per-day',
        '2',
        '--min-gap',
        '4h',
        '--abandon-cooloff',
        '--mode',
        'power',
        '--calls-per-agent',
        '2.5',
      ],
      env,
    );
    assert.equal(created.code, 0, created.stderr);
    const row = async () => (await db.sql`select * from campaigns where name = ${name}`)[0]!;
    let r = await row();
    assert.deepEqual(
      [
        r.calling_window,
        r.time_zone,
        r.max_attempts_per_day,
        r.max_attempts_per_24h,
        r.min_attempt_gap_seconds,
      ],
      ['mon-fri 09:00-20:00; holidays US', 'America/Chicago', 2, null, 14_400],
    );
    assert.deepEqual(
      [r.abandon_cooloff, r.dialing_mode, r.calls_per_agent, r.abandon_target],
      [true, 'power', 2.5, 0.03],
    );
    const updated = await runCli(
      [
        'campaign',
        'update',
        name,
        '--max-per-day',
        'none',
        '--no-abandon-cooloff',
        '--mode',
        'predictive',
        '--abandon-target',
        '2%',
      ],
      env,
    );
    assert.equal(updated.code, 0, updated.stderr);
    r = await row();
    assert.deepEqual(
      [r.max_attempts_per_day, r.abandon_cooloff, r.dialing_mode, r.abandon_target],
      [null, false, 'predictive', 0.02],
    );
    assert.equal(r.calling_window, 'mon-fri 09:00-20:00; holidays US', 'what was not given stays');
    const shown = await runCli(['campaign', 'show', name], env);
    assert.match(
      shown.stdout,
      /calling window \(callee's time\): mon-fri 09:00-20:00; holidays US; zone when unknown: America\/Chicago/,
    );
    assert.match(shown.stdout, /attempt caps per contact: 14400 s apart\n/);
    assert.match(shown.stdout, /dialing mode: predictive; abandon target 2\.0 %/);
  });

  const refusals: [string, (name: string) => string[], RegExp][] = [
    ['a caller id that is not E.164', (n) => ['campaign', 'create', n, '--caller-id', '0301234'], /E\.164/],
    ['a missing caller id', (n) => ['campaign', 'create', n], /--caller-id/],
    [
      'an unknown LastState in --retry',
      (n) => ['campaign', 'create', n, '--caller-id', '+15005550006', '--retry', 'Bogus=5m'],
      /not a LastState.*Busy/s,
    ],
    [
      'a delay that is not a duration',
      (n) => ['campaign', 'create', n, '--caller-id', '+15005550006', '--retry', 'Busy=soon'],
      /not a duration/,
    ],
    [
      'a ring timeout below Twilio’s 15 s',
      (n) => ['campaign', 'create', n, '--caller-id', '+15005550006', '--ring-timeout', '5'],
      /out of range/,
    ],
    [
      'zero lines',
      (n) => ['campaign', 'create', n, '--caller-id', '+15005550006', '--lines', '0'],
      /out of range/,
    ],
    [
      'a calling window with a bad time, naming the entry',
      (n) => [
        'campaign',
        'create',
        n,
        '--caller-id',
        '+15005550006',
        '--window',
        'mon-fri 09:00-20:00; sat 10:00-2x:00',
      ],
      /calling window entry 2 \('sat 10:00-2x:00'\): 10:00-2x:00 is not HH:MM-HH:MM/,
    ],
    [
      'a calling window with an unknown day',
      (n) => ['campaign', 'create', n, '--caller-id', '+15005550006', '--window', 'weekdays 09:00-20:00'],
      /weekdays is not daily, a weekday/,
    ],
    [
      'holidays of a country date-holidays does not know',
      (n) => [
        'campaign',
        'create',
        n,
        '--caller-id',
        '+15005550006',
        '--window',
        'daily 08:00-21:00; holidays XX',
      ],
      /XX is not a country/,
    ],
    [
      'a time zone that is not one',
      (n) => ['campaign', 'create', n, '--caller-id', '+15005550006', '--time-zone', 'Mars/Base'],
      /"Mars\/Base" is not an IANA time zone/,
    ],
    [
      'a cap of zero attempts a day',
      (n) => ['campaign', 'create', n, '--caller-id', '+15005550006', '--max-per-day', '0'],
      /out of range/,
    ],
    [
      'an unknown dialing mode',
      (n) => ['campaign', 'create', n, '--caller-id', '+15005550006', '--mode', 'turbo'],
      /Allowed choices are agentless, preview, progressive, power, predictive/,
    ],
    [
      'an abandon target of 0 %',
      (n) => ['campaign', 'create', n, '--caller-id', '+15005550006', '--abandon-target', '0'],
      /not a percentage above 0/,
    ],
    [
      'a campaign name with a slash',
      () => ['campaign', 'create', 'a/b', '--caller-id', '+15005550006'],
      /not a valid campaign name/,
    ],
  ];
  for (const [what, args, message] of refusals) {
    test(`campaign create refuses ${what} and creates nothing`, async () => {
      const name = uid('bad');
      const r = await runCli(args(name), env);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, message);
      assert.equal(await campaignCount(name), 0);
    });
  }

  test('a second campaign of the same name is refused', async () => {
    const name = uid('dup');
    assert.equal((await runCli(['campaign', 'create', name, '--caller-id', '+15005550006'], env)).code, 0);
    const r = await runCli(['campaign', 'create', name, '--caller-id', '+15005550007', '--lines', '9'], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /already exists/);
    const [row] = await db.sql`select caller_id, lines from campaigns where name = ${name}`;
    assert.deepEqual({ ...row }, { caller_id: '+15005550006', lines: 5 }, 'the first one is untouched');
  });

  test('unknown campaigns are named in the error, for every command', async () => {
    const name = uid('ghost');
    for (const cmd of [['start'], ['pause'], ['resume'], ['stop'], ['status'], ['status', '--json']]) {
      const r = await runCli(['campaign', cmd[0]!, name, ...cmd.slice(1)], env);
      assert.equal(r.code, 1, `${cmd.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`Unknown campaign "${name}"`));
    }
  });

  test('pausing a campaign that is not running says so, and is not an error (§5a)', async () => {
    const name = uid('idle');
    assert.equal((await runCli(['campaign', 'create', name, '--caller-id', '+15005550006'], env)).code, 0);
    const r = await runCli(['campaign', 'pause', name], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `Campaign "${name}" is not running (status idle): nothing to pause.`);
  });

  test('a malformed environment is reported before anything runs', async () => {
    const r = await runCli(['campaign', 'status', 'x'], {
      ...env,
      TEMPORAL_ADDRESS: 'no port here',
      SERVER_PORT: 'abc',
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /TEMPORAL_ADDRESS: must look like host:port/);
    assert.match(r.stderr, /SERVER_PORT/);
  });

  test('status --json reads the database for a campaign that has not started', async () => {
    const name = uid('st');
    assert.equal((await runCli(['campaign', 'create', name, '--caller-id', '+15005550006'], env)).code, 0);
    await db.sql`insert into contacts (campaign_name, phone_number) values (${name}, '+15005550100'), (${name}, '+15005550101')`;
    const r = await runCli(['campaign', 'status', name, '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.status, 'idle');
    assert.equal(report.contacts, 2);
    assert.deepEqual(report.byContactSuccessful, { NotUsed: 2 });
    assert.equal(report.workflow, null);
  });
});
