/**
 * docs/contract.md §8: contacts the CRM adds or changes by SQL alone, while the campaign
 * runs, are picked up within about a second, without a restart and without a signal of the CRM's.
 * The campaigns here refill only every 10 minutes, so the periodic refill cannot be what finds
 * them: the contacts trigger (migration 0010) and each worker's listener (worker/contact-changes.ts)
 * are. Bounds are generous; `npm run bench -- --parts crm` measures the lateness.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type RawConnection, rawConnection } from '../harness/raw-db';
import { PgProxy } from '../harness/pg-proxy';
import { WORKER_APPLICATION_NAME } from '../db/client';
import type { SimCall } from '../simulator/types';
import { CONTACTS_CHANGED_CHANNEL, Throttle } from '../worker/contact-changes';
import {
  type Stack,
  cfg,
  createCampaign,
  eventually,
  insertContacts,
  runCli,
  startStack,
  testPhone,
  uid,
} from '../harness/stack';

/** How late a CRM's edit may be dialed here: the contract's second, plus room for a slow machine. */
const BOUND_MS = 5000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('CRM row edits while a campaign runs (§8)', { timeout: 240_000 }, () => {
  let stack: Stack;
  let proxy: PgProxy;
  before(async () => {
    // only the worker's listener goes through the proxy: a cut leaves everything else alone
    const front = await PgProxy.inFrontOf(cfg.testDatabaseUrl);
    proxy = front.proxy;
    stack = await startStack({ timeScale: 0.05 }, { contactChangesUrl: front.url });
    stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 } });
  });
  after(async () => {
    await stack?.stop();
    await proxy?.close();
  });

  const cli = async (...args: string[]) => {
    const r = await runCli(args, stack.env);
    assert.equal(r.code, 0, `dialer ${args.join(' ')}: ${r.stderr}`);
  };
  /** The simulator's calls to a number, oldest first. */
  const calls = async (phone: string) =>
    (await (await fetch(`${stack.sim.url}/sim/calls?to=${encodeURIComponent(phone)}`)).json()) as SimCall[];
  const contactState = async (id: number) =>
    (
      await stack.db.sql<{ contact_successful: number }[]>`
      select contact_successful from contacts where id = ${id}`
    )[0]!.contact_successful;
  /** An open campaign (the default, §5a) that looks at the table by itself only every 10 minutes. */
  const openCampaign = async (name: string) => {
    await createCampaign(stack.env, name, '--max-attempts', '5', '--lines', '5');
    await cli('campaign', 'start', name, '--refill-interval', '10m');
  };
  /** A contact that ended Successful (1) after its first call. */
  const successfulContact = async (name: string) => {
    const phone = testPhone();
    const [id] = await insertContacts(stack.db, name, [phone]);
    await eventually(async () => (await contactState(id!)) === 1, 30_000, 'the first call to end Successful');
    return { id: id!, phone };
  };
  /** The CRM's follow-up (Wiedervorlage), by SQL alone: back to 2, due in `seconds`. */
  const followUp = async (id: number, seconds: number) => {
    const [row] = await stack.db.sql<{ redial_time: Date }[]>`
      update contacts set contact_successful = 2, redial_time = now() + ${seconds} * interval '1 second'
      where id = ${id} returning redial_time`;
    return row!.redial_time;
  };
  /** When the simulator received the create of the `n`-th call (1-based) to a number. */
  const nthCallAt = async (phone: string, n: number, timeoutMs: number, what: string) => {
    const c = await eventually(async () => (await calls(phone))[n - 1], timeoutMs, what);
    return new Date(c.createdAt);
  };
  const stop = (name: string) => cli('campaign', 'stop', name, '--wait');

  test('a follow-up written by SQL alone is dialed within a second of its time', async () => {
    const name = uid('crm-follow-up');
    await openCampaign(name);
    const { id, phone } = await successfulContact(name);
    const due = await followUp(id, 3);
    const at = await nthCallAt(phone, 2, 3000 + BOUND_MS + 5000, 'the follow-up’s call');
    assert.ok(at >= due, `dialed ${due.getTime() - at.getTime()} ms before its redial_time`);
    assert.ok(at.getTime() - due.getTime() <= BOUND_MS, `dialed ${at.getTime() - due.getTime()} ms late`);

    // a contact the CRM inserts into the running campaign
    const fresh = testPhone();
    const insertedAt = new Date();
    await insertContacts(stack.db, name, [fresh]);
    const freshAt = await nthCallAt(fresh, 1, BOUND_MS + 5000, 'the inserted contact’s call');
    const late = freshAt.getTime() - insertedAt.getTime();
    assert.ok(late <= BOUND_MS, `the inserted contact was dialed ${late} ms after the insert`);
    await stop(name);
  });

  test('the listener recovers after a connection cut', async () => {
    const listener = stack.worker!.contactChanges!;
    const name = uid('crm-cut');
    await openCampaign(name);
    const first = await successfulContact(name);
    const second = await successfulContact(name);

    // cut: the driver re-issues LISTEN once the proxy lets it through again
    const listens = listener.listens;
    assert.ok(proxy.cut(1000) > 0, 'the listener’s connection went through the proxy');
    await eventually(async () => listener.listens > listens, 20_000, 'the listener to listen again');
    const due = await followUp(first.id, 1);
    const at = await nthCallAt(first.phone, 2, 1000 + BOUND_MS + 5000, 'the follow-up after the cut');
    assert.ok(at >= due, 'not dialed before its redial_time');
    assert.ok(at.getTime() - due.getTime() <= BOUND_MS, `dialed ${at.getTime() - due.getTime()} ms late`);

    // a write while the listener is cut off: its notification is lost; the refill on reconnect finds
    // it. First the campaign goes quiet: an attempt that ends makes it look at the table too.
    await eventually(async () => (await contactState(first.id)) === 1, 30_000, 'the follow-up to end');
    await sleep(1000);
    const again = listener.listens;
    proxy.cut(3000);
    const dueWhileCut = await followUp(second.id, 0);
    await sleep(500);
    assert.equal((await calls(second.phone)).length, 1, 'not dialed while the listener is cut off');
    await eventually(async () => listener.listens > again, 20_000, 'the listener to listen again');
    const reconnectedAt = Date.now();
    const atAfter = await nthCallAt(second.phone, 2, BOUND_MS + 5000, 'the follow-up written during the cut');
    assert.ok(atAfter >= dueWhileCut, 'not dialed before its redial_time');
    assert.ok(
      atAfter.getTime() - reconnectedAt <= BOUND_MS,
      `dialed ${atAfter.getTime() - reconnectedAt} ms after the listener was back`,
    );
    await stop(name);
  });
});

