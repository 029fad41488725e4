/**
 * docs/contract.md §5–§8, one rule at a time, on the real stack: order, the cache, attempts,
 * CRM changes while a campaign runs, releasing and recovering cached contacts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { campaignWorkflowId, contactStatusQuery, contactWorkflowId } from '../workflows/shared';
import {
  type Stack,
  eventually,
  insertContacts,
  runCli,
  startStack,
  testPhone,
  uid,
  createCampaign,
} from '../harness/stack';

type Attempt = {
  contact_id: string;
  attempt_no: number;
  phone_number: string;
  due_at: Date | null;
  create_requested_at: Date | null;
  recorded_at: Date | null;
  last_state: number | null;
};

describe('campaign rules', { timeout: 240_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ timeScale: 0.05 });
    stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 } });
  });
  after(async () => stack?.stop());

  const cli = async (...args: string[]) => {
    const r = await runCli(args, stack.env);
    assert.equal(r.code, 0, `dialer ${args.join(' ')}: ${r.stderr}`);
    return r;
  };
  const create = (name: string, ...extra: string[]) => createCampaign(stack.env, name, ...extra);
  const attempts = (name: string) =>
    stack.db.sql<
      Attempt[]
    >`select contact_id, attempt_no, phone_number, due_at, create_requested_at, recorded_at, last_state
      from call_attempts where campaign_name = ${name} order by create_requested_at nulls last, id`;
  const contact = async (id: number) =>
    (await stack.db.sql`select * from contacts where id = ${id}`)[0] as Record<string, unknown> & {
      contact_successful: number;
      number_of_contacts: number;
      redial_time: Date | null;
      cached_by: string | null;
    };
  const finish = (name: string) => stack.client.workflow.getHandle(campaignWorkflowId(name)).result();
  const stop = async (name: string) => {
    await cli('campaign', 'stop', name, '--wait');
  };

  test('§5: due redials oldest first, then new contacts in insertion order; later redials wait', async () => {
    const name = uid('order');
    await create(name, '--lines', '1', '--max-attempts', '5');
    const now = Date.now();
    const minutesAgo = [7, 2, 9, 4, 1, 10, 3, 8, 6, 5];
    const redials: { id: number; at: Date }[] = [];
    for (const [i, m] of minutesAgo.entries()) {
      const at = new Date(now - m * 60_000);
      const [id] = await insertContacts(stack.db, name, [testPhone()], {
        contact_successful: 2,
        number_of_contacts: 1 + (i % 3), // the order ignores how often a contact was dialed
        redial_time: at,
      });
      redials.push({ id: id!, at });
    }
    const fresh = await insertContacts(stack.db, name, Array.from({ length: 5 }, testPhone));
    const later = await insertContacts(stack.db, name, [testPhone(), testPhone()], {
      contact_successful: 2,
      number_of_contacts: 1,
      redial_time: new Date(now + 3_600_000),
    });
    await cli('campaign', 'start', name);
    await eventually(
      async () => (await attempts(name)).filter((a) => a.recorded_at).length >= 15 || undefined,
      60_000,
    );
    await stop(name);
    const dialed = (await attempts(name)).map((a) => Number(a.contact_id));
    const expected = [...redials.sort((a, b) => a.at.getTime() - b.at.getTime()).map((r) => r.id), ...fresh];
    assert.deepEqual(dialed, expected);
    for (const id of later) {
      const c = await contact(id);
      assert.equal(c.contact_successful, 2, 'a redial not due yet is back at 2 after the stop');
      assert.equal(c.redial_time!.getTime(), now + 3_600_000);
      assert.equal(c.number_of_contacts, 1);
    }
  });

  test('§6: a cached contact is dialed with its cached data even if its row is edited', async () => {
    const name = uid('edit');
    await create(name, '--lines', '1');
    const [first, second] = [testPhone(), testPhone()];
    stack.sim.setScenario({
      default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 },
      numbers: { [first]: { outcome: 'human', ringSeconds: 1, talkSeconds: 60 } }, // 3 s: time to edit
    });
    const [a, b] = await insertContacts(stack.db, name, [first, second]);
    await cli('campaign', 'start', name, '--until-empty');
    await eventually(async () => (await contact(b!)).contact_successful === 3, 20_000, 'B in the cache');
    await eventually(async () => (await attempts(name)).length === 1, 20_000, 'A dialing');
    const other = testPhone();
    await stack.db
      .sql`update contacts set phone_number = ${other}, name = 'edited while cached' where id = ${b!}`;
    await finish(name);
    const rows = await attempts(name);
    assert.deepEqual(
      rows.map((r) => [Number(r.contact_id), r.phone_number]),
      [
        [a, first],
        [b, second],
      ],
    );
    const calls = (await (
      await fetch(`${stack.sim.url}/sim/calls?to=${encodeURIComponent(other)}`)
    ).json()) as unknown[];
    assert.equal(calls.length, 0, 'the edited number was not called');
    stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 } });
  });

  test('§5/§7: a contact at or over max_attempts is never dialed; the last allowed attempt ends it', async () => {
    const name = uid('max');
    await create(name, '--max-attempts', '3');
    const busy = testPhone();
    stack.sim.setScenario({
      default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 },
      numbers: { [busy]: 'busy' },
    });
    const past = new Date(Date.now() - 60_000);
    const [atMax] = await insertContacts(stack.db, name, [testPhone()], {
      contact_successful: 2,
      number_of_contacts: 3,
      redial_time: past,
    });
    const [overMax] = await insertContacts(stack.db, name, [testPhone()], { number_of_contacts: 5 });
    const [lastTry] = await insertContacts(stack.db, name, [busy], {
      contact_successful: 2,
      number_of_contacts: 2,
      redial_time: past,
    });
    await cli('campaign', 'start', name, '--until-empty');
    await finish(name);
    assert.deepEqual(
      (await attempts(name)).map((a) => [Number(a.contact_id), a.attempt_no]),
      [[lastTry, 3]],
    );
    const last = await contact(lastTry!);
    assert.deepEqual(
      [last.contact_successful, last.number_of_contacts, last.last_state, last.redial_time],
      [-1, 3, 1, null],
    );
    for (const [id, n] of [
      [atMax, 3],
      [overMax, 5],
    ] as const) {
      const c = await contact(id!);
      assert.equal(c.number_of_contacts, n);
      assert.notEqual(c.contact_successful, 3);
    }
    stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 } });
  });

  test('§8: a follow-up the CRM sets on a successful contact is dialed at its time while the campaign runs', async () => {
    const name = uid('follow');
    await create(name);
    const [id] = await insertContacts(stack.db, name, [testPhone()]);
    await cli('campaign', 'start', name, '--refill-interval', '1s');
    await eventually(async () => (await contact(id!)).contact_successful === 1, 20_000, 'first call done');
    // far enough ahead that the status command below runs before it, however loaded the machine
    const at = new Date(Date.now() + 10_000);
    // what a CRM does (§8): plain SQL, no signal
    await stack.db.sql`update contacts set redial_time = ${at}, contact_successful = 2 where id = ${id!}`;
    const status = JSON.parse((await cli('campaign', 'status', name, '--json')).stdout);
    assert.equal(status.status, 'running');
    assert.deepEqual(status.byLastState, { Connected: 1 });
    assert.equal(status.workflow.status, 'running');
    for (const k of ['cached', 'inFlight', 'dialing', 'waiting'])
      assert.equal(typeof status.workflow[k], 'number', k);
    assert.equal(status.workflow.stats.byLastState.Connected, 1);
    const second = await eventually(
      async () => (await attempts(name)).find((a) => a.attempt_no === 2 && a.recorded_at),
      30_000,
    );
    assert.ok(second.create_requested_at!.getTime() >= at.getTime(), 'not dialed before its time');
    const c = await contact(id!);
    assert.deepEqual([c.contact_successful, c.number_of_contacts], [1, 2]);
    await stop(name);
  });

  test('§8: a CRM redial for a cached contact moves its timer, earlier or later, and dials it once', async () => {
    const name = uid('resched');
    await create(name);
    const soon = new Date(Date.now() + 30_000);
    const [early, late] = await insertContacts(stack.db, name, [testPhone(), testPhone()], {
      contact_successful: 2,
      number_of_contacts: 1,
      redial_time: soon,
    });
    await cli('campaign', 'start', name);
    for (const id of [early!, late!]) {
      await eventually(
        async () =>
          (await stack.client.workflow.getHandle(contactWorkflowId(name, id)).query(contactStatusQuery))
            .phase === 'waiting',
        20_000,
        `contact ${id} waiting on its timer`,
      );
    }
    await cli('contacts', 'redial', String(early), '--at', '+2s');
    const earlyDone = await eventually(
      async () => (await attempts(name)).find((a) => Number(a.contact_id) === early && a.recorded_at),
      20_000,
    );
    assert.ok(earlyDone.create_requested_at!.getTime() - earlyDone.due_at!.getTime() >= 0, 'not early');
    assert.ok(earlyDone.due_at!.getTime() < soon.getTime() - 20_000, 'the timer moved earlier');

    // a redial moved from +30 s to +12 s, then to +18 s, is dialed at +18 s (each command takes a
    // second or more to start: the margins leave room for a loaded machine)
    const later = new Date(Date.now() + 12_000);
    await cli('contacts', 'redial', String(late), '--at', later.toISOString());
    const later2 = new Date(later.getTime() + 6000);
    await cli('contacts', 'redial', String(late), '--at', later2.toISOString());
    const lateDone = await eventually(
      async () => (await attempts(name)).find((a) => Number(a.contact_id) === late && a.recorded_at),
      30_000,
    );
    assert.ok(
      lateDone.create_requested_at!.getTime() >= later2.getTime(),
      'not dialed before the newest time',
    );
    const all = await attempts(name);
    assert.equal(all.length, 2, 'each contact dialed once');
    await stop(name);
  });

  test('§6: an operator pulls a waiting contact out of a running campaign; recover leaves held ones alone', async () => {
    const name = uid('release');
    await create(name);
    const at = new Date(Date.now() + 40_000);
    const [id] = await insertContacts(stack.db, name, [testPhone()], {
      contact_successful: 2,
      number_of_contacts: 1,
      redial_time: at,
    });
    await cli('campaign', 'start', name);
    const child = stack.client.workflow.getHandle(contactWorkflowId(name, id!));
    await eventually(async () => (await child.query(contactStatusQuery)).phase === 'waiting', 20_000);

    const rec = JSON.parse((await cli('recover', '--json')).stdout);
    assert.ok(rec.kept.includes(id), 'a contact a running workflow holds is kept');
    assert.equal((await contact(id!)).contact_successful, 3);

    await cli('contacts', 'release', String(id), '--hold', '5m');
    const c = await contact(id!);
    assert.deepEqual([c.contact_successful, c.number_of_contacts, c.cached_by], [2, 1, null]);
    assert.ok((c.hold_until as Date).getTime() > Date.now() + 4 * 60_000, 'held out of the caches');
    assert.equal(c.redial_time!.getTime(), at.getTime(), 'nothing else changed');
    const result = await child.result();
    assert.equal(result.withdrawn, true);
    assert.equal((await attempts(name)).length, 0, 'never dialed');
    await cli('campaign', 'refill', name);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await contact(id!)).contact_successful, 2, 'the running campaign does not take it back');
    const again = await runCli(['contacts', 'release', String(id)], stack.env);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /not in a campaign's cache/);
    await stop(name);
  });

  test('§6: contacts left at 3 by a crash go back: by `recover`, and when their campaign starts', async () => {
    const gone = uid('crashed');
    const [orphan] = await insertContacts(stack.db, gone, [testPhone()]);
    // cached just now: the workers' reconciler leaves it alone for 15 s (ops/reconcile.ts), so
    // it is `recover` that gives it back (an hour-old one may be the reconciler's first)
    await stack.db
      .sql`update contacts set contact_successful = 3, cached_from = 2, cached_by = ${campaignWorkflowId(gone)},
      cached_at = now() where id = ${orphan!}`;
    const rec = JSON.parse((await cli('recover', '--campaign', gone, '--json')).stdout);
    assert.deepEqual(rec.released, [orphan]);
    const c = await contact(orphan!);
    assert.deepEqual([c.contact_successful, c.cached_by], [2, null]);

    const name = uid('restart');
    await create(name);
    const [left] = await insertContacts(stack.db, name, [testPhone()]);
    await stack.db
      .sql`update contacts set contact_successful = 3, cached_from = 0, cached_by = ${campaignWorkflowId(name)},
      cached_at = now() where id = ${left!}`;
    await cli('campaign', 'start', name, '--until-empty');
    await finish(name);
    const done = await contact(left!);
    assert.deepEqual(
      [done.contact_successful, done.number_of_contacts],
      [1, 1],
      'recovered on start, then dialed',
    );
  });

  test('bad input to contact commands is refused with a clear message and changes nothing', async () => {
    const name = uid('badin');
    await create(name);
    const [id] = await insertContacts(stack.db, name, [testPhone()]);
    const before = await contact(id!);
    for (const [args, msg] of [
      [['contacts', 'redial', String(id), '--at', 'tomorrow'], /not a time/],
      [['contacts', 'redial', String(id), '--at', '2026-12-01 09:00'], /with a zone/],
      [['contacts', 'redial', '999999999', '--at', '+1m'], /No contact with id 999999999/],
      [['contacts', 'redial', 'abc', '--at', '+1m'], /not a whole number/],
      [['contacts', 'release', String(id)], /not in a campaign's cache/],
      [['contacts', 'list', '--state', 'Happy'], /not a ContactSuccessful value/],
    ] as const) {
      const r = await runCli([...args], stack.env);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, msg);
    }
    await stack.db.sql`update contacts set contact_successful = -1, number_of_contacts = 3 where id = ${id!}`;
    const r = await runCli(['contacts', 'redial', String(id), '--at', '+1m'], stack.env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Unreachable/);
    const after = await contact(id!);
    assert.equal(after.redial_time, before.redial_time);
    // the reviewed contact goes back explicitly
    await cli('contacts', 'reset', String(id));
    const reset = await contact(id!);
    assert.deepEqual([reset.contact_successful, reset.number_of_contacts], [0, 0]);
    const list = JSON.parse(
      (await cli('contacts', 'list', '--campaign', name, '--state', 'NotUsed', '--json')).stdout,
    );
    assert.deepEqual(
      list.map((c: { id: string }) => Number(c.id)),
      [id],
    );
  });

  test('§8: a reviewed Unreachable contact put back with reset is dialed again under a new attempt number', async () => {
    const name = uid('reuse');
    await create(name, '--max-attempts', '1');
    const phone = testPhone();
    stack.sim.setScenario({
      default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 },
      numbers: { [phone]: ['busy', 'human'] },
    });
    const [id] = await insertContacts(stack.db, name, [phone]);
    await cli('campaign', 'start', name, '--until-empty');
    await finish(name);
    assert.deepEqual(
      [(await contact(id!)).contact_successful, (await contact(id!)).number_of_contacts],
      [-1, 1],
    );
    await cli('contacts', 'reset', String(id)); // number_of_contacts back to 0
    await cli('campaign', 'start', name, '--until-empty');
    await finish(name);
    const c = await contact(id!);
    assert.deepEqual([c.contact_successful, c.number_of_contacts, c.last_state], [1, 1, 0]);
    assert.deepEqual(
      (await attempts(name)).map((a) => [a.attempt_no, a.last_state]),
      [
        [1, 1],
        [2, 0],
      ],
    );
    const calls = (await (
      await fetch(`${stack.sim.url}/sim/calls?to=${encodeURIComponent(phone)}`)
    ).json()) as unknown[];
    assert.equal(calls.length, 2);
    stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 } });
  });
});
