/**
 * What the Temporal UI lets anyone do to a workflow, done through a client as the UI does it:
 * cancel a campaign or a contact workflow, start one from the form with a bad or empty input, and
 * send any signal or update with any JSON. Each leaves the system safe: cancellation is a stop,
 * a bad start fails at once with one line, and a malformed message never fails a workflow task.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WorkflowFailedError, type WorkflowHandle, WorkflowUpdateFailedError } from '@temporalio/client';
import {
  campaignStatusQuery,
  campaignWorkflowId,
  contactStatusQuery,
  contactWorkflowId,
} from '../workflows/shared';
import {
  type Stack,
  createCampaign,
  eventually,
  insertContacts,
  runCli,
  startStack,
  testPhone,
  uid,
} from '../harness/stack';

describe('the Temporal UI’s buttons leave the system safe', { timeout: 240_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ timeScale: 0.05 });
  });
  after(async () => stack?.stop());

  const rowsAt3 = async (campaign: string) =>
    (await stack.db.sql`select id from contacts where campaign_name = ${campaign} and contact_successful = 3`)
      .length;
  const campaignRow = async (name: string) =>
    (await stack.db.sql<{ status: string }[]>`select status from campaigns where name = ${name}`)[0]!.status;
  /** The workflow task failures in a history: a malformed message must cause none. */
  const taskFailures = async (h: WorkflowHandle) =>
    (await h.fetchHistory()).events!.filter((e) => e.workflowTaskFailedEventAttributes).length;

  test('cancel mid-campaign: calls in flight end and are recorded, no contact at 3, status stopped, restartable', async () => {
    const name = uid('cancel');
    // calls that hold their line for a while, and more contacts than lines
    stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 100 } });
    await createCampaign(stack.env, name, '--lines', '2', '--message', 'Please hold the line. '.repeat(40));
    await insertContacts(stack.db, name, Array.from({ length: 8 }, testPhone));
    const [waiting] = await insertContacts(stack.db, name, [testPhone()], {
      contact_successful: 2,
      number_of_contacts: 1,
      redial_time: new Date(Date.now() + 30_000),
    });
    assert.equal((await runCli(['campaign', 'start', name], stack.env)).code, 0);
    const handle = stack.client.workflow.getHandle(campaignWorkflowId(name));
    await eventually(
      async () =>
        (await stack.db.sql`select 1 from call_attempts where campaign_name = ${name} and placed`).length >=
        2,
      30_000,
      'two calls in flight',
    );
    await eventually(
      async () => (await handle.query(campaignStatusQuery)).waiting >= 1,
      20_000,
      'a waiting child',
    );

    await handle.cancel(); // the UI's "Request Cancellation"
    await assert.rejects(handle.result(), (err) => err instanceof WorkflowFailedError);
    assert.equal((await handle.describe()).status.name, 'CANCELLED');

    assert.equal(await rowsAt3(name), 0, 'no contact left at 3');
    assert.equal(await campaignRow(name), 'stopped');
    const unrecorded = await stack.db
      .sql`select 1 from call_attempts where campaign_name = ${name} and placed and recorded_at is null`;
    assert.equal(unrecorded.length, 0, 'every call placed was recorded');
    const [w] = await stack.db.sql<
      { contact_successful: number }[]
    >`select contact_successful from contacts where id = ${waiting!}`;
    assert.equal(w!.contact_successful, 2, 'the waiting redial went back as it was');

    stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 } });
    const again = await runCli(['campaign', 'start', name, '--until-empty'], stack.env);
    assert.equal(again.code, 0, again.stderr);
    await stack.client.workflow.getHandle(campaignWorkflowId(name)).result();
    assert.equal(await rowsAt3(name), 0);
  });

  test('terminate mid-campaign: reconciled (status stopped, no contact at 3, the returns logged) with no command run', async () => {
    const name = uid('terminate');
    stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 60 } });
    await createCampaign(stack.env, name, '--lines', '2', '--message', 'Please hold the line. '.repeat(20));
    const ids = await insertContacts(stack.db, name, Array.from({ length: 8 }, testPhone));
    const [waiting] = await insertContacts(stack.db, name, [testPhone()], {
      contact_successful: 2,
      number_of_contacts: 1,
      redial_time: new Date(Date.now() + 60_000),
    });
    assert.equal((await runCli(['campaign', 'start', name], stack.env)).code, 0);
    const handle = stack.client.workflow.getHandle(campaignWorkflowId(name));
    await eventually(
      async () => (await handle.query(campaignStatusQuery)).waiting >= 1,
      20_000,
      'a waiting child',
    );
    await eventually(async () => (await rowsAt3(name)) >= 5, 20_000, 'contacts cached');

    await handle.terminate('an operator pressed Terminate'); // no workflow code runs after this
    // the reconciler of the stack's worker puts it right (within 30 s; the bound here is generous)
    await eventually(async () => (await campaignRow(name)) === 'stopped', 60_000, 'the row stopped');
    await eventually(async () => (await rowsAt3(name)) === 0, 60_000, 'no contact at 3');
    const [w] = await stack.db.sql<
      { contact_successful: number }[]
    >`select contact_successful from contacts where id = ${waiting!}`;
    assert.equal(w!.contact_successful, 2, 'the waiting redial went back as it was');
    const logged = await stack.db.sql<{ reason: string }[]>`
      select reason from contact_events where campaign_name = ${name} and kind = 'released'`;
    assert.ok(
      logged.some((e) => /ended terminated/.test(e.reason)),
      JSON.stringify(logged),
    );
    assert.ok(ids.length === 8);
    const again = await runCli(['campaign', 'start', name, '--until-empty'], stack.env);
    assert.equal(again.code, 0, again.stderr);
    await runCli(['campaign', 'stop', name, '--wait'], stack.env);
  });

  test('a cancelled contact workflow that has not dialed gives its contact back', async () => {
    const name = uid('cancel-child');
    stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 } });
    await createCampaign(stack.env, name);
    const [id] = await insertContacts(stack.db, name, [testPhone()], {
      contact_successful: 2,
      number_of_contacts: 1,
      redial_time: new Date(Date.now() + 40_000),
    });
    assert.equal((await runCli(['campaign', 'start', name], stack.env)).code, 0);
    const child = stack.client.workflow.getHandle(contactWorkflowId(name, id!));
    await eventually(async () => (await child.query(contactStatusQuery)).phase === 'waiting', 20_000);
    await child.cancel();
    await assert.rejects(child.result());
    assert.equal((await child.describe()).status.name, 'CANCELLED');
    const [row] = await stack.db.sql<
      { contact_successful: number; number_of_contacts: number }[]
    >`select contact_successful, number_of_contacts from contacts where id = ${id!}`;
    assert.deepEqual(row, { contact_successful: 2, number_of_contacts: 1 });
    assert.equal((await stack.db.sql`select 1 from call_attempts where contact_id = ${id!}`).length, 0);
    await runCli(['campaign', 'stop', name, '--wait'], stack.env);
  });

  const startRaw = (workflowId: string, args: unknown[]) =>
    stack.client.workflow.start('campaignWorkflow', { workflowId, taskQueue: stack.taskQueue, args });

  for (const [what, args, message] of [
    ['null input', [null], /campaignWorkflow: input must be an object/],
    ['no input', [], /campaignWorkflow: input must be an object/],
    ['a name that is not text', [{ name: 42 }], /input\.name must be a text/],
    ['an unknown campaign', [{ name: 'no-such-campaign-xyz' }], /no campaign named "no-such-campaign-xyz"/],
  ] as const) {
    test(`a start from the UI form with ${what} fails at once with one line`, async () => {
      const h = await startRaw(campaignWorkflowId(uid('form')), [...args]);
      const err = await h.result().then(
        () => assert.fail('the workflow completed'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof WorkflowFailedError);
      assert.match(String(err.cause?.message), message);
      assert.ok(!String(err.cause?.message).includes('\n'), 'one line');
      assert.equal(await taskFailures(h), 0, 'no workflow task failed');
    });
  }

  test('a campaign started under another workflow id fails at once, naming the right one', async () => {
    const name = uid('wrong-id');
    await createCampaign(stack.env, name);
    const h = await startRaw(`my-campaign-${name}`, [{ name }]);
    const err = (await h.result().catch((e: unknown) => e)) as WorkflowFailedError;
    assert.match(String(err.cause?.message), new RegExp(`runs as workflow id "campaign/${name}"`));
  });

  test('malformed signals are logged and ignored, malformed updates rejected; the campaign runs on', async () => {
    const name = uid('bad-msg');
    await createCampaign(stack.env, name);
    assert.equal((await runCli(['campaign', 'start', name], stack.env)).code, 0);
    const h = stack.client.workflow.getHandle(campaignWorkflowId(name));
    await eventually(async () => (await h.query(campaignStatusQuery)).status === 'running', 20_000);
    for (const signal of ['attemptFinished', 'lineRequest', 'lineReturn', 'redial'])
      for (const payload of [null, {}, 'text', { contactId: 'x', attemptNo: -1 }])
        await h.signal(signal, payload as never);
    const refused = (update: string, arg: unknown, message: RegExp) =>
      assert.rejects(h.executeUpdate(update, { args: [arg] }), (err: unknown) => {
        assert.ok(err instanceof WorkflowUpdateFailedError);
        assert.match(String(err.cause?.message), message);
        return true;
      });
    await refused('releaseContact', { contactId: 'x' }, /releaseContact rejected: releaseContact.contactId/);
    await refused('scheduleRedial', null, /scheduleRedial: expected/);
    await h.signal('pause');
    await eventually(async () => (await h.query(campaignStatusQuery)).status === 'paused', 20_000);
    assert.equal(await taskFailures(h), 0, 'no workflow task failed');
    assert.equal((await h.describe()).status.name, 'RUNNING');
    await runCli(['campaign', 'stop', name, '--wait'], stack.env);
  });

  test('readable in the UI: progress and names in the status views, summaries and current details', async () => {
    const name = uid('readable');
    stack.sim.setScenario({
      default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 },
    });
    await createCampaign(stack.env, name);
    const ids = await insertContacts(stack.db, name, [testPhone(), testPhone(), testPhone()]);
    assert.equal((await runCli(['campaign', 'start', name], stack.env)).code, 0);
    const h = stack.client.workflow.getHandle(campaignWorkflowId(name));
    const view = await eventually(
      async () => {
        const v = await h.query(campaignStatusQuery);
        return v.progress?.done === 3 && v.stats.attemptsFinished === 3 ? v : undefined;
      },
      60_000,
      'three contacts done',
    );
    assert.deepEqual(
      { total: view.progress!.total, remaining: view.progress!.remaining },
      { total: 3, remaining: 0 },
    );
    assert.deepEqual(view.stats.byContactSuccessful, { Successful: 3 });
    assert.equal(await (await h.describe()).staticSummary(), `Campaign ${name}`);
    const meta = (await h.query('__temporal_workflow_metadata')) as { currentDetails?: string };
    assert.match(String(meta.currentDetails), /^\*\*running\*\* · 3 of 3 contacts done · /);

    const child = stack.client.workflow.getHandle(contactWorkflowId(name, ids[0]!));
    const result = (await child.result()) as { lastStateName: string; contactSuccessfulName: string };
    assert.deepEqual([result.lastStateName, result.contactSuccessfulName], ['Connected', 'Successful']);
    assert.deepEqual((await child.query(contactStatusQuery)).outcome, {
      lastState: 'Connected',
      contactSuccessful: 'Successful',
      redialTime: null,
    });
    assert.equal(
      await (await child.describe()).staticSummary(),
      `Contact ${ids[0]} of campaign ${name}, attempt 1`,
    );
    const childMeta = (await child.query('__temporal_workflow_metadata')) as { currentDetails?: string };
    assert.match(String(childMeta.currentDetails), /LastState Connected · ContactSuccessful Successful/);
    await runCli(['campaign', 'stop', name, '--wait'], stack.env);
  });

  test('a paused campaign is listed as paused, by the CampaignName filter, however it was started', async () => {
    const name = uid('listed');
    await createCampaign(stack.env, name);
    // started as the UI's form starts it: no search attributes given
    const h = await startRaw(campaignWorkflowId(name), [{ name }]);
    await eventually(async () => (await h.query(campaignStatusQuery)).status === 'running', 20_000);
    await h.signal('pause');
    const listed = async (status: string) => {
      const found = [];
      for await (const w of stack.client.workflow.list({
        query: `CampaignName = '${name}' AND CampaignStatus = '${status}'`,
      }))
        found.push(w.workflowId);
      return found.length === 1;
    };
    await eventually(() => listed('paused'), 20_000, 'listed as paused');
    await h.signal('resume');
    await eventually(() => listed('running'), 20_000, 'listed as running again');
    await h.signal('stop');
    await h.result();
    await eventually(() => listed('stopped'), 20_000, 'listed as stopped');
  });
});
