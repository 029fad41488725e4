/**
 * Runs the scenarios whose histories the replay test keeps, on the real stack, and writes each
 * workflow history as JSON into test/histories/. Run it after a deliberate change of workflow
 * behaviour, and commit the new files:
 *
 *   npx tsx scripts/capture-histories.ts [--overwrite]   (needs a Temporal server at TEMPORAL_ADDRESS
 *   and the test database at TEST_DATABASE_URL)
 *
 * Files that exist are kept unless --overwrite is given: an old history is the test that running
 * workflows of the old shape still replay. When a change of shape must reach running workflows,
 * give its file a new name here, so the old file stays and the new shape is captured beside it.
 *
 * The 0.1.0 files (no version in their name) stay as they are: they prove that workflows started
 * by 0.1.0 replay. The 0.2 scenarios capture the shape of today's code beside them (the patch
 * marker and search attributes of the campaign's status, a cancellation) under `*-0.2-*` names;
 * like every history the stack writes, they are encrypted under harness/stack.ts's test key.
 *
 * One history by hand: `temporal workflow show -w <id> -o json > test/histories/<name>.json`.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { defineSignal } from '@temporalio/workflow';
import {
  campaignStatusQuery,
  campaignWorkflowId,
  contactWorkflowId,
  redialSignal,
  scheduleRedialUpdate,
} from '../workflows/shared';
import { continuedRunId, insertRedials, stackCli, waitUntilWaiting } from '../harness/scenario';
import {
  ALL_DAY,
  CALLER_ID,
  type Stack,
  eventually,
  insertContacts,
  startStack,
  testPhone,
  uid,
  windowOpeningIn,
} from '../harness/stack';

const out = path.join(__dirname, '..', 'test', 'histories');

/** What a scenario runs with: the stack, the command line, and `save` for the histories it keeps. */
interface Capture {
  stack: Stack;
  cli: (...args: string[]) => Promise<string>;
  /** `dialer campaign create <name> --caller-id … --window <window> <extra>`, nothing added. */
  create: (name: string, window: string, ...extra: string[]) => Promise<string>;
  save: (file: string, workflowId: string, runId?: string) => Promise<void>;
}

/** The scenarios, in the order they run; `--only-open` runs the first alone. */
const scenarios: ((c: Capture) => Promise<void>)[] = [
  captureOpenCampaign,
  captureContinuedAsNew,
  captureRescheduledRedial,
  captureContactDialed,
  captureReachedAgent,
  captureAgentPacing,
  capturePreview,
  captureHeldBackByWindow,
  captureStatusAttribute,
  captureCancelledCampaign,
  captureCancelledContact,
];

async function main() {
  const stack = await startStack({ timeScale: 0.05 });
  const overwrite = process.argv.includes('--overwrite');
  fs.mkdirSync(out, { recursive: true });
  const save = async (file: string, workflowId: string, runId?: string) => {
    if (!overwrite && fs.existsSync(path.join(out, file))) {
      console.log(`kept test/histories/${file} (exists; --overwrite replaces it)`);
      return;
    }
    const history = await stack.client.workflow.getHandle(workflowId, runId).fetchHistory();
    fs.writeFileSync(path.join(out, file), historyToJSON(history));
    console.log(`wrote test/histories/${file} (${history.events?.length} events)`);
  };
  const cli = stackCli(stack);
  const create = (name: string, window: string, ...extra: string[]) =>
    cli('campaign', 'create', name, '--caller-id', CALLER_ID, '--window', window, ...extra);
  const run = process.argv.includes('--only-open') ? scenarios.slice(0, 1) : scenarios;
  try {
    stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 } });
    for (const scenario of run) await scenario({ stack, cli, create, save });
  } finally {
    await stack.stop();
  }
}

/** Every call answered by a human, except `busy`'s first, which is busy. */
function busyOnce(stack: Stack, busy: string): void {
  stack.sim.setScenario({
    default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 },
    numbers: { [busy]: ['busy', 'human'] },
  });
}

/** Waits until every contact of `campaign` ended Successful. */
async function everyContactDialed(stack: Stack, campaign: string): Promise<void> {
  await eventually(
    async () =>
      (
        await stack.db
          .sql`select 1 from contacts where campaign_name = ${campaign} and contact_successful <> 1`
      ).length === 0,
    60_000,
    'every contact dialed',
  );
}

