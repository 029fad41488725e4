import {
  type Client,
  type WorkflowHandle,
  QueryNotRegisteredError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
} from '@temporalio/client';
import type { Database } from '../db/client';
import {
  type NewCampaign,
  campaignByName,
  campaignNamedAlike,
  campaignsWithContactCounts,
  insertCampaignIfAbsent,
  updateCampaignSettings,
} from '../db/queries/campaigns';
import { countContactsByLastState, countContactsBySuccess } from '../db/queries/contacts';
import { contactSuccessfulName, lastStateName } from '../domain/contract';
import {
  type CampaignInput,
  type CampaignOptions,
  type CampaignStatus,
  type CampaignStatusView,
  CampaignNameKey,
  campaignStatusQuery,
  campaignWorkflowId,
  pauseSignal,
  refillSignal,
  resumeSignal,
  settingsChangedSignal,
  stopSignal,
} from '../workflows/shared';
import type { AbandonLedger } from '../domain/abandon';
import { abandonLedger } from './abandon-ledger';
import { canonicalZone } from './contact-fields';
import { OperationError } from './errors';

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
  const row = await campaignByName(db.db, name);
  if (!row) {
    const near = await nearName(db, name);
    throw new OperationError(
      'not-found',
      near !== undefined
        ? `Unknown campaign "${name}" (names match exactly: did you mean "${near}"?)`
        : `Unknown campaign "${name}". Create it with \`dialer campaign create ${name} --caller-id …\`.`,
    );
  }
  return row;
}

/** The campaign whose name is this one but for case and surrounding spaces, if any. */
async function nearName(db: Database, name: string): Promise<string | undefined> {
  return campaignNamedAlike(db.sql, name);
}

/** A campaign's zone as IANA spells it (`europe/berlin` → `Europe/Berlin`); the CLI checked it is one. */
function withCanonicalZone<T extends { timeZone?: string | null }>(values: T): T {
  if (!values.timeZone) return values;
  return { ...values, timeZone: canonicalZone(values.timeZone) ?? values.timeZone };
}

/**
 * Creates a campaign. Its name is stored trimmed; a name that differs from an existing one only by
 * case or surrounding spaces ("trail " and "trail", "PROBE1" and "probe1") is refused, naming the
 * existing campaign: two such campaigns would be one to an operator and two to the contract's
 * exact match. The unique index on lower(btrim(name)) makes this hold under races.
 */
export async function createCampaign(db: Database, values: NewCampaign): Promise<CampaignRow> {
  const name = values.name.trim();
  if (!name) throw new OperationError('invalid', 'A campaign needs a name', 'name');
  const clash = async () => {
    const near = await nearName(db, name);
    if (near === undefined) return;
    throw new OperationError(
      'conflict',
      near === name
        ? `A campaign named "${name}" already exists.`
        : `"${name}" differs from the existing campaign "${near}" only by case or spaces: use "${near}", or another name.`,
      'name',
    );
  };
  await clash();
  const row = await insertCampaignIfAbsent(db.db, withCanonicalZone({ ...values, name }));
  if (!row) await clash(); // created meanwhile by someone else
  if (!row) throw new OperationError('conflict', `A campaign named "${name}" already exists.`, 'name');
  return row;
}

