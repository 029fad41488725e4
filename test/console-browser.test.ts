/**
 * The operator console in a real browser (Debian's chromium, driven by playwright-core), as an
 * operator works in it: signing in (a wrong token refused), creating a campaign with the form (a
 * taken name refused with the operation's text), starting it, watching its progress reach done
 * against the simulator, pausing and resuming it, and stopping it after the confirm step (declined
 * once); importing contacts (a file with a bad line refused, then a good one), finding a contact
 * and reading its decisions, putting a number on the do-not-call list and seeing its contact end
 * Banned, and setting an agent's status. Each step is checked in the database or the workflow too.
 * The run writes the screenshots of the README (docs/console-campaigns.png,
 * docs/console-campaign.png, docs/console-contact.png, 1280×800); on a failure it saves one of the
 * page and prints where.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../harness/browser';
import {
  API_TOKEN,
  type Stack,
  cfg,
  eventually,
  insertContacts,
  repoRoot,
  startStack,
  testPhone,
  uid,
} from '../harness/stack';
import { dropDatabases } from '../harness/raw-db';
import { ensureDatabase, migrateDatabase } from '../db/migrate';
import type { Database } from '../db/client';
import { DEFAULT_RETRY_RULES, LastState } from '../domain/contract';
import { createCampaign } from '../ops/campaign-operations';
import { campaignWorkflowId, campaignStatusQuery } from '../workflows/shared';

/** The page polls and renders on two busy cores: every wait on it is generous. */
const UI_WAIT_MS = 60_000;
const VIEWPORT = { width: 1280, height: 800 };
const CALLER = '+15005550006';

/**
 * Two campaigns besides the one the test drives, as a CRM would have them: one not started yet,
 * one stopped part way (its contacts' rows written as the dialer leaves them).
 */
async function seedOtherCampaigns(db: Database): Promise<void> {
  const settings = { callerId: CALLER, retryRules: DEFAULT_RETRY_RULES };
  await createCampaign(db, {
    ...settings,
    name: 'spring-sale',
    dialingMode: 'predictive',
    lines: 20,
    callingWindow: 'mon-fri 09:00-20:00; sat 10:00-16:00',
    timeZone: 'America/New_York',
  });
  await insertContacts(db, 'spring-sale', Array.from({ length: 40 }, testPhone));
  await createCampaign(db, { ...settings, name: 'renewals', lines: 5 });
  await insertContacts(db, 'renewals', Array.from({ length: 10 }, testPhone));
  await insertContacts(db, 'renewals', Array.from({ length: 12 }, testPhone), {
    contact_successful: 1,
    number_of_contacts: 1,
  });
  await db.sql`update campaigns set status = 'stopped' where name = 'renewals'`;
}