/** Waits for a workflow that was asked to cancel; throws unless it ended Cancelled. */
async function endedCancelled(handle: WorkflowHandle): Promise<void> {
  await handle.result().catch(() => undefined);
  const { status } = await handle.describe();
  if (status.name !== 'CANCELLED')
    throw new Error(`${handle.workflowId} ended ${status.name}, not CANCELLED`);
}

/** Starts `campaign` with `--until-empty` and waits for it to finish. */
async function runUntilEmpty({ stack, cli }: Capture, campaign: string, ...extra: string[]): Promise<void> {
  await cli('campaign', 'start', campaign, '--until-empty', ...extra);
  await stack.client.workflow.getHandle(campaignWorkflowId(campaign)).result();
}

/**
 * An open campaign (§5a, §8): one line saturated by an overdue redial, a busy
 * contact redialed and a new contact, while a look-ahead child comes due; a CRM redial signal for
 * a contact that ended Successful (written to its row and dialed), a refused scheduleRedial
 * update, a malformed signal, a pause and a resume; continued as new, then stopped.
 */
async function captureOpenCampaign(c: Capture): Promise<void> {
  const { stack, cli, save } = c;
  const name = uid('hist-open');
  const busy = testPhone();
  busyOnce(stack, busy);
  await c.create(name, ALL_DAY);
  await cli('campaign', 'update', name, '--lines', '1', '--retry', 'Busy=1s', '--calls-per-second', '5');
  const now = Date.now();
  await insertRedials(stack, name, [testPhone()], new Date(now - 30_000));
  await insertRedials(stack, name, [testPhone()], new Date(now + 3000));
  const [fresh] = await insertContacts(stack.db, name, [testPhone(), busy]);
  await cli('campaign', 'start', name, '--max-history', '60');
  const handle = stack.client.workflow.getHandle(campaignWorkflowId(name));
  const done = (id: number) => async () =>
    (await stack.db.sql`select 1 from contacts where id = ${id} and contact_successful = 1`).length === 1;
  await eventually(done(fresh!), 60_000, 'the new contact dialed');
  await handle.signal(redialSignal, { contactId: fresh!, at: new Date(Date.now() + 1000).toISOString() });
  await handle.signal(defineSignal<[unknown]>('redial'), { contactId: 'not a number' });
  await handle.executeUpdate(scheduleRedialUpdate, {
    args: [{ contactId: 2 ** 50, at: new Date().toISOString() }],
  });
  await eventually(
    async () => (await stack.db.sql`select 1 from call_attempts where contact_id = ${fresh!}`).length === 2,
    60_000,
    'the follow-up dialed',
  );
  await cli('campaign', 'pause', name);
  await cli('campaign', 'resume', name);
  await everyContactDialed(stack, name);
  await cli('campaign', 'stop', name, '--wait');
  await save(
    'campaign-open-continued-as-new.json',
    campaignWorkflowId(name),
    await continuedRunId(stack, name),
  );
  await save('campaign-open-stopped.json', campaignWorkflowId(name));
}

/** A campaign that continued as new, with a busy contact redialed. */
async function captureContinuedAsNew(c: Capture): Promise<void> {
  const { stack, save } = c;
  const can = uid('hist-can');
  const busy = testPhone();
  busyOnce(stack, busy);
  await c.create(can, ALL_DAY, '--lines', '2', '--retry', 'Busy=1s');
  await insertContacts(stack.db, can, [busy, ...Array.from({ length: 5 }, testPhone)]);
  await runUntilEmpty(c, can, '--max-history', '60');
  await save('campaign-continued-as-new.json', campaignWorkflowId(can), await continuedRunId(stack, can));
  await save('campaign-last-run.json', campaignWorkflowId(can));
}

