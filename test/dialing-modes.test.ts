/**
 * Dialing modes in a running campaign: preview, where an agent takes or skips
 * each contact before it is dialed (command line and API), and agentless, where nobody is bridged
 * whatever agents the campaign has. Progressive, power and predictive are compared on one scenario
 * in `npm run pacing`; their arithmetic is in pacing.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { LastState as S } from '../domain/contract';
import { campaignStatusQuery, campaignWorkflowId } from '../workflows/shared';
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
import { stackCli } from '../harness/scenario';

describe('dialing modes', { timeout: 240_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ timeScale: 0.02 });
    stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 5 } });
  });
  after(async () => stack?.stop());

  const cli = (...args: string[]) => stackCli(stack)(...args);
  const kinds = async (id: number) =>
    (
      JSON.parse(await cli('contacts', 'why', String(id), '--json')) as {
        events: { kind: string; reason: string }[];
      }
    ).events;

  test('preview: the agent skips one contact and takes the next; only the taken one is dialed, and bridged to them', async () => {
    const name = uid('preview');
    const agent = `client:${uid('agent')}`;
    await createCampaign(stack.env, name, '--mode', 'preview', '--max-attempts', '1', '--wrap-up', '0');
    await cli('agents', 'add', agent, '--campaign', name);
    const [skipped, taken] = [testPhone(), testPhone()];
    const [skippedId, takenId] = await insertContacts(stack.db, name, [skipped, taken]);
    await cli('campaign', 'start', name, '--until-empty');

    // the agent's next contact, undefined while none waits
    const next = async () =>
      (JSON.parse(await cli('agents', 'next', agent, '--json')) as {
        contactId: number;
        phoneNumber: string;
      } | null) ?? undefined;
    const first = await eventually(next, 20_000, 'a contact offered for preview');
    assert.equal(first.contactId, skippedId, 'the first contact in the campaign’s order');
    assert.equal(first.phoneNumber, skipped);
    assert.equal((await next())!.contactId, skippedId, 'asking again gives the contact the agent holds');
    // taking a contact the agent does not hold is refused, and changes nothing
    const wrong = await runCli(['agents', 'take', agent, '--contact', String(takenId)], stack.env);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, new RegExp(`holds contact ${skippedId}, not ${takenId}`));
    assert.equal(
      stack.sim.calls().filter((c) => c.to === skipped || c.to === taken).length,
      0,
      'nothing dialed before a decision',
    );

    await cli('agents', 'skip', agent, '--reason', 'open complaint', '--hold', '2h');
    const second = await eventually(next, 20_000, 'the next contact offered');
    assert.equal(second.contactId, takenId);
    // the API answers the same agent the same way
    const res = await fetch(`${stack.serverUrl}/api/agents/${encodeURIComponent(agent)}/next`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}` },
    });
    assert.equal(((await res.json()) as { contact: { contactId: number } }).contact.contactId, takenId);
    const took = await fetch(`${stack.serverUrl}/api/agents/${encodeURIComponent(agent)}/take`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ contactId: takenId }),
    });
    assert.equal(took.status, 200, await took.text());
    await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();

    assert.equal(stack.sim.calls({ to: skipped }).length, 0, 'the skipped contact was never dialed');
    const [call] = stack.sim.calls({ to: taken });
    assert.deepEqual(
      call!.legs.map((l) => l.endpoint),
      [agent],
      'bridged to the agent who took it',
    );
    const [rows] = [
      await stack.db.sql<
        { id: string; contact_successful: number; last_state: number | null; hold_until: Date | null }[]
      >`
        select id, contact_successful, last_state, hold_until from contacts where id in ${stack.db.sql([skippedId!, takenId!])} order by id`,
    ];
    assert.equal(rows[0]!.contact_successful, 0, 'skipped: back undialed');
    assert.ok(rows[0]!.hold_until! > new Date(Date.now() + 3600_000), 'held for the 2 h asked for');
    assert.equal(rows[1]!.last_state, S.Connected);
    const [a] = await stack.db.sql<{ status: string }[]>`select status from agents where endpoint = ${agent}`;
    assert.equal(a!.status, 'wrap-up', 'the agent wraps up after the call');

    const skippedLog = await kinds(skippedId!);
    assert.deepEqual(
      skippedLog.map((e) => e.kind),
      ['cached', 'delayed', 'skipped', 'released'],
    );
    assert.match(skippedLog[2]!.reason, /skipped by agent .*: open complaint/);
    assert.deepEqual(
      (await kinds(takenId!)).map((e) => e.kind),
      ['cached', 'delayed', 'taken', 'dialed', 'outcome'],
    );
  });

  test('preview refuses what cannot be done: an unknown agent, nothing held, an agent of no campaign', async () => {
    const unknown = await runCli(['agents', 'next', 'client:nobody-here'], stack.env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /No agent with endpoint client:nobody-here/);
    const idle = `client:${uid('idle')}`;
    const name = uid('preview-idle');
    await createCampaign(stack.env, name, '--mode', 'preview');
    await cli('agents', 'add', idle, '--campaign', name);
    const nothing = await runCli(['agents', 'skip', idle], stack.env);
    assert.equal(nothing.code, 1);
    assert.match(nothing.stderr, /holds no contact: ask for the next one first/);
    assert.match(await cli('agents', 'next', idle), /no contact is waiting for preview/);
    const loose = `client:${uid('loose')}`;
    await cli('agents', 'add', loose);
    const none = await runCli(['agents', 'next', loose], stack.env);
    assert.match(none.stderr, /takes calls for no campaign/);
  });

  test('§9.3: stopping a campaign leaves no contact at 3, whether offered for preview or held back by the window', async () => {
    const previewed = uid('stop-preview');
    const agent = `client:${uid('agent')}`;
    await createCampaign(stack.env, previewed, '--mode', 'preview');
    await cli('agents', 'add', agent, '--campaign', previewed);
    const offeredPhone = testPhone();
    const [offered] = await insertContacts(stack.db, previewed, [offeredPhone]);
    await cli('campaign', 'start', previewed, '--until-empty');
    await eventually(async () => (await cli('agents', 'next', agent, '--json')).trim() !== 'null', 20_000);

    const windowed = uid('stop-window');
    const { closedZone, window } = windowOpeningIn(3600_000); // opens in an hour
    await createCampaign(stack.env, windowed, '--window', window);
    const heldPhone = testPhone();
    const [held] = await insertContacts(stack.db, windowed, [heldPhone]);
    await stack.db.sql`update contacts set time_zone = ${closedZone} where id = ${held!}`;
    await cli('campaign', 'start', windowed, '--until-empty');
    await eventually(async () => {
      const s = await stack.client.workflow
        .getHandle(campaignWorkflowId(windowed))
        .query(campaignStatusQuery);
      return (s.heldBack?.window ?? 0) === 1;
    });

    await cli('campaign', 'stop', previewed, '--wait');
    await cli('campaign', 'stop', windowed, '--wait');
    const rows = await stack.db.sql<{ contact_successful: number }[]>`
      select contact_successful from contacts where id in ${stack.db.sql([offered!, held!])}`;
    assert.deepEqual(
      rows.map((r) => r.contact_successful),
      [0, 0],
      'both back to NotUsed',
    );
    const [offer] = await stack.db.sql<{ decision: string | null }[]>`
      select decision from preview_offers where contact_id = ${offered!}`;
    assert.equal(offer!.decision, 'withdrawn');
    const [a] = await stack.db.sql<{ status: string }[]>`select status from agents where endpoint = ${agent}`;
    assert.equal(a!.status, 'available', 'the agent who held the offer is free');
    assert.equal(stack.sim.calls({ to: offeredPhone }).length + stack.sim.calls({ to: heldPhone }).length, 0);
  });

  test('agentless: the person hears the message, no agent is dialed, though agents name the campaign', async () => {
    const name = uid('agentless');
    await createCampaign(stack.env, name, '--mode', 'agentless', '--max-attempts', '1');
    await cli('agents', 'add', `client:${uid('unused')}`, '--campaign', name);
    const phone = testPhone();
    const [id] = await insertContacts(stack.db, name, [phone]);
    await cli('campaign', 'start', name, '--until-empty');
    await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();
    const [call] = stack.sim.calls({ to: phone });
    assert.equal(call!.legs.length, 0);
    assert.ok(call!.messageStartedAt);
    const [row] = await stack.db.sql<
      { last_state: number }[]
    >`select last_state from contacts where id = ${id!}`;
    assert.equal(row!.last_state, S.Connected);
  });
});
