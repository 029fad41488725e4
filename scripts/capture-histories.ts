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
 * One history by hand: `temporal workflow show -w <id> -o json > test/histories/<name>.json`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { defineSignal } from '@temporalio/workflow';
import {
  campaignWorkflowId,
  contactStatusQuery,
  contactWorkflowId,
  redialSignal,
  scheduleRedialUpdate,
} from '../workflows/shared';
import {
  ALL_DAY,
  type Stack,
  eventually,
  insertContacts,
  runCli,
  startStack,
  testPhone,
  uid,
  windowOpeningIn,
} from '../harness/stack';

const out = path.join(__dirname, '..', 'test', 'histories');

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
  const cli = async (...args: string[]) => {
    const r = await runCli(args, stack.env);
    if (r.code !== 0) throw new Error(`dialer ${args.join(' ')}: ${r.stderr}`);
  };
  try {
    stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 } });
    await captureOpenCampaign(stack, cli, save);
    if (process.argv.includes('--only-open')) return;

    // a campaign that continued as new, with a busy contact redialed
    const can = uid('hist-can');
    const busy = testPhone();
    stack.sim.setScenario({
      default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 },
      numbers: { [busy]: ['busy', 'human'] },
    });
    await cli(
      'campaign',
      'create',
      can,
      '--caller-id',
      '+15005550006',
      '--window',
      ALL_DAY,
      '--lines',
      '2',
      '--retry',
      'Busy=1s',
    );
    await insertContacts(stack.db, can, [busy, ...Array.from({ length: 5 }, testPhone)]);
    await cli('campaign', 'start', can, '--until-empty', '--max-history', '60');
    await stack.client.workflow.getHandle(campaignWorkflowId(can)).result();
    const runs: { runId: string; status: string }[] = [];
    for await (const w of stack.client.workflow.list({
      query: `WorkflowId = '${campaignWorkflowId(can)}'`,
    })) {
      runs.push({ runId: w.runId, status: w.status.name });
    }
    const continued = runs.find((r) => r.status === 'CONTINUED_AS_NEW');
    if (!continued) throw new Error('the campaign did not continue as new');
    await save('campaign-continued-as-new.json', campaignWorkflowId(can), continued.runId);
    await save('campaign-last-run.json', campaignWorkflowId(can));

    // a contact whose redial the CRM moved while its child waited on the timer, then a release
    const re = uid('hist-resched');
    await cli('campaign', 'create', re, '--caller-id', '+15005550006', '--window', ALL_DAY);
    const at = new Date(Date.now() + 30_000);
    const [moved, released] = await insertContacts(stack.db, re, [testPhone(), testPhone()], {
      contact_successful: 2,
      number_of_contacts: 1,
      redial_time: at,
    });
    await cli('campaign', 'start', re);
    for (const id of [moved!, released!]) {
      const h = stack.client.workflow.getHandle(contactWorkflowId(re, id));
      await eventually(async () => (await h.query(contactStatusQuery)).phase === 'waiting', 20_000);
    }
    await cli('contacts', 'redial', String(moved), '--at', '+2s');
    await stack.client.workflow.getHandle(contactWorkflowId(re, moved!)).result();
    await cli('contacts', 'release', String(released));
    await stack.client.workflow.getHandle(contactWorkflowId(re, released!)).result();
    await cli('campaign', 'stop', re, '--wait');
    await save('contact-rescheduled-redial.json', contactWorkflowId(re, moved!));
    await save('contact-released-while-waiting.json', contactWorkflowId(re, released!));
    await save('campaign-stopped-with-waiting-child.json', campaignWorkflowId(re));

    // one contact dialed: placed through its campaign's dialing task queue, its outcome recorded by
    // a local activity
    const one = uid('hist-one');
    await cli(
      'campaign',
      'create',
      one,
      '--caller-id',
      '+15005550006',
      '--window',
      ALL_DAY,
      '--calls-per-second',
      '5',
    );
    const [dialed] = await insertContacts(stack.db, one, [testPhone()]);
    await cli('campaign', 'start', one, '--until-empty');
    await stack.client.workflow.getHandle(campaignWorkflowId(one)).result();
    await save('contact-dialed.json', contactWorkflowId(one, dialed!));

    // a contact that reached an agent (the <Dial> result decides Connected), with its memo
    const ag = uid('hist-agent');
    await cli(
      'campaign',
      'create',
      ag,
      '--caller-id',
      '+15005550006',
      '--window',
      ALL_DAY,
      '--calls-per-second',
      '5',
    );
    await cli('agents', 'add', `client:${uid('agent')}`, '--campaign', ag);
    const [reached] = await insertContacts(stack.db, ag, [testPhone()]);
    await stack.db.sql`update contacts set name = 'Ada Lovelace' where id = ${reached!}`;
    await cli('campaign', 'start', ag, '--until-empty');
    await stack.client.workflow.getHandle(campaignWorkflowId(ag)).result();
    await save('contact-reached-agent.json', contactWorkflowId(ag, reached!));
    await save('campaign-with-agent.json', campaignWorkflowId(ag));
    // one agent, three contacts: two wait in the cache while the campaign looks at its agent
    // every second
    const pr = uid('hist-pacing');
    await cli('campaign', 'create', pr, '--caller-id', '+15005550006', '--window', ALL_DAY, '--wrap-up', '0');
    await cli('agents', 'add', `client:${uid('agent')}`, '--campaign', pr);
    await insertContacts(stack.db, pr, [testPhone(), testPhone(), testPhone()]);
    await cli('campaign', 'start', pr, '--until-empty');
    await stack.client.workflow.getHandle(campaignWorkflowId(pr)).result();
    await save('campaign-with-agent-pacing.json', campaignWorkflowId(pr));

    // preview mode: the contact is offered, an agent takes it, it is dialed and bridged to them
    const pv = uid('hist-preview');
    await cli(
      'campaign',
      'create',
      pv,
      '--caller-id',
      '+15005550006',
      '--window',
      ALL_DAY,
      '--mode',
      'preview',
    );
    const pvAgent = `client:${uid('agent')}`;
    await cli('agents', 'add', pvAgent, '--campaign', pv);
    const [previewed] = await insertContacts(stack.db, pv, [testPhone()]);
    await cli('campaign', 'start', pv, '--until-empty');
    await eventually(async () => {
      const r = await runCli(['agents', 'next', pvAgent, '--json'], stack.env);
      return r.code === 0 && r.stdout.trim() !== 'null';
    }, 20_000);
    await cli('agents', 'take', pvAgent);
    await stack.client.workflow.getHandle(campaignWorkflowId(pv)).result();
    await save('contact-previewed.json', contactWorkflowId(pv, previewed!));
    await save('campaign-preview.json', campaignWorkflowId(pv));

    // a contact the calling window held back: it gave its line back, waited on its
    // timer for the window to open and was dialed then; beside it one dialed at once
    const win = uid('hist-window');
    const { window, closedZone, openZone } = windowOpeningIn(8_000);
    await cli(
      'campaign',
      'create',
      win,
      '--caller-id',
      '+15005550006',
      '--window',
      window,
      '--calls-per-second',
      '5',
    );
    const [heldBack, atOnce] = await insertContacts(stack.db, win, [testPhone(), testPhone()]);
    await stack.db.sql`update contacts set time_zone = ${closedZone} where id = ${heldBack!}`;
    await stack.db.sql`update contacts set time_zone = ${openZone} where id = ${atOnce!}`;
    await cli('campaign', 'start', win, '--until-empty');
    await stack.client.workflow.getHandle(campaignWorkflowId(win)).result();
    await save('contact-held-back-by-window.json', contactWorkflowId(win, heldBack!));
    await save('contact-dialed-window-open.json', contactWorkflowId(win, atOnce!));
    await save('campaign-with-held-back-contact.json', campaignWorkflowId(win));
  } finally {
    await stack.stop();
  }
}

