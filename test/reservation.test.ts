/**
 * §6: taking contacts into a cache is atomic. Racing reservations (other campaign runs, other
 * workers) never take the same contact, and a retried reservation returns the rows it took.
 * Runs the activity against the real database.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createActivities } from '../activities';
import type { Database } from '../db/client';
import { insertContacts, testDatabase, testPhone, uid } from '../harness/stack';

let db: Database;
before(() => {
  db = testDatabase();
});
after(async () => db.close());

const activities = () =>
  createActivities({
    db,
    calls: undefined as never, // not used by the reservation
    temporal: undefined as never,
    clock: () => new Date(),
    publicBaseUrl: 'http://unused',
    defaultRegion: 'US',
  });

test('eight racing reservations share 200 contacts without taking one twice', async () => {
  const campaign = uid('race');
  const ids = await insertContacts(db, campaign, Array.from({ length: 200 }, testPhone));
  const a = activities();
  // rounds of eight at once, until nothing is left: SKIP LOCKED makes a racing reservation take
  // fewer rather than wait, never the same row
  const results: { holder: string; ids: number[] }[] = [];
  for (let round = 0; round < 20; round++) {
    const batch = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const holder = `campaign/${campaign}#${round}.${i}`;
        const r = await a.reserveContacts({
          campaign,
          holder,
          reservation: `${campaign}-${round}.${i}`,
          limit: 40,
          lookaheadLimit: 0,
          maxAttempts: 3,
          lookaheadMs: 0,
        });
        return { holder, ids: r.contacts.map((c) => c.id) };
      }),
    );
    results.push(...batch);
    if (batch.every((b) => b.ids.length === 0)) break;
  }
  const taken = results.flatMap((r) => r.ids);
  assert.equal(new Set(taken).size, taken.length, 'no contact in two caches');
  assert.deepEqual(
    [...taken].sort((x, y) => x - y),
    ids,
    'every contact taken, once',
  );
  const rows = await db.sql<{ id: string; contact_successful: number; cached_by: string }[]>`
    select id, contact_successful, cached_by from contacts where campaign_name = ${campaign}`;
  for (const r of results) {
    for (const id of r.ids) {
      const row = rows.find((x) => Number(x.id) === id)!;
      assert.deepEqual([row.contact_successful, row.cached_by], [3, r.holder]);
    }
  }
});

test('a retried reservation returns the same rows instead of taking more', async () => {
  const campaign = uid('retry');
  await insertContacts(db, campaign, Array.from({ length: 10 }, testPhone));
  const a = activities();
  const input = {
    campaign,
    holder: `campaign/${campaign}`,
    reservation: `${campaign}-1`,
    limit: 4,
    lookaheadLimit: 0,
    maxAttempts: 3,
    lookaheadMs: 0,
  };
  const first = await a.reserveContacts(input);
  const again = await a.reserveContacts(input);
  assert.deepEqual(again.contacts, first.contacts);
  const [{ n }] =
    (await db.sql`select count(*)::int as n from contacts where campaign_name = ${campaign} and contact_successful = 3`) as unknown as [
      { n: number },
    ];
  assert.equal(n, 4);
});
