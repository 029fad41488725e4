/**
 * Calling windows and the checks at the moment of dialing, through a running campaign (§5):
 * a contact outside its window is dialed only once the window opens and holds no line meanwhile;
 * a CRM follow-up due outside the window waits for it; a number put on the do-not-call list while
 * its contact waits ends as Banned (1000) and never reaches the simulator; `contacts why` tells
 * the story. Windows are computed relative to now in fixed-offset zones, so nothing waits for a
 * real evening: the callee's local time is about noon and the window opens some seconds later.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ContactSuccessful as CS, LastState as S } from '../domain/contract';
import {
  campaignStatusQuery,
  campaignWorkflowId,
  contactStatusQuery,
  contactWorkflowId,
} from '../workflows/shared';
import {
  API_TOKEN,
  type Stack,
  createCampaign,
  eventually,
  insertContacts,
  runCli,
  startStack,
  testPhone,
  uid,
  windowOpeningIn,
} from '../harness/stack';

/** How long after the test starts the window opens (CLI runs take a few seconds each on a slow host). */
const OPENS_IN_MS = 30_000;

describe('calling windows in a running campaign', { timeout: 240_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ timeScale: 0.02 });
    stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 } });
  });
  after(async () => stack?.stop());

  const row = async (id: number) =>
    (
      await stack.db.sql<
        { contact_successful: number; last_state: number | null; number_of_contacts: number }[]
      >`
        select contact_successful, last_state, number_of_contacts from contacts where id = ${id}`
    )[0]!;
  const firstCallAt = (phone: string) => {
    const calls = stack.sim.calls({ to: phone });
    return calls.length ? new Date(calls[0]!.createdAt) : undefined;
  };

  test('outside its window a contact waits without a line, CRM follow-ups and redials included; the do-not-call list is read at dialing; `contacts why` tells it', async () => {
    const name = uid('window');
    // the window opens at opensAt for callees in closedZone; in openZone it is already open
    const { opensAt, window, closedZone, openZone } = windowOpeningIn(OPENS_IN_MS);
    await createCampaign(stack.env, name, '--lines', '1', '--window', window);

    const [late, onTime, banned] = [testPhone(), testPhone(), testPhone()];
    const [lateId, onTimeId, bannedId] = await insertContacts(stack.db, name, [late, onTime, banned]);
    // a follow-up: dialed successfully before, the CRM schedules it again while the campaign runs
    const followUp = testPhone();
    const [followUpId] = await insertContacts(stack.db, name, [followUp], {
      contact_successful: CS.Successful,
      number_of_contacts: 1,
    });
    await stack.db
      .sql`update contacts set time_zone = ${closedZone} where id in ${stack.db.sql([lateId!, bannedId!, followUpId!])}`;
    await stack.db.sql`update contacts set time_zone = ${openZone} where id = ${onTimeId!}`;

    assert.equal(
      (await runCli(['campaign', 'start', name, '--until-empty', '--refill-interval', '2s'], stack.env)).code,
      0,
    );
    const campaign = stack.client.workflow.getHandle(campaignWorkflowId(name));
    const child = (id: number) => stack.client.workflow.getHandle(contactWorkflowId(name, id));

    // the first contact (lowest id) is held back by the window and gives its only line back:
    // the contact whose window is open is dialed on that line meanwhile
    await eventually(async () => firstCallAt(onTime), 20_000, 'the contact inside its window dialed');
    const held = await eventually(async () => {
      const s = await child(lateId!).query(contactStatusQuery);
      return s.heldBack ? s : undefined;
    });
    assert.equal(held.heldBack!.rule, 'window');
    assert.equal(new Date(held.heldBack!.until).getTime(), opensAt.getTime());
    assert.equal(held.phase, 'waiting');

    // the CRM pushes the follow-up for now, and the do-not-call list takes a waiting number
    const res = await fetch(`${stack.serverUrl}/api/contacts/${followUpId}/redial`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ at: 'now' }),
    });
    assert.equal(res.status, 200, await res.text());
    assert.equal((await runCli(['dnc', 'add', banned, '--reason', 'asked on the phone'], stack.env)).code, 0);
    const status = await eventually(async () => {
      const s = await campaign.query(campaignStatusQuery);
      return (s.heldBack?.window ?? 0) >= 3 ? s : undefined;
    });
    assert.equal(status.dialing, 0, 'no line is held by a contact waiting for its window');
    assert.ok(Date.now() < opensAt.getTime(), 'the test reached this point before the window opened');

    await campaign.result();
    const lateAt = firstCallAt(late);
    const followUpAt = firstCallAt(followUp);
    assert.ok(
      lateAt && lateAt >= opensAt,
      `dialed at ${lateAt?.toISOString()}, window opened ${opensAt.toISOString()}`,
    );
    assert.ok(
      followUpAt && followUpAt >= opensAt,
      `the follow-up pushed for now was dialed at ${followUpAt?.toISOString()}, when the window opened`,
    );
    assert.ok(firstCallAt(onTime)! < opensAt);
    assert.equal(stack.sim.calls({ to: banned }).length, 0, 'the listed number never reached the simulator');
    assert.deepEqual(
      [(await row(bannedId!)).last_state, (await row(bannedId!)).contact_successful],
      [S.Banned, CS.Unreachable],
    );
    assert.equal((await row(followUpId!)).number_of_contacts, 2);

    // off the list again and reset by the operator: dialed, and the log tells the whole story
    assert.equal((await runCli(['dnc', 'remove', banned], stack.env)).code, 0);
    assert.equal((await runCli(['contacts', 'reset', String(bannedId)], stack.env)).code, 0);
    assert.equal(
      (await runCli(['campaign', 'start', name, '--until-empty', '--refill-interval', '2s'], stack.env)).code,
      0,
    );
    await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();
    assert.equal(stack.sim.calls({ to: banned }).length, 1);

    const why = await runCli(['contacts', 'why', String(bannedId), '--json'], stack.env);
    assert.equal(why.code, 0, why.stderr);
    const events = (
      JSON.parse(why.stdout) as { events: { kind: string; reason: string; until: string | null }[] }
    ).events;
    assert.deepEqual(
      events.map((e) => e.kind),
      ['cached', 'delayed', 'skipped', 'outcome', 'rescheduled', 'cached', 'dialed', 'outcome'],
    );
    assert.equal(new Date(events[1]!.until!).getTime(), opensAt.getTime());
    assert.match(events[1]!.reason, /outside the calling window/);
    assert.match(events[2]!.reason, /do-not-call list.*asked on the phone/);
    assert.match(events[3]!.reason, /^Banned, no call placed/);
    assert.match(events[7]!.reason, /^Connected \(attempt 1 of 3\) → Successful/);
    const text = await runCli(['contacts', 'why', String(bannedId)], stack.env);
    assert.match(text.stdout, /delayed .*outside the calling window/);

    // the follow-up's log: the CRM's push, held back by the window, then dialed
    const followUpWhy = await runCli(['contacts', 'why', String(followUpId), '--json'], stack.env);
    const kinds = (JSON.parse(followUpWhy.stdout) as { events: { kind: string }[] }).events.map(
      (e) => e.kind,
    );
    assert.deepEqual(kinds, ['rescheduled', 'cached', 'delayed', 'dialed', 'outcome']);
  });
});
