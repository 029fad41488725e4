/**
 * The Temporal Web UI in a real browser (Debian's chromium, driven by playwright-core), as an
 * operator works in it: a campaign started from the UI's Start Workflow form and found by its
 * CampaignName, paused and resumed with signals, cancelled with Request Cancellation (a stop,
 * §5a), and a contact workflow's input read in clear through the codec server. Each step is
 * checked in the database and on the UI's pages. The test runs a Temporal dev server of its own,
 * whose UI decodes through this stack's /codec; on a failure it saves a screenshot and prints where.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { launchChromium } from '../harness/browser';
import { ensureTemporalCli, startDevServer, stopDevServer } from '../infra/temporal-server';
import { campaignWorkflowId, contactWorkflowId } from '../workflows/shared';
import {
  type Stack,
  cfg,
  createCampaign,
  eventually,
  freePort,
  insertContacts,
  startStack,
  testPhone,
  uid,
} from '../harness/stack';

/** The UI polls and renders on two busy cores: every wait on it is generous. */
const UI_WAIT_MS = 60_000;

/** The UI's pages, as an operator reaches them. */
class TemporalUi {
  constructor(
    readonly page: Page,
    readonly origin: string,
  ) {}

  private get workflowsUrl(): string {
    return `${this.origin}/namespaces/${cfg.temporal.namespace}/workflows`;
  }

  /** The Start Workflow form, filled in and sent; the UI encodes the input through /codec. */
  async startWorkflow(o: { workflowId: string; taskQueue: string; type: string; input: string }) {
    await this.page.goto(this.workflowsUrl);
    await this.page.getByText('Start Workflow', { exact: true }).first().click();
    await this.page.getByLabel('Workflow ID').fill(o.workflowId);
    await this.page.getByLabel('Task Queue').fill(o.taskQueue);
    await this.page.getByLabel('Workflow Type').fill(o.type);
    // the input is a code editor (CodeMirror): typed as text, so that no bracket is closed for us
    await this.page.locator('[role="textbox"][contenteditable="true"]').click();
    await this.page.keyboard.insertText(o.input);
    // leaving the editor reformats it, and the button moves: a click on it as it moves is lost
    await this.page.getByRole('heading', { name: 'Start a Workflow' }).click();
    await this.page.getByRole('button', { name: 'Start Workflow', exact: true }).click();
  }

  /** The workflow list filtered by a raw query typed into the UI; resolves with `workflowId`'s link. */
  async findInList(query: string, workflowId: string): Promise<Locator> {
    await this.page.goto(this.workflowsUrl);
    // the raw query box, behind a toggle (which the UI may remember as open)
    const box = this.page.getByPlaceholder('Enter a query');
    const toggle = this.page.getByTestId('toggle-manual-query');
    await toggle.waitFor();
    await eventually(
      async () => {
        if (!(await box.isVisible())) await toggle.click();
        await box.waitFor({ timeout: 2000 });
        return true;
      },
      UI_WAIT_MS,
      'the raw query box',
    );
    await box.fill(query);
    const link = this.page.getByRole('link', { name: workflowId, exact: true });
    // visibility lags a little behind the workflow: search again until it is listed
    await eventually(
      async () => {
        await this.page.getByRole('button', { name: 'Search', exact: true }).click();
        await link.waitFor({ timeout: 3000 });
        return true;
      },
      UI_WAIT_MS,
      `${workflowId} listed by ${query}`,
    );
    return link;
  }

  /** A workflow's page, reached from the list as an operator does. */
  async openWorkflow(query: string, workflowId: string): Promise<void> {
    await (await this.findInList(query, workflowId)).click();
    await this.page.getByRole('heading', { name: workflowId }).waitFor();
  }

  /** More Actions → Send a Signal, with no input. */
  async sendSignal(name: string): Promise<void> {
    await this.page.getByRole('button', { name: 'More Actions' }).click();
    await this.page.getByRole('menuitem', { name: 'Send a Signal' }).click();
    const dialog = this.page.getByRole('dialog').filter({ visible: true });
    // a list of the signals the workflow defines when the worker answered the UI's metadata
    // query, a text field otherwise
    const list = dialog.getByTestId('signal-select-button');
    const field = dialog.getByRole('textbox', { name: 'Signal name' });
    await list.or(field).first().waitFor();
    if (await field.isVisible()) await field.fill(name);
    else {
      await list.click();
      await dialog.getByRole('option', { name, exact: true }).click();
    }
    await dialog.getByRole('button', { name: 'Submit' }).click();
    await dialog.waitFor({ state: 'hidden' });
  }

  async requestCancellation(): Promise<void> {
    await this.page.getByRole('button', { name: 'Request Cancellation' }).click();
    const dialog = this.page.getByRole('dialog').filter({ visible: true });
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await dialog.waitFor({ state: 'hidden' });
  }

  /** The text of the workflow page's Input section (decoded when the codec server answered). */
  async inputSection(): Promise<string> {
    const section = this.page.locator('section, div').filter({
      has: this.page.getByRole('heading', { name: 'Input', exact: true }),
    });
    return (await section.last().innerText()).trim();
  }
}

