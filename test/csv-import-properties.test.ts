/**
 * Property-based test (fast-check) of `contacts import` against the real database: for any file
 * of good rows mixed with every kind of bad one (not a number, bad zone, bad time, unknown or no
 * campaign, a number twice, a number the campaign has, a record with too many or too few fields,
 * a quote never closed, empty lines and fields spanning lines on the way), the import names
 * exactly the bad lines, each with its reason, and writes either nothing or, with --skip-invalid,
 * exactly the good rows.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'csv-stringify/sync';
import fc from 'fast-check';
import type { Database } from '../db/client';
import { importContacts } from '../ops/contact-import';
import { CALLER_ID, testDatabase, testPhone, uid } from '../harness/stack';

const KINDS = [
  'good',
  'notANumber',
  'badZone',
  'badTime',
  'unknownCampaign',
  'noCampaign',
  'duplicate',
  'existing',
  'tooManyFields',
  'tooFewFields',
] as const;
type Kind = (typeof KINDS)[number] | 'unclosedQuote';

/** What each kind of bad row must be told. */
const REASON: Record<Exclude<Kind, 'good'>, RegExp> = {
  notANumber: /phone_number ".*" is not a phone number/,
  badZone: /time_zone "Mars\/Olympus" is not an IANA time zone/,
  badTime: /redial_time: /,
  unknownCampaign: /unknown campaign "no-such-campaign"/,
  noCampaign: /no campaign_name/,
  duplicate: /is already on line \d+/,
  existing: /is already in campaign .* \(contact \d+\)/,
  tooManyFields: /6 fields where the header has 5/,
  tooFewFields: /4 fields where the header has 5/,
  unclosedQuote: /a quote opened here is never closed/,
};

interface Spec {
  kind: Kind;
  /** Which of the two campaigns (0 or 1). */
  campaign: number;
  name: string;
  zone: boolean;
  redial: boolean;
  national: boolean;
  emptyLinesBefore: number;
}

const nameChars = fc.constantFrom('a', 'B', 'ö', ' ', ',', '"', '\n', "'", ';', '<', '-');
const spec: fc.Arbitrary<Spec> = fc.record({
  kind: fc.constantFrom(...KINDS),
  campaign: fc.integer({ min: 0, max: 1 }),
  name: fc.array(nameChars, { maxLength: 12 }).map((cs) => cs.join('').trim()),
  zone: fc.boolean(),
  redial: fc.boolean(),
  national: fc.boolean(),
  emptyLinesBefore: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 1, max: 2 })),
});
const file = fc.record({
  rows: fc.array(spec, { minLength: 1, maxLength: 25 }),
  unclosedQuoteAtEnd: fc.boolean(),
  skipInvalid: fc.boolean(),
});

const national = (e164: string) => `(${e164.slice(2, 5)}) ${e164.slice(5, 8)}-${e164.slice(8)}`;

