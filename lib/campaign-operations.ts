import {
  type Client,
  QueryNotRegisteredError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
} from '@temporalio/client';
import { eq, sql } from 'drizzle-orm';
import type { Database } from '../db/client';
import { campaigns, contacts } from '../db/schema';
import {
  type CampaignInput,
  type CampaignOptions,
  type CampaignStatusView,
  CampaignNameKey,
  campaignStatusQuery,
  campaignWorkflowId,
  contactSuccessfulName,
  lastStateName,
  pauseSignal,
  refillSignal,
  resumeSignal,
  settingsChangedSignal,
  stopSignal,
} from '../workflows/shared';
import { type AbandonLedger, abandonLedger } from './abandon-ledger';
import { OperationError } from './contact-operations';

/** Campaign control shared by the command line and the HTTP API. */
export interface CampaignDeps {
  db: Database;
  temporal: () => Promise<Client>;
  /** The workers' task queue: where a started campaign workflow runs. */
  taskQueue: string;
}

export interface CampaignStatusReport {
  name: string;
  status: string;
  contacts: number;
  byContactSuccessful: Record<string, number>;
  byLastState: Record<string, number>;
  attempts: number;
  workflow: CampaignStatusView | null;
  /** Live answers and abandons over 30 days (US) and 24 h (UK), against the campaign's target. */
  abandons: AbandonLedger;
}

export type CampaignSignal = 'pause' | 'resume' | 'stop' | 'refill';

export async function requireCampaign(db: Database, name: string) {
  const [row] = await db.db.select().from(campaigns).where(eq(campaigns.name, name));
  if (!row) {
    throw new OperationError(
      'not-found',
      `Unknown campaign "${name}". Create it with \`dialer campaign create ${name} --caller-id …\`.`,
    );
  }
  return row;
}

export async function campaignStatus(deps: CampaignDeps, name: string): Promise<CampaignStatusReport> {
  const row = await requireCampaign(deps.db, name);
  const { db } = deps.db;
  const byCs = await db
    .select({
      cs: contacts.contactSuccessful,
      n: sql<number>`count(*)::int`,
      attempts: sql<number>`coalesce(sum(${contacts.numberOfContacts}), 0)::int`,
    })
    .from(contacts)
    .where(eq(contacts.campaignName, name))
    .groupBy(contacts.contactSuccessful);
  const byLs = await db
    .select({ ls: contacts.lastState, n: sql<number>`count(*)::int` })
    .from(contacts)
    .where(eq(contacts.campaignName, name))
    .groupBy(contacts.lastState);
  let workflow: CampaignStatusView | null = null;
  try {
    const client = await deps.temporal();
    const handle = client.workflow.getHandle(campaignWorkflowId(name));
    const desc = await handle.describe();
    if (desc.status.name === 'RUNNING') workflow = await handle.query(campaignStatusQuery);
  } catch (err) {
    // a campaign that has just started answers queries once it has read its settings
    if (!(err instanceof WorkflowNotFoundError) && !(err instanceof QueryNotRegisteredError)) throw err;
  }
  return {
    name,
    status: row.status,
    contacts: byCs.reduce((a, r) => a + r.n, 0),
    byContactSuccessful: Object.fromEntries(
      byCs.map((r) => [contactSuccessfulName(r.cs) ?? String(r.cs), r.n]),
    ),
    byLastState: Object.fromEntries(
      byLs.map((r) => [r.ls === null ? 'none' : (lastStateName(r.ls) ?? String(r.ls)), r.n]),
    ),
    attempts: byCs.reduce((a, r) => a + r.attempts, 0),
    workflow,
    abandons: await abandonLedger(deps.db.sql, name, new Date(), row.abandonTarget),
  };
}

/** Signals a running campaign; a campaign that is not running is a conflict. */
export async function signalCampaign(deps: CampaignDeps, name: string, what: CampaignSignal) {
  await requireCampaign(deps.db, name);
  const client = await deps.temporal();
  const handle = client.workflow.getHandle(campaignWorkflowId(name));
  try {
    const desc = await handle.describe();
    if (desc.status.name !== 'RUNNING')
      throw new WorkflowNotFoundError('not running', handle.workflowId, undefined);
    const signals = { pause: pauseSignal, resume: resumeSignal, stop: stopSignal, refill: refillSignal };
    await handle.signal(signals[what]);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      throw new OperationError(
        'conflict',
        `Campaign "${name}" is not running (start it with \`dialer campaign start ${name}\`).`,
      );
    }
    throw err;
  }
  return handle;
}

export async function startCampaign(
  deps: CampaignDeps,
  name: string,
  options: Partial<CampaignOptions>,
): Promise<{ workflowId: string }> {
  await requireCampaign(deps.db, name);
  const client = await deps.temporal();
  const input: CampaignInput = { name, options };
  try {
    await client.workflow.start('campaignWorkflow', {
      workflowId: campaignWorkflowId(name),
      taskQueue: deps.taskQueue,
      args: [input],
      typedSearchAttributes: [{ key: CampaignNameKey, value: name }],
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new OperationError('conflict', `Campaign "${name}" is already running.`);
    }
    throw err;
  }
  return { workflowId: campaignWorkflowId(name) };
}

export type CampaignRow = Awaited<ReturnType<typeof requireCampaign>>;
export type CampaignChanges = Partial<
  Pick<
    CampaignRow,
    | 'callerId'
    | 'maxAttempts'
    | 'lines'
    | 'callsPerSecond'
    | 'ringTimeoutSeconds'
    | 'retryRules'
    | 'message'
    | 'machineDetection'
    | 'machineMessage'
    | 'transferTimeoutSeconds'
    | 'wrapUpSeconds'
    | 'callingWindow'
    | 'timeZone'
    | 'maxAttemptsPerDay'
    | 'maxAttemptsPer24h'
    | 'minAttemptGapSeconds'
    | 'abandonCooloff'
    | 'dialingMode'
    | 'callsPerAgent'
    | 'abandonTarget'
  >
>;

/**
 * Changes a campaign's settings. A running campaign reads them again at once: its next attempts
 * use them (attempts already started keep theirs); its calls per second applies to the next create.
 */
export async function updateCampaign(
  deps: CampaignDeps,
  name: string,
  changes: CampaignChanges,
): Promise<{ campaign: CampaignRow; running: boolean }> {
  await requireCampaign(deps.db, name);
  if (Object.keys(changes).length === 0)
    throw new OperationError('invalid', 'Nothing to change: give at least one setting');
  const [row] = await deps.db.db.update(campaigns).set(changes).where(eq(campaigns.name, name)).returning();
  let running = false;
  try {
    const handle = (await deps.temporal()).workflow.getHandle(campaignWorkflowId(name));
    if ((await handle.describe()).status.name === 'RUNNING') {
      await handle.signal(settingsChangedSignal);
      running = true;
    }
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
  return { campaign: row!, running };
}

export async function listCampaigns(db: Database) {
  const rows = await db.sql<
    { name: string; status: string; contacts: number; lines: number; calls_per_second: number }[]
  >`
    select c.name, c.status, c.lines, c.calls_per_second,
           (select count(*)::int from contacts k where k.campaign_name = c.name) as contacts
    from campaigns c order by c.name`;
  return rows.map((r) => ({
    name: r.name,
    status: r.status,
    contacts: r.contacts,
    lines: r.lines,
    callsPerSecond: r.calls_per_second,
  }));
}