describe('the Temporal Web UI in a real browser', { timeout: 360_000 }, () => {
  let temporal: ChildProcess | undefined;
  let stack: Stack;
  let context: BrowserContext | undefined;
  let ui: TemporalUi;
  const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ui-browser-profile-'));
  const name = uid('ui-browser');
  const workflowId = campaignWorkflowId(name);
  const byName = `CampaignName = "${name}"`;
  const phones = Array.from({ length: 6 }, testPhone);

  /** Why the setup failed (no chromium, …): each step fails with it, counted as a failure. */
  let setupError: unknown;

  const setUp = async () => {
    context = await launchChromium(profileDir);
    const [temporalPort, uiPort, serverPort] = [await freePort(), await freePort(), await freePort()];
    const address = `127.0.0.1:${temporalPort}`;
    temporal = await startDevServer({
      cli: await ensureTemporalCli(cfg.toolsDir),
      address,
      uiPort,
      namespace: cfg.temporal.namespace,
      codecEndpoint: `http://127.0.0.1:${serverPort}/codec`,
    });
    const origin = `http://127.0.0.1:${uiPort}`;
    stack = await startStack(
      { timeScale: 0.05 },
      { temporalAddress: address, serverPort, trustedUiOrigin: origin },
    );
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(UI_WAIT_MS);
    ui = new TemporalUi(page, origin);
  };
  before(() => setUp().catch((err: unknown) => void (setupError = err)));
  after(async () => {
    await context?.close();
    await stack?.stop();
    if (temporal) await stopDevServer(temporal);
    fs.rmSync(profileDir, { recursive: true, force: true });
  });

  /** A test whose failure leaves a screenshot of the page, at a path it prints. */
  const step = (title: string, body: () => Promise<void>) =>
    test(title, async () => {
      if (setupError) throw setupError;
      try {
        await body();
      } catch (err) {
        const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ui-browser-')), 'failure.png');
        await ui?.page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
        console.error(`ui-browser: "${title}" failed; screenshot at ${file}`);
        throw err;
      }
    });

  const campaignStatus = async () =>
    (await stack.db.sql<{ status: string }[]>`select status from campaigns where name = ${name}`)[0]?.status;
  const contactsAt3 = async () =>
    (await stack.db.sql`select 1 from contacts where campaign_name = ${name} and contact_successful = 3`)
      .length;

  step('a campaign started from the Start Workflow form runs and is found by its CampaignName', async () => {
    // calls that hold their lines (10 s each at this time scale), more contacts than lines
    stack.sim.setScenario({ default: { outcome: 'human', ringSeconds: 1, talkSeconds: 200 } });
    await createCampaign(stack.env, name, '--lines', '2', '--message', 'Please hold the line. '.repeat(40));
    await insertContacts(stack.db, name, phones);
    await ui.startWorkflow({
      workflowId,
      taskQueue: stack.taskQueue,
      type: 'campaignWorkflow',
      input: JSON.stringify({ name }),
    });
    await eventually(async () => (await campaignStatus()) === 'running', UI_WAIT_MS, 'the row running');
    await eventually(async () => (await contactsAt3()) > 0, UI_WAIT_MS, 'contacts taken to dial');
    await ui.openWorkflow(byName, workflowId);
    await ui.page.getByText('Running', { exact: true }).first().waitFor();
    await ui.findInList(`${byName} AND CampaignStatus = "running"`, workflowId);
  });

  step('pause and resume: the signals sent from the workflow page', async () => {
    await ui.openWorkflow(byName, workflowId);
    await ui.sendSignal('pause');
    await eventually(async () => (await campaignStatus()) === 'paused', UI_WAIT_MS, 'the row paused');
    await ui.findInList(`${byName} AND CampaignStatus = "paused"`, workflowId);

    await ui.openWorkflow(byName, workflowId);
    await ui.sendSignal('resume');
    await eventually(async () => (await campaignStatus()) === 'running', UI_WAIT_MS, 'the row running');
    await ui.findInList(`${byName} AND CampaignStatus = "running"`, workflowId);
  });

  step('Request Cancellation stops the campaign: no contact at 3, the workflow Cancelled', async () => {
    await ui.openWorkflow(byName, workflowId);
    await ui.requestCancellation();
    const handle = stack.client.workflow.getHandle(workflowId);
    await eventually(
      async () => (await handle.describe()).status.name === 'CANCELLED',
      UI_WAIT_MS,
      'the workflow cancelled',
    );
    assert.equal(await campaignStatus(), 'stopped');
    assert.equal(await contactsAt3(), 0, 'no contact left at 3');
    await ui.findInList(`${byName} AND ExecutionStatus = "Canceled"`, workflowId);
  });

  step('a contact workflow’s page shows its input decoded: the number it dials', async () => {
    const [dialed] = await stack.db.sql<{ contact_id: string; phone_number: string }[]>`
      select contact_id, phone_number from call_attempts
      where campaign_name = ${name} and placed order by created_at limit 1`;
    assert.ok(dialed && phones.includes(dialed.phone_number), 'a call was placed to one of the contacts');
    const contactId = contactWorkflowId(name, Number(dialed.contact_id));
    await ui.openWorkflow(`${byName} AND ContactId = ${dialed.contact_id}`, contactId);
    await eventually(
      async () => (await ui.inputSection()).includes(dialed.phone_number),
      UI_WAIT_MS,
      `the number ${dialed.phone_number} in the Input section`,
    );
  });
});