describe('the refill throttle', () => {
  test('the first change signals at once; more within the window become one trailing signal', async () => {
    const fired: string[] = [];
    const throttle = new Throttle((k) => fired.push(k), 200);
    try {
      throttle.push('a');
      assert.deepEqual(fired, ['a'], 'the first one is not held');
      for (let i = 0; i < 5; i++) throttle.push('a');
      throttle.push('b');
      assert.deepEqual(fired, ['a', 'b'], 'other campaigns have windows of their own');
      // the trailing signal comes at the window's end; the window after it sees nothing and closes
      await sleep(700);
      assert.deepEqual(fired, ['a', 'b', 'a'], 'five more changes made one trailing signal');
      throttle.push('a');
      assert.deepEqual(fired, ['a', 'b', 'a', 'a'], 'after a quiet window, at once again');
    } finally {
      throttle.stop();
    }
  });
});

describe('the contacts trigger', { timeout: 60_000 }, () => {
  const received: string[] = [];
  let listener: RawConnection;
  let crm: RawConnection;
  let worker: RawConnection;
  before(async () => {
    listener = rawConnection(cfg.testDatabaseUrl);
    crm = rawConnection(cfg.testDatabaseUrl);
    worker = rawConnection(cfg.testDatabaseUrl, { applicationName: WORKER_APPLICATION_NAME });
    await listener.listen(CONTACTS_CHANGED_CHANNEL, (p) => received.push(p));
  });
  after(async () => {
    await Promise.all([listener?.end(), crm?.end(), worker?.end()]);
  });

  /**
   * The payloads for `campaign` that `write` caused: notifications arrive in commit order, so once
   * a marker sent after the write is in, everything the write sent is too (other test files may
   * notify on the same channel meanwhile: only this campaign's payloads count).
   */
  const notified = async (campaign: string, write: () => Promise<unknown>) => {
    const from = received.length;
    await write();
    const marker = uid('marker');
    await crm`select pg_notify(${CONTACTS_CHANGED_CHANNEL}, ${marker})`;
    await eventually(async () => received.includes(marker), 10_000, 'the marker notification');
    return received.slice(from).filter((p) => p === campaign);
  };
  const insert = (sql: RawConnection, campaign: string, state = 0) =>
    sql<{ id: string }[]>`
      insert into contacts (campaign_name, phone_number, contact_successful)
      values (${campaign}, ${testPhone()}, ${state}) returning id`.then((r) => Number(r[0]!.id));

  test('a CRM’s insert and its follow-up notify; the dialer’s own writes do not', async () => {
    const name = uid('trigger');
    let id = 0;
    assert.deepEqual(await notified(name, async () => (id = await insert(crm, name))), [name]);
    assert.deepEqual(await notified(name, () => insert(worker, name)), [], 'a worker connection’s insert');
    assert.deepEqual(
      await notified(
        name,
        () => worker`update contacts set redial_time = now() + interval '1 hour' where id = ${id}`,
      ),
      [],
      'a worker connection’s update',
    );
    assert.deepEqual(
      await notified(
        name,
        () => crm`update contacts set contact_successful = 2, redial_time = now() where id = ${id}`,
      ),
      [name],
      'a CRM follow-up',
    );
  });

  test('only changes a campaign could act on notify', async () => {
    const name = uid('trigger');
    let id = 0;
    assert.deepEqual(await notified(name, async () => (id = await insert(crm, name))), [name]);
    assert.deepEqual(
      await notified(name, () => crm`update contacts set name = 'Ada', data = '{"a":1}' where id = ${id}`),
      [],
      'columns other than the four',
    );
    assert.deepEqual(
      await notified(name, () => crm`update contacts set contact_successful = 0 where id = ${id}`),
      [],
      'one of the four, set to the value it had',
    );
    assert.deepEqual(await notified(name, () => insert(crm, name, 1)), [], 'a row at 1 (Successful)');
    const done = await insert(crm, name, 1);
    assert.deepEqual(
      await notified(name, () => crm`update contacts set redial_time = now() where id = ${done}`),
      [],
      'a row at 1 whose redial_time changed',
    );
    assert.deepEqual(
      await notified(name, () => crm`update contacts set contact_successful = -1 where id = ${id}`),
      [],
      'a row set to -1',
    );
    // a bulk insert: one notification per campaign and transaction
    assert.deepEqual(
      await notified(name, () =>
        crm.begin(async (tx) => {
          for (let i = 0; i < 5; i++) await insert(tx as unknown as RawConnection, name);
        }),
      ),
      [name],
      'five rows in one transaction',
    );
  });

  test('a campaign name too long for a payload notifies every campaign, and the write succeeds', async () => {
    const long = 'x'.repeat(8100);
    const from = received.length;
    const id = await insert(crm, long);
    assert.ok(id > 0, 'the CRM’s insert went through');
    const marker = uid('marker');
    await crm`select pg_notify(${CONTACTS_CHANGED_CHANNEL}, ${marker})`;
    await eventually(async () => received.includes(marker), 10_000, 'the marker notification');
    assert.ok(received.slice(from).includes(''), 'an empty payload: every running campaign');
    await crm`delete from contacts where id = ${id}`;
  });
});
