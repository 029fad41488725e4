/**
 * Contract §8, the CRM's redial pushed straight to a running campaign (the `redial` signal and the
 * `scheduleRedial` update): for a contact of that campaign that is allowed another attempt, the
 * campaign writes the row and dials it at the time given; a refused redial changes nothing and is
 * recorded in contact_events with its reason; malformed input from the Temporal UI is ignored
 * (signal) or rejected (update), and never fails a workflow task.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { pushRedial } from '../ops/contact-operations';
import { defineSignal, defineUpdate } from '@temporalio/workflow';
import { ContactSuccessful, LastState } from '../domain/contract';
import { campaignWorkflowId, redialSignal, scheduleRedialUpdate } from '../workflows/shared';
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
} from '../harness/stack';

describe('CRM redials pushed to a running campaign (§8)', { timeout: 180_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ timeScale: 0.05 });
    stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 } });
  });
  after(async () => stack?.stop());

  const row = async (id: number) =>
    (
      await stack.db.sql<
        {
          contact_successful: number;
          redial_time: Date | null;
          number_of_contacts: number;
          updated_at: Date;
        }[]
      >`select contact_successful, redial_time, number_of_contacts, updated_at from contacts where id = ${id}`
    )[0]!;
  const events = (id: number, kind: string) =>
    stack.db.sql<
      { reason: string }[]
    >`select reason from contact_events where contact_id = ${id} and kind = ${kind}`;
  const creates = async (phone: string) =>
    (
      (await (await fetch(`${stack.sim.url}/sim/calls`)).json()) as { to: string; createdAt: string }[]
    ).filter((c) => c.to === phone);

  test('a redial signal for a contact that ended Successful is written to its row and dialed at that time; refused ones are logged, rows untouched', async () => {
    const name = uid('redial');
    const other = uid('other');
    await createCampaign(stack.env, name, '--max-attempts', '2', '--lines', '2');
    await createCampaign(stack.env, other);
    const phone = testPhone();
    const [done] = await insertContacts(stack.db, name, [phone]);
    const [spent] = await insertContacts(stack.db, name, [testPhone()], {
      contact_successful: 2,
      number_of_contacts: 2,
    });
    const [banned] = await insertContacts(stack.db, name, [testPhone()], {
      contact_successful: -1,
      number_of_contacts: 1,
    });
    await stack.db.sql`update contacts set last_state = ${LastState.Banned} where id = ${banned!}`;
    const [elsewhere] = await insertContacts(stack.db, other, [testPhone()]);
    assert.equal((await runCli(['campaign', 'start', name], stack.env)).code, 0);
    await eventually(
      async () => (await row(done!)).contact_successful === ContactSuccessful.Successful,
      30_000,
      'the first call',
    );

    const handle = stack.client.workflow.getHandle(campaignWorkflowId(name));
    const at = new Date(Date.now() + 3000);
    await handle.signal(redialSignal, { contactId: done!, at: at.toISOString() });
    await eventually(
      async () => (await row(done!)).contact_successful !== ContactSuccessful.Successful,
      10_000,
      'the row written',
    );
    const written = await eventually(
      async () => {
        const calls = await creates(phone);
        return calls.length === 2 ? calls : undefined;
      },
      30_000,
      'the follow-up dialed',
    );
    assert.ok(Date.parse(written[1]!.createdAt) >= at.getTime(), 'never before the time given (§9.7)');
    assert.equal((await events(done!, 'rescheduled')).length, 1);

    const before = await Promise.all([spent!, banned!, elsewhere!].map(row));
    for (const contactId of [banned!, elsewhere!])
      await handle.signal(redialSignal, { contactId, at: at.toISOString() });
    const answer = await handle.executeUpdate(scheduleRedialUpdate, {
      args: [{ contactId: spent!, at: at.toISOString() }],
    });
    assert.equal(answer.accepted, false);
    assert.match(answer.reason, /has had 2 of 2 attempts/);
    const unknown = await handle.executeUpdate(scheduleRedialUpdate, {
      args: [{ contactId: 2 ** 50, at: at.toISOString() }],
    });
    assert.deepEqual([unknown.accepted, unknown.reason], [false, 'there is no contact with this id']);
    await eventually(
      async () => (await events(elsewhere!, 'refused')).length === 1,
      10_000,
      'the refusals logged',
    );
    assert.match((await events(banned!, 'refused'))[0]!.reason, /Unreachable \(-1, last state Banned\)/);
    assert.match((await events(spent!, 'refused'))[0]!.reason, /2 of 2 attempts/);
    assert.match((await events(elsewhere!, 'refused'))[0]!.reason, /belongs to campaign/);
    assert.deepEqual(
      await Promise.all([spent!, banned!, elsewhere!].map(row)),
      before,
      'refused: rows unchanged',
    );

    // the HTTP API's redial asks the campaign the same way: refused → 409 with the reason
    const res = await fetch(`${stack.serverUrl}/api/contacts/${spent!}/redial`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ at: 'now' }),
    });
    assert.equal(res.status, 409);
    assert.match(((await res.json()) as { detail: string }).detail, /refused: it has had 2 of 2 attempts/);
    assert.equal((await runCli(['campaign', 'stop', name, '--wait'], stack.env)).code, 0);
  });

  test('malformed redials sent from the Temporal UI: a signal is ignored, an update rejected, no workflow task fails', async () => {
    const name = uid('ui');
    await createCampaign(stack.env, name);
    assert.equal((await runCli(['campaign', 'start', name], stack.env)).code, 0);
    const handle = stack.client.workflow.getHandle(campaignWorkflowId(name));
    const anySignal = defineSignal<[unknown]>('redial');
    const anyUpdate = defineUpdate<unknown, [unknown]>('scheduleRedial');
    for (const bad of [
      null,
      {},
      { contactId: 'x', at: 'now' },
      { contactId: 1, at: '2026-02-30T10:00:00Z' },
    ]) {
      await handle.signal(anySignal, bad);
      await assert.rejects(handle.executeUpdate(anyUpdate, { args: [bad] }), WorkflowUpdateFailedError);
    }
    // the campaign still answers and runs
    const answer = await handle.executeUpdate(scheduleRedialUpdate, {
      args: [{ contactId: 2 ** 50, at: new Date().toISOString() }],
    });
    assert.equal(answer.accepted, false);
    assert.equal((await handle.describe()).status.name, 'RUNNING');
    const history = await handle.fetchHistory();
    const failed = history.events!.filter((e) => e.workflowTaskFailedEventAttributes);
    assert.deepEqual(failed, [], 'no workflow task failed');
    assert.equal((await runCli(['campaign', 'stop', name, '--wait'], stack.env)).code, 0);
  });

  test('a redial update sent the moment the campaign starts is answered, not rejected', async () => {
    const name = uid('early');
    await createCampaign(stack.env, name);
    const [id] = await insertContacts(stack.db, name, [testPhone()], {
      contact_successful: 1,
      number_of_contacts: 1,
    });
    const handle = await stack.client.workflow.start('campaignWorkflow', {
      workflowId: campaignWorkflowId(name),
      taskQueue: stack.taskQueue,
      args: [{ name, options: {} }],
    });
    try {
      const at = new Date(Date.now() + 60_000).toISOString();
      const answer = await handle.executeUpdate(scheduleRedialUpdate, { args: [{ contactId: id!, at }] });
      assert.equal(answer.accepted, true, answer.reason);
      assert.equal((await row(id!)).contact_successful, ContactSuccessful.NoSuccess);
    } finally {
      await runCli(['campaign', 'stop', name, '--wait'], stack.env);
    }
  });

  test('a redial for a campaign no worker serves now is signalled, not lost, and the CRM is answered', async () => {
    const name = uid('noworker');
    await createCampaign(stack.env, name);
    const [id] = await insertContacts(stack.db, name, [testPhone()], {
      contact_successful: 1,
      number_of_contacts: 1,
    });
    const handle = await stack.client.workflow.start('campaignWorkflow', {
      workflowId: campaignWorkflowId(name),
      taskQueue: uid('nobody-polls'),
      args: [{ name, options: {} }],
    });
    try {
      const r = await pushRedial(
        { sql: stack.db.sql, temporal: stack.client },
        id!,
        new Date(Date.now() + 60_000),
      );
      assert.equal(r.how, 'queued');
      assert.match(r.reason ?? '', /has not answered/);
      const history = await handle.fetchHistory();
      const redials = history.events!.filter(
        (e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'redial',
      );
      assert.equal(redials.length, 1, "the redial waits in the campaign's history for a worker");
    } finally {
      await handle.terminate('test over');
    }
  });
});