/** A contact whose redial the CRM moved while its child waited on the timer, then a release. */
async function captureRescheduledRedial(c: Capture): Promise<void> {
  const { stack, cli, save } = c;
  const re = uid('hist-resched');
  await c.create(re, ALL_DAY);
  const at = new Date(Date.now() + 30_000);
  const [moved, released] = await insertRedials(stack, re, [testPhone(), testPhone()], at);
  await cli('campaign', 'start', re);
  await waitUntilWaiting(stack, re, [moved!, released!]);
  await cli('contacts', 'redial', String(moved), '--at', '+2s');
  await stack.client.workflow.getHandle(contactWorkflowId(re, moved!)).result();
  await cli('contacts', 'release', String(released));
  await stack.client.workflow.getHandle(contactWorkflowId(re, released!)).result();
  await cli('campaign', 'stop', re, '--wait');
  await save('contact-rescheduled-redial.json', contactWorkflowId(re, moved!));
  await save('contact-released-while-waiting.json', contactWorkflowId(re, released!));
  await save('campaign-stopped-with-waiting-child.json', campaignWorkflowId(re));
}

/**
 * One contact dialed: placed through its campaign's dialing task queue, its outcome recorded by
 * a local activity. Saved under the 0.1.0 name (kept) and, for today's code, under the 0.2 name.
 */
async function captureContactDialed(c: Capture): Promise<void> {
  const one = uid('hist-one');
  await c.create(one, ALL_DAY, '--calls-per-second', '5');
  const [dialed] = await insertContacts(c.stack.db, one, [testPhone()]);
  await runUntilEmpty(c, one);
  await c.save('contact-dialed.json', contactWorkflowId(one, dialed!));
  await c.save('contact-0.2-dialed.json', contactWorkflowId(one, dialed!));
}

/** A contact that reached an agent (the <Dial> result decides Connected), with its memo. */
async function captureReachedAgent(c: Capture): Promise<void> {
  const { stack, save } = c;
  const ag = uid('hist-agent');
  await c.create(ag, ALL_DAY, '--calls-per-second', '5');
  await c.cli('agents', 'add', `client:${uid('agent')}`, '--campaign', ag);
  const [reached] = await insertContacts(stack.db, ag, [testPhone()]);
  await stack.db.sql`update contacts set name = 'Ada Lovelace' where id = ${reached!}`;
  await runUntilEmpty(c, ag);
  await save('contact-reached-agent.json', contactWorkflowId(ag, reached!));
  await save('campaign-with-agent.json', campaignWorkflowId(ag));
}

/**
 * One agent, three contacts: two wait in the cache while the campaign looks at its agent
 * every second.
 */
async function captureAgentPacing(c: Capture): Promise<void> {
  const pr = uid('hist-pacing');
  await c.create(pr, ALL_DAY, '--wrap-up', '0');
  await c.cli('agents', 'add', `client:${uid('agent')}`, '--campaign', pr);
  await insertContacts(c.stack.db, pr, [testPhone(), testPhone(), testPhone()]);
  await runUntilEmpty(c, pr);
  await c.save('campaign-with-agent-pacing.json', campaignWorkflowId(pr));
}

/** Preview mode: the contact is offered, an agent takes it, it is dialed and bridged to them. */
async function capturePreview(c: Capture): Promise<void> {
  const { stack, cli, save } = c;
  const pv = uid('hist-preview');
  await c.create(pv, ALL_DAY, '--mode', 'preview');
  const pvAgent = `client:${uid('agent')}`;
  await cli('agents', 'add', pvAgent, '--campaign', pv);
  const [previewed] = await insertContacts(stack.db, pv, [testPhone()]);
  await cli('campaign', 'start', pv, '--until-empty');
  await eventually(
    async () => (await cli('agents', 'next', pvAgent, '--json').catch(() => 'null')).trim() !== 'null',
    20_000,
  );
  await cli('agents', 'take', pvAgent);
  await stack.client.workflow.getHandle(campaignWorkflowId(pv)).result();
  await save('contact-previewed.json', contactWorkflowId(pv, previewed!));
  await save('campaign-preview.json', campaignWorkflowId(pv));
}

/**
 * A contact the calling window held back: it gave its line back, waited on its timer for the
 * window to open and was dialed then; beside it one dialed at once.
 */