describe('the operator console in a real browser', { timeout: 360_000 }, () => {
  let stack: Stack;
  let context: BrowserContext | undefined;
  let page: Page;
  const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'console-browser-profile-'));
  const name = uid('summer-promo');
  const phones = Array.from({ length: 8 }, testPhone);
  // a database of its own: the list shows this test's campaigns only (and the README's screenshot)
  const database = new URL(cfg.testDatabaseUrl);
  database.pathname = `${database.pathname}_console_${Date.now().toString(36)}`;
  const databaseUrl = database.toString();
  let setupError: unknown;

  const setUp = async () => {
    context = await launchChromium(profileDir, VIEWPORT);
    await ensureDatabase(databaseUrl);
    await migrateDatabase(databaseUrl);
    stack = await startStack({ timeScale: 0.05 }, { databaseUrl });
    await seedOtherCampaigns(stack.db);
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(UI_WAIT_MS);
  };
  before(() => setUp().catch((err: unknown) => void (setupError = err)));
  after(async () => {
    await context?.close();
    await stack?.stop();
    await dropDatabases(cfg.testDatabaseUrl, [database.pathname.slice(1)]);
    fs.rmSync(profileDir, { recursive: true, force: true });
  });

  /** A test whose failure leaves a screenshot of the page, at a path it prints. */
  const step = (title: string, body: () => Promise<void>) =>
    test(title, async () => {
      if (setupError) throw setupError;
      try {
        await body();
      } catch (err) {
        const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'console-browser-')), 'failure.png');
        await page?.screenshot({ path: file, fullPage: true }).catch(() => undefined);
        console.error(`console-browser: "${title}" failed; screenshot at ${file}`);
        throw err;
      }
    });

  const row = async () =>
    (
      await stack.db.sql<{ status: string; lines: number; caller_id: string; calling_window: string }[]>`
        select status, lines, caller_id, calling_window from campaigns where name = ${name}`
    )[0];
  const statusIs = (status: string) =>
    eventually(
      async () => (await row())?.status === status,
      UI_WAIT_MS,
      `the campaign ${status} in the database`,
    );
  const campaignUrl = () => `${stack.serverUrl}/console/campaigns/${encodeURIComponent(name)}`;
  /** The notice an action leaves (role status, or alert for a refusal). */
  const notice = () => page.locator('#notice');

  step('sign in: a wrong token is refused, the right one opens the campaigns', async () => {
    await page.goto(`${stack.serverUrl}/console`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByLabel('API token').fill('not-the-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Wrong token.' }).waitFor();
    assert.equal((await context!.cookies()).filter((c) => c.name === 'dialer_console').length, 0);

    await page.getByLabel('API token').fill(API_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Campaigns' }).waitFor();
    const [cookie] = (await context!.cookies()).filter((c) => c.name === 'dialer_console');
    assert.ok(
      cookie?.httpOnly && cookie.sameSite === 'Strict',
      'an HttpOnly, SameSite=Strict session cookie',
    );
  });

  step('create a campaign with the form; a taken name is refused with its reason', async () => {
    await page.getByRole('link', { name: 'New campaign' }).click();
    await page.getByLabel('Name', { exact: true }).fill(name);
    await page.getByLabel('Caller id').fill('12345');
    await page.getByRole('button', { name: 'Create campaign' }).click();
    await page.getByText('not a phone number in E.164 form').waitFor();
    assert.equal(await row(), undefined, 'nothing created from a wrong form');

    await page.getByLabel('Caller id').fill(CALLER);
    await page.getByLabel('Lines').fill('3');
    await page.getByLabel('Calls per second').fill('50');
    await page.getByLabel('Dialing mode').selectOption('agentless');
    await page.getByLabel('Calling window').fill('daily 00:00-24:00');
    await page.getByRole('button', { name: 'Create campaign' }).click();
    await page.getByRole('heading', { name: `Campaign “${name}”` }).waitFor();
    assert.deepEqual(await row(), {
      status: 'idle',
      lines: 3,
      caller_id: CALLER,
      calling_window: 'daily 00:00-24:00',
    });

    await page.goto(`${stack.serverUrl}/console/new-campaign`);
    await page.getByLabel('Name', { exact: true }).fill(name);
    await page.getByLabel('Caller id').fill(CALLER);
    await page.getByRole('button', { name: 'Create campaign' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: `A campaign named "${name}" already exists.` })
      .waitFor();
  });

  step('start it and watch its progress reach done against the simulator', async () => {
    // people answer, two numbers are wrong: every contact ends (Successful or Unreachable)
    stack.sim.setScenario({
      default: { outcome: 'human', ringSeconds: 1, talkSeconds: 4 },
      numbers: { [phones[0]!]: ['wrong-number'], [phones[1]!]: ['wrong-number'] },
    });
    await insertContacts(stack.db, name, phones);
    await page.goto(campaignUrl());
    await page.getByRole('button', { name: `Start campaign ${name}` }).click();
    await notice().getByText(`Started campaign “${name}”.`).waitFor();
    await statusIs('running');
    await page.getByText(`${phones.length} / ${phones.length} done, 0 remaining`).waitFor();
    const open = await stack.db.sql`
      select 1 from contacts where campaign_name = ${name} and contact_successful not in (1, -1)`;
    assert.equal(open.length, 0, 'every contact done in the table too');
    await page
      .getByRole('img', { name: /Contacts by outcome: .*Connected \(reached\): 6.*WrongNumber/ })
      .waitFor();
    await page
      .getByRole('img', { name: new RegExp(`Dials per minute .*: ${phones.length} in all`) })
      .waitFor();
    const ui = page.getByRole('link', { name: 'Its workflows in the Temporal UI' });
    assert.match((await ui.getAttribute('href')) ?? '', new RegExp(`query=CampaignName%3D%22${name}%22$`));
  });

  step('the screenshots of the README: one campaign and the campaigns, 1280×800', async () => {
    // the abandon ledgers are read every 15 s: wait for this run's answers to show
    await page.goto(campaignUrl());
    await page.getByText('30 d 0.0 %').waitFor();
    await page.screenshot({ path: path.join(repoRoot, 'docs', 'console-campaign.png') });
    await page.goto(`${stack.serverUrl}/console`);
    await page.getByText('30 d 0.0 %').waitFor();
    await page.screenshot({ path: path.join(repoRoot, 'docs', 'console-campaigns.png') });
  });

  step('pause and resume, the resume by keyboard', async () => {
    await page.goto(`${stack.serverUrl}/console`);
    await page.getByRole('button', { name: `Pause campaign ${name}` }).click();
    await notice().getByText(`Paused campaign ${name}.`).waitFor();
    await statusIs('paused');
    const handle = stack.client.workflow.getHandle(campaignWorkflowId(name));
    assert.equal((await handle.query(campaignStatusQuery)).status, 'paused');
    // the list redraws itself with the campaign's state: Resume appears in place of Pause
    const resume = page.getByRole('button', { name: `Resume campaign ${name}` });
    await resume.focus();
    await page.keyboard.press('Enter');
    await notice().getByText(`Resumed campaign ${name}.`).waitFor();
    await statusIs('running');
    assert.equal((await handle.query(campaignStatusQuery)).status, 'running');
  });

  step('stop asks first: declined, nothing changes; confirmed, the campaign is stopped', async () => {
    const stop = page.getByRole('button', { name: `Stop campaign ${name}` });
    page.once('dialog', (d) => void d.dismiss());
    await stop.click();
    await page.getByRole('button', { name: `Pause campaign ${name}` }).waitFor();
    assert.equal((await row())?.status, 'running', 'declined: still running');

    let asked = '';
    page.once('dialog', (d) => {
      asked = d.message();
      void d.accept();
    });
    await stop.click();
    await notice().getByText(`Stopping campaign ${name}.`).waitFor();
    assert.match(asked, /Stop campaign .* Undialed contacts go back/);
    await statusIs('stopped');
    await page.getByRole('button', { name: `Start campaign ${name}` }).waitFor();
  });

  const imported = [testPhone(), testPhone()];
  const contactsNamed = async (who: string) =>
    stack.db.sql<{ id: string; phone_number: string; campaign_name: string; contact_successful: number }[]>`
      select id, phone_number, campaign_name, contact_successful from contacts where name = ${who} order by id`;

  step('import contacts: a file with a bad line is shown and refused, a good one is imported', async () => {
    await page.goto(`${stack.serverUrl}/console/contacts`);
    await page.getByRole('link', { name: 'Import contacts from a CSV' }).click();
    await page.getByLabel('Campaign').selectOption(name);
    const result = page.locator('#import-result');
    // a file picked from disk, as an operator does
    const badFile = path.join(os.tmpdir(), `${name}-bad.csv`);
    fs.writeFileSync(
      badFile,
      `phone_number,name\n${imported[0]},Imported\nnot a number,Imported\n${imported[1]},Imported\n`,
    );
    await page.getByLabel('CSV file').setInputFiles(badFile);
    await page.waitForFunction("document.getElementById('import-csv').value.includes('not a number')");
    await page.getByRole('button', { name: 'Check' }).click();
    await result.getByRole('alert').filter({ hasText: 'Nothing was imported: 1 of 3 rows' }).waitFor();
    await result.getByRole('cell', { name: '3', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await result.getByRole('alert').filter({ hasText: 'Nothing was imported' }).waitFor();
    assert.equal((await contactsNamed('Imported')).length, 0, 'nothing written');

    await page
      .getByLabel('CSV (header row first)')
      .fill(`phone_number,name\n${imported[0]},Imported\n${imported[1]},Imported\n`);
    await page.getByRole('button', { name: 'Check' }).click();
    await result.getByText('No problems in 2 rows; nothing written yet.').waitFor();
    assert.equal((await contactsNamed('Imported')).length, 0, 'a check writes nothing');
    await page.getByRole('button', { name: 'Import 2 contacts' }).click();
    await result.getByText(`Imported 2 contacts: 2 into “${name}”.`).waitFor();
    const rows = await contactsNamed('Imported');
    assert.deepEqual(
      rows.map((r) => [r.phone_number, r.campaign_name, r.contact_successful]),
      imported.map((p) => [p, name, 0]),
    );
  });

  step('find a contact by its last digits, open it, see its attempts and decisions', async () => {
    await page.goto(`${stack.serverUrl}/console/contacts`);
    await page.getByLabel('Id, last digits of the number, or name').fill(phones[0]!.slice(-7));
    await page.getByRole('button', { name: 'Search' }).click();
    const [contact] = await stack.db.sql<{ id: string }[]>`
      select id from contacts where campaign_name = ${name} and phone_number = ${phones[0]!}`;
    await page.getByRole('link', { name: `#${contact!.id}`, exact: true }).click();
    await page.getByRole('heading', { name: `Contact #${contact!.id}` }).waitFor();
    assert.ok(!page.url().includes(phones[0]!.slice(2)), 'no number in the URL');
    await page.getByRole('cell', { name: 'WrongNumber (4)' }).waitFor();
    const timeline = page.locator('.timeline');
    for (const kind of ['cached', 'dialed', 'outcome'])
      await timeline.locator(`.kind-${kind}`).first().waitFor();
    assert.ok(!(await page.content()).includes(phones[0]!.slice(2)), 'the number masked');
    await page.screenshot({ path: path.join(repoRoot, 'docs', 'console-contact.png') });
    await page.getByRole('button', { name: 'Show number' }).click();
    await page.locator('#number').getByText(phones[0]!, { exact: true }).waitFor();
  });

  step(
    'a number put on the do-not-call list ends its contact Banned when the campaign reaches it',
    async () => {
      await page.goto(`${stack.serverUrl}/console/dnc`);
      await page.getByLabel('Number', { exact: true }).first().fill(imported[0]!);
      await page.getByRole('button', { name: 'Add', exact: true }).click();
      await notice()
        .getByText(/^Added \+1500\*+\d\d\.$/)
        .waitFor();
      await page
        .locator('#dnc-list')
        .getByText(/^\+1500\*+\d\d$/)
        .first()
        .waitFor();
      await page.goto(campaignUrl());
      await page.getByRole('button', { name: `Start campaign ${name}` }).click();
      await notice().getByText(`Started campaign “${name}”.`).waitFor();
      const [banned] = await contactsNamed('Imported');
      await eventually(
        async () =>
          (
            await stack.db.sql<{ last_state: number | null }[]>`
          select last_state from contacts where id = ${banned!.id}`
          )[0]?.last_state === LastState.Banned,
        UI_WAIT_MS,
        'the contact Banned in the database',
      );
      await page.goto(`${stack.serverUrl}/console/contacts/${banned!.id}`);
      await page.getByText('Banned (1000)').first().waitFor();
    },
  );

  step('the agent board sets an agent’s status', async () => {
    await stack.db
      .sql`insert into agents (endpoint, name, status) values ('client:grace', 'Grace', 'offline')`;
    await page.goto(`${stack.serverUrl}/console/agents`);
    await page.getByRole('combobox', { name: /Status of Grace/ }).selectOption('available');
    await page.getByRole('button', { name: /Set the status of Grace/ }).click();
    await notice()
      .getByText(/\(Grace\) is available\./)
      .waitFor();
    const [agent] = await stack.db.sql<
      { status: string }[]
    >`select status from agents where endpoint = 'client:grace'`;
    assert.equal(agent?.status, 'available');
  });

  step(
    'every control is labelled, and a phone’s screen shows the list without scrolling sideways',
    async () => {
      for (const url of [
        `${stack.serverUrl}/console`,
        campaignUrl(),
        `${stack.serverUrl}/console/new-campaign`,
        `${stack.serverUrl}/console/contacts`,
        `${stack.serverUrl}/console/import`,
        `${stack.serverUrl}/console/dnc`,
        `${stack.serverUrl}/console/agents`,
      ]) {
        await page.goto(url);
        // in the page's own JavaScript (this project's TypeScript has no DOM types)
        const unlabelled = (await page.evaluate(`[...document.querySelectorAll(
        'input:not([type=hidden]), select, textarea, button')]
        .filter((el) => !(el.getAttribute('aria-label') || (el.labels && el.labels.length)
          || (el.tagName === 'BUTTON' && el.textContent.trim())))
        .map((el) => el.outerHTML)`)) as string[];
        assert.deepEqual(unlabelled, [], url);
      }
      await page.setViewportSize({ width: 390, height: 844 });
      await page.goto(`${stack.serverUrl}/console`);
      await page.getByRole('link', { name, exact: true }).waitFor();
      const overflow = (await page.evaluate(
        'document.documentElement.scrollWidth - window.innerWidth',
      )) as number;
      assert.ok(overflow <= 1, `the page is ${overflow}px wider than a phone's screen`);
      await page.setViewportSize(VIEWPORT);
    },
  );

  step('sign out ends the session', async () => {
    await page.goto(`${stack.serverUrl}/console`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    assert.equal((await context!.cookies()).filter((c) => c.name === 'dialer_console').length, 0);
    await page.goto(campaignUrl());
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  });
});