describe('contacts import of random files (fast-check)', { timeout: 300_000 }, () => {
  let db: Database;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'import-props-'));
  const campaigns: string[] = [];
  before(() => {
    db = testDatabase();
  });
  after(async () => {
    if (campaigns.length) {
      await db.sql`delete from contacts where campaign_name = any(${campaigns})`;
      await db.sql`delete from campaigns where name = any(${campaigns})`;
    }
    await db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('all or nothing, and every bad line named with its reason', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(file, async ({ rows, unclosedQuoteAtEnd, skipInvalid }) => {
        run++;
        const names = [uid('csvp'), uid('csvp')];
        campaigns.push(...names);
        for (const name of names) {
          await db.sql`insert into campaigns (name, caller_id, retry_rules)
            values (${name}, ${CALLER_ID}, ${db.sql.json({})})`;
        }
        const existing = names.map(() => testPhone());
        for (const [i, name] of names.entries()) {
          await db.sql`insert into contacts (campaign_name, phone_number) values (${name}, ${existing[i]!})`;
        }

        // write the file, keeping each row's first line and what the import must make of it
        const lines = ['campaign_name,phone_number,name,time_zone,redial_time'];
        const expectedBad = new Map<number, RegExp>();
        const expectedGood = new Map<string, { phone: string; name: string | null }[]>(
          names.map((n) => [n, []]),
        );
        const goodPhones: { campaign: number; phone: string; line: number }[] = [];
        // the first line each (campaign, number) appeared on, whatever else was wrong with it
        const firstSeen = new Map<string, number>();
        const specs: Spec[] = unclosedQuoteAtEnd
          ? [...rows, { ...rows[0]!, kind: 'unclosedQuote', emptyLinesBefore: 0 }]
          : rows;
        for (const s of specs) {
          for (let i = 0; i < s.emptyLinesBefore; i++) lines.push('');
          const line = lines.length + 1;
          const campaign = names[s.campaign]!;
          let phone = testPhone();
          if (s.kind === 'duplicate') {
            const earlier = goodPhones.find((g) => g.campaign === s.campaign);
            if (earlier) phone = earlier.phone;
          }
          if (s.kind === 'existing') phone = existing[s.campaign]!;
          const fields = [
            s.kind === 'unknownCampaign' ? 'no-such-campaign' : s.kind === 'noCampaign' ? '' : campaign,
            s.kind === 'notANumber' ? '12345' : s.national ? national(phone) : phone,
            s.name,
            s.kind === 'badZone' ? 'Mars/Olympus' : s.zone ? 'America/Chicago' : '',
            s.kind === 'badTime' ? 'tomorrow morning' : s.redial ? '2031-05-06T07:08:09Z' : '',
          ];
          if (s.kind === 'tooManyFields') fields.push('extra');
          if (s.kind === 'tooFewFields') fields.pop();
          let text = stringify([fields], { record_delimiter: 'unix' }).replace(/\n$/, '');
          if (s.kind === 'unclosedQuote') text = `${campaign},"${phone},x,,`;
          lines.push(...text.split('\n'));

          const key = `${s.campaign} ${phone}`;
          const earlier = firstSeen.get(key);
          if (
            ['good', 'badZone', 'badTime', 'duplicate', 'existing'].includes(s.kind) &&
            earlier === undefined
          )
            firstSeen.set(key, line);
          if (s.kind === 'good' || (s.kind === 'duplicate' && earlier === undefined)) {
            expectedGood.get(campaign)!.push({ phone, name: s.name || null });
            goodPhones.push({ campaign: s.campaign, phone, line });
          } else if ((s.kind === 'duplicate' || s.kind === 'existing') && earlier !== undefined) {
            expectedBad.set(line, new RegExp(`is already on line ${earlier}\\b`));
          } else {
            expectedBad.set(line, REASON[s.kind as Exclude<Kind, 'good'>]);
          }
        }
        const csv = path.join(dir, `run-${run}.csv`);
        fs.writeFileSync(csv, lines.join('\n') + '\n');

        const result = await importContacts(db.sql, csv, { defaultRegion: 'US', skipInvalid });
        const shown = `\n${fs.readFileSync(csv, 'utf8')}\n${JSON.stringify(result.bad, null, 1)}`;
        assert.deepEqual(
          result.bad.map((b) => b.line),
          [...expectedBad.keys()].sort((a, b) => a - b),
          `the bad lines, and only them${shown}`,
        );
        for (const b of result.bad)
          assert.match(b.message, expectedBad.get(b.line)!, `line ${b.line}${shown}`);

        const anyBad = expectedBad.size > 0;
        assert.equal(result.imported, !anyBad || skipInvalid, `imported${shown}`);
        for (const [i, name] of names.entries()) {
          const stored = await db.sql<{ phone_number: string; name: string | null }[]>`
            select phone_number, name from contacts where campaign_name = ${name} order by id`;
          const written = anyBad && !skipInvalid ? [] : expectedGood.get(name)!;
          assert.deepEqual(
            stored.map((r) => ({ phone: r.phone_number, name: r.name })),
            [{ phone: existing[i]!, name: null }, ...written],
            `campaign ${i}: nothing, or exactly the good rows${shown}`,
          );
        }
      }),
      { numRuns: 60, seed: Number(process.env.DIALER_TEST_SEED ?? 20261126) },
    );
  });
});