async function captureHeldBackByWindow(c: Capture): Promise<void> {
  const { stack, save } = c;
  const win = uid('hist-window');
  const { window, closedZone, openZone } = windowOpeningIn(8_000);
  await c.create(win, window, '--calls-per-second', '5');
  const [heldBack, atOnce] = await insertContacts(stack.db, win, [testPhone(), testPhone()]);
  await stack.db.sql`update contacts set time_zone = ${closedZone} where id = ${heldBack!}`;
  await stack.db.sql`update contacts set time_zone = ${openZone} where id = ${atOnce!}`;
  await runUntilEmpty(c, win);
  await save('contact-held-back-by-window.json', contactWorkflowId(win, heldBack!));
  await save('contact-dialed-window-open.json', contactWorkflowId(win, atOnce!));
  await save('campaign-with-held-back-contact.json', campaignWorkflowId(win));
}

/**
 * 0.2: a small open campaign paused, resumed and stopped. Each status it takes is also upserted as
 * its CampaignName and CampaignStatus search attributes, behind the `campaign-status-attribute` patch.
 */
async function captureStatusAttribute(c: Capture): Promise<void> {
  const { stack, cli } = c;
  const name = uid('hist-status');
  await c.create(name, ALL_DAY, '--calls-per-second', '5');
  await insertContacts(stack.db, name, [testPhone(), testPhone()]);
  await cli('campaign', 'start', name);
  await everyContactDialed(stack, name);
  const handle = stack.client.workflow.getHandle(campaignWorkflowId(name));
  for (const [signal, status] of [
    ['pause', 'paused'],
    ['resume', 'running'],
  ] as const) {
    await cli('campaign', signal, name);
    await eventually(async () => (await handle.query(campaignStatusQuery)).status === status, 20_000, status);
  }
  await cli('campaign', 'stop', name, '--wait');
  await c.save('campaign-0.2-status-attribute.json', campaignWorkflowId(name));
}

/**
 * 0.2: a campaign cancelled (the Temporal UI's button, a client's cancel) while a call is in flight
 * and a redial child waits on its timer: it stops as `campaign stop` does, withdraws the waiting
 * child, lets the call end and ends Cancelled.
 */
async function captureCancelledCampaign(c: Capture): Promise<void> {
  const { stack, save } = c;
  const name = uid('hist-cancel');
  // a call that holds its line through a long message
  stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 100 } });
  const message = 'Please hold the line. '.repeat(40);
  await c.create(name, ALL_DAY, '--lines', '1', '--calls-per-second', '5', '--message', message);
  const [dialing] = await insertContacts(stack.db, name, [testPhone()]);
  const [waiting] = await insertRedials(stack, name, [testPhone()], new Date(Date.now() + 30_000));
  await c.cli('campaign', 'start', name);
  await eventually(
    async () =>
      (await stack.db.sql`select 1 from call_attempts where contact_id = ${dialing!} and placed`).length > 0,
    30_000,
    'the call in flight',
  );
  await waitUntilWaiting(stack, name, [waiting!]);
  const handle = stack.client.workflow.getHandle(campaignWorkflowId(name));
  await handle.cancel();
  await endedCancelled(handle);
  const child = stack.client.workflow.getHandle(contactWorkflowId(name, waiting!));
  await child.result().catch(() => undefined);
  stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 } });
  await save('campaign-0.2-cancelled.json', campaignWorkflowId(name));
  await save('contact-0.2-cancelled-while-waiting.json', contactWorkflowId(name, waiting!));
}

/**
 * 0.2: a contact workflow cancelled directly (not by its campaign) while it waits for its redial
 * time: it withdraws, and ends Cancelled.
 */
async function captureCancelledContact(c: Capture): Promise<void> {
  const { stack, cli } = c;
  const name = uid('hist-cancel-child');
  await c.create(name, ALL_DAY);
  const [id] = await insertRedials(stack, name, [testPhone()], new Date(Date.now() + 40_000));
  await cli('campaign', 'start', name);
  await waitUntilWaiting(stack, name, [id!]);
  // this run: the contact it gives back is taken again by the campaign, under the same workflow id
  const { runId } = await stack.client.workflow.getHandle(contactWorkflowId(name, id!)).describe();
  const child = stack.client.workflow.getHandle(contactWorkflowId(name, id!), runId);
  await child.cancel();
  await endedCancelled(child);
  await cli('campaign', 'stop', name, '--wait');
  await c.save('contact-0.2-cancelled.json', contactWorkflowId(name, id!), runId);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