type Cli = (...args: string[]) => Promise<void>;
type Save = (file: string, workflowId: string, runId?: string) => Promise<void>;

/**
 * An open campaign (§5a, §8): one line saturated by an overdue redial, a busy
 * contact redialed and a new contact, while a look-ahead child comes due; a CRM redial signal for
 * a contact that ended Successful (written to its row and dialed), a refused scheduleRedial
 * update, a malformed signal, a pause and a resume; continued as new, then stopped.
 */
async function captureOpenCampaign(stack: Stack, cli: Cli, save: Save): Promise<void> {
  const name = uid('hist-open');
  const busy = testPhone();
  stack.sim.setScenario({
    default: { outcome: 'human', ringSeconds: 1, talkSeconds: 1 },
    numbers: { [busy]: ['busy', 'human'] },
  });
  await cli('campaign', 'create', name, '--caller-id', '+15005550006', '--window', ALL_DAY);
  await cli('campaign', 'update', name, '--lines', '1', '--retry', 'Busy=1s', '--calls-per-second', '5');
  const now = Date.now();
  await insertContacts(stack.db, name, [testPhone()], {
    contact_successful: 2,
    number_of_contacts: 1,
    redial_time: new Date(now - 30_000),
  });
  await insertContacts(stack.db, name, [testPhone()], {
    contact_successful: 2,
    number_of_contacts: 1,
    redial_time: new Date(now + 3000),
  });
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
  await eventually(
    async () =>
      (await stack.db.sql`select 1 from contacts where campaign_name = ${name} and contact_successful <> 1`)
        .length === 0,
    60_000,
    'every contact dialed',
  );
  await cli('campaign', 'stop', name, '--wait');
  const runs: { runId: string; status: string }[] = [];
  for await (const w of stack.client.workflow.list({ query: `WorkflowId = '${campaignWorkflowId(name)}'` }))
    runs.push({ runId: w.runId, status: w.status.name });
  const continued = runs.find((r) => r.status === 'CONTINUED_AS_NEW');
  if (!continued) throw new Error('the open campaign did not continue as new');
  await save('campaign-open-continued-as-new.json', campaignWorkflowId(name), continued.runId);
  await save('campaign-open-stopped.json', campaignWorkflowId(name));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
