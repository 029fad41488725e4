/**
 * Exports safe for spreadsheets (OWASP CSV injection): `contacts export` writes a text
 * cell that a spreadsheet would run as a formula with a leading apostrophe; E.164 numbers stay as
 * they are; `--raw` writes everything as it is, for programs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { spreadsheetPhone, spreadsheetText } from '../domain/spreadsheet';
import {
  type Stack,
  createCampaign,
  insertContacts,
  runCli,
  startStack,
  testPhone,
  uid,
} from '../harness/stack';

const PLANTED = [
  '=HYPERLINK("http://example.invalid","click")',
  '+SUM(1,2)',
  '-2+3+cmd|" /C calc"!A0',
  '@cmd',
  '\t=1+1',
  '\r=1+1',
  'Ada Lovelace',
  'x=1',
];

test('a cell that starts with = + - @ TAB or CR is text; E.164 numbers and plain text are untouched', () => {
  assert.deepEqual(
    PLANTED.map(spreadsheetText),
    PLANTED.map((p, i) => (i < 6 ? `'${p}` : p)),
  );
  assert.equal(spreadsheetPhone('+15005550101'), '+15005550101');
  assert.equal(spreadsheetPhone('+1 (500) 555'), "'+1 (500) 555");
});

describe('contacts export', { timeout: 60_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => stack?.stop());

  test('planted formula names are exported as text; --raw writes them as they are', async () => {
    const name = uid('formula');
    await createCampaign(stack.env, name);
    const phones = PLANTED.map(() => testPhone());
    const ids = await insertContacts(stack.db, name, phones);
    for (const [i, id] of ids.entries())
      await stack.db
        .sql`update contacts set name = ${PLANTED[i]!}, data = ${stack.db.sql.json({ note: PLANTED[i]! })} where id = ${id}`;
    const read = async (...extra: string[]) => {
      const r = await runCli(['contacts', 'export', '--campaign', name, ...extra], stack.env);
      assert.equal(r.code, 0, r.stderr);
      return parse(r.stdout, { columns: true }) as Record<string, string>[];
    };
    const safe = await read();
    assert.deepEqual(
      safe.map((r) => r.name),
      PLANTED.map(spreadsheetText),
    );
    assert.deepEqual(
      safe.map((r) => r.phone_number),
      phones,
      'E.164 numbers as they are',
    );
    for (const r of safe) assert.doesNotMatch(r.name!, /^[=+\-@\t\r]/, 'no cell a spreadsheet runs');
    const raw = await read('--raw');
    assert.deepEqual(
      raw.map((r) => r.name),
      PLANTED,
    );
  });
});