export async function campaignStatus(deps: CampaignDeps, name: string): Promise<CampaignStatusReport> {
  const row = await requireCampaign(deps.db, name);
  const byCs = await countContactsBySuccess(deps.db.db, name);
  const byLs = await countContactsByLastState(deps.db.db, name);
  const workflow = await campaignWorkflowView(deps, name);
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

/** The campaign workflow's own view (its status query) while it runs; null when none runs. */
export async function campaignWorkflowView(
  deps: Pick<CampaignDeps, 'temporal'>,
  name: string,
): Promise<CampaignStatusView | null> {
  try {
    const client = await deps.temporal();
    const handle = client.workflow.getHandle(campaignWorkflowId(name));
    const desc = await handle.describe();
    if (desc.status.name === 'RUNNING') return await handle.query(campaignStatusQuery);
  } catch (err) {
    // a campaign that has just started answers queries once it has read its settings
    if (!(err instanceof WorkflowNotFoundError) && !(err instanceof QueryNotRegisteredError)) throw err;
  }
  return null;
}

/** What a control command did: whether it signalled the workflow, and the line to show for it. */
export interface CampaignSignalResult {
  /** A signal was sent; false when the campaign was already so, or is not running (§5a). */
  changed: boolean;
  /** The campaign's state as found: its workflow's while one runs, else the campaign row's. */
  status: string;
  /** One line for the operator. */
  message: string;
  /** The campaign's workflow while it runs (`stop --wait` waits for it). */
  handle?: WorkflowHandle;
}

const SIGNALS = { pause: pauseSignal, resume: resumeSignal, stop: stopSignal, refill: refillSignal };
/** The workflow state each signal leads to: asking for it again changes nothing (§5a). */
const ALREADY: Record<CampaignSignal, CampaignStatus | null> = {
  pause: 'paused',
  resume: 'running',
  stop: 'stopping',
  refill: null,
};
const SIGNALLED: Record<CampaignSignal, string> = {
  pause: 'paused campaign',
  resume: 'resumed campaign',
  stop: 'stopping campaign',
  refill: 'refilling the cache of campaign',
};

/**
 * Pause, resume or stop a campaign; idempotent (§5a): a campaign already in the state asked for,
 * or not running at all, is left alone and the result says so. Pausing or resuming a campaign
 * that is stopping cannot happen and is a conflict. `refill` needs a running campaign.
 */
export async function signalCampaign(
  deps: CampaignDeps,
  name: string,
  what: CampaignSignal,
): Promise<CampaignSignalResult> {
  const row = await requireCampaign(deps.db, name);
  const handle = (await deps.temporal()).workflow.getHandle(campaignWorkflowId(name));
  const notRunning = (status: string): CampaignSignalResult => {
    if (what === 'refill') {
      throw new OperationError(
        'conflict',
        `Campaign "${name}" is not running (start it with \`dialer campaign start ${name}\`).`,
      );
    }
    return {
      changed: false,
      status,
      message: `Campaign "${name}" is not running (status ${status}): nothing to ${what}.`,
    };
  };
  // the row says how the campaign ended; a workflow ended otherwise (terminated) leaves it 'running'
  const ended = (workflow: string) =>
    ['idle', 'stopped', 'completed'].includes(row.status) ? row.status : workflow.toLowerCase();
  let state: CampaignStatus | undefined;
  try {
    const desc = await handle.describe();
    if (desc.status.name !== 'RUNNING') return notRunning(ended(desc.status.name));
    if (what !== 'refill') state = (await handle.query(campaignStatusQuery)).status;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return notRunning(ended('idle'));
    // a campaign that has just started answers queries once it has read its settings: signal it
    if (!(err instanceof QueryNotRegisteredError)) throw err;
  }
  if (state === 'stopped' || state === 'completed') return notRunning(state); // ending right now
  if (state !== undefined && state === ALREADY[what]) {
    return { changed: false, status: state, message: `Campaign "${name}" is already ${state}.`, handle };
  }
  if (state === 'stopping' && (what === 'pause' || what === 'resume')) {
    throw new OperationError(
      'conflict',
      `Campaign "${name}" is stopping (its calls in progress are finishing): it cannot be ${what === 'pause' ? 'paused' : 'resumed'}.`,
    );
  }
  try {
    await handle.signal(SIGNALS[what]);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return notRunning(ended('completed')); // it ended meanwhile
    throw err;
  }
  return { changed: true, status: state ?? 'running', message: `${SIGNALLED[what]} ${name}`, handle };
}

/**
 * Starts a campaign's workflow. It stays open until paused or stopped (§5a) unless the options
 * ask it to finish when nothing is left (`finishWhenDone`, the batch opt-in); the choice is always
 * written into the input, so it does not depend on the workflow's default.
 */
export async function startCampaign(
  deps: CampaignDeps,
  name: string,
  options: Partial<CampaignOptions>,
): Promise<{ workflowId: string }> {
  await requireCampaign(deps.db, name);
  const client = await deps.temporal();
  const input: CampaignInput = { name, options: { finishWhenDone: false, ...options } };
  try {
    await client.workflow.start('campaignWorkflow', {
      workflowId: campaignWorkflowId(name),
      taskQueue: deps.taskQueue,
      args: [input],
      typedSearchAttributes: [{ key: CampaignNameKey, value: name }],
      staticSummary: `Campaign ${name}`,
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
  const row = await updateCampaignSettings(deps.db.db, name, withCanonicalZone(changes));
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
  const rows = await campaignsWithContactCounts(db.sql);
  return rows.map((r) => ({
    name: r.name,
    status: r.status,
    contacts: r.contacts,
    lines: r.lines,
    callsPerSecond: r.calls_per_second,
  }));
}
