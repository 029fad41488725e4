/**
 * What the workflows and their callers share: the messages (signals, updates, queries) with their
 * inputs and results, the workflow ids, the task queues and the search attributes. The contract's
 * own types and rules are in domain/contract.ts.
 */
import { defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type {
  CachedContact,
  CallFacts,
  CampaignSettings,
  ContactSuccessful,
  LastState,
  LastStateName,
  RedialRequest,
} from '../domain/contract';
import type { CampaignRun } from './campaign-run';

/** Knobs for how the campaign workflow runs; delays are inputs so tests can use seconds. */
export interface CampaignOptions {
  /** How often the cache is refilled from the database when nothing else wakes the campaign. */
  refillIntervalMs: number;
  /** How long a call may take from create to its final status before we ask Twilio for it. */
  callTimeoutMs: number;
  /** Take redials into the cache this long before they are due (their child waits on a timer). */
  lookaheadMs: number;
  /**
   * Complete once nothing is left to dial (no eligible contact, no pending redial, no call): the
   * batch opt-in (`campaign start --until-empty`). By default a campaign stays open until it is
   * paused or stopped, waiting for the CRM (contract §5a).
   */
  finishWhenDone: boolean;
  /**
   * An open campaign with nothing cached, nothing in flight and no redial pending looks at the
   * database only this often by itself (the safety net: row edits reach it by notification, and
   * CRM redials by signal), so a campaign left open overnight costs a few history events an hour.
   */
  idleRefillIntervalMs: number;
  /** Continue as new after this many history events even if the server has not suggested it. */
  maxHistoryEvents: number;
}

export const DEFAULT_CAMPAIGN_OPTIONS: CampaignOptions = {
  refillIntervalMs: 30_000,
  callTimeoutMs: 10 * 60_000,
  lookaheadMs: 60_000,
  finishWhenDone: false,
  idleRefillIntervalMs: 30 * 60_000,
  maxHistoryEvents: 10_000,
};

/** What the campaign's dialing mode allowed at its last look at the agents (domain/pacing.ts). */
export interface PacingView {
  mode: string;
  capacity: number | null;
  callsPerFreeAgent: number | null;
  answerRate?: number;
}

/** A child the campaign has started and not yet heard back from. */
export interface InFlightContact {
  contactId: number;
  attemptNo: number;
  startedAt: string;
  dueAt: string | null;
  /** Holds one of the campaign's lines (is dialing, or may dial as soon as it is due). */
  hasLine: boolean;
  /** Held back at the moment of dialing (calling window or cap) until then; absent otherwise. */
  heldBackUntil?: string;
  heldBackBy?: string;
}

/** A child whose redial time has come asks the campaign for a line. */
export interface LineRequest {
  contactId: number;
  attemptNo: number;
  dueAt: string | null;
}

export type CampaignStatus = 'idle' | 'running' | 'paused' | 'stopping' | 'stopped' | 'completed';

export interface CampaignStats {
  attemptsFinished: number;
  byLastState: Partial<Record<LastStateName, number>>;
  byContactSuccessful: Record<string, number>;
}

/**
 * State carried across continue-as-new: CampaignRun's own fields, with its maps as arrays (a
 * carry is JSON in the next run's input).
 */
export type CampaignCarry = Pick<
  CampaignRun,
  | 'settings'
  | 'cache'
  | 'stats'
  | 'paused'
  | 'stopping'
  | 'reservationSeq'
  | 'runsSoFar'
  | 'toRelease'
  | 'lineRequests'
> & {
  inFlight: InFlightContact[];
  agentCapacity: number | null;
  /** CRM redials for contacts being dialed, written once their call ends (§8). */
  redialsAfterCall: RedialRequest[];
};

export interface CampaignInput {
  name: string;
  options?: Partial<CampaignOptions>;
  carry?: CampaignCarry;
}

export interface CampaignResult {
  name: string;
  status: 'stopped' | 'completed';
  stats: CampaignStats;
}

/** A campaign's contacts at its last count: done (Successful, Unreachable, out of attempts) and not. */
export interface CampaignProgress {
  total: number;
  done: number;
  /** Still to dial, being dialed, or waiting for a redial. */
  remaining: number;
}

export interface CampaignStatusView {
  name: string;
  status: CampaignStatus;
  /** The contacts of the campaign at the last count (every ~10 s while it looks at the database). */
  progress?: CampaignProgress & { countedAt: string };
  /** Contacts in the cache waiting for a line (due now). */
  cached: number;
  /** Children started and not yet finished: dialing, or waiting for their redial time. */
  inFlight: number;
  /** Children holding a line (calls in flight, or about to be). */
  dialing: number;
  /** Children waiting on their durable timer for a redial time. */
  waiting: number;
  /** Of those, held back at the moment of dialing, by rule (window, per-day, …); absent before windows. */
  heldBack?: Record<string, number>;
  /** The dialing mode and the calls in flight it allowed at the last look (with agents). */
  pacing?: PacingView;
  stats: CampaignStats;
  nextRedialAt: string | null;
  runsSoFar: number;
}

export interface CallContactInput {
  campaign: string;
  campaignWorkflowId: string;
  contact: CachedContact;
  attemptNo: number;
  /** When the attempt is due (ISO); null → now. */
  dueAt: string | null;
  settings: CampaignSettings;
  callTimeoutMs: number;
  /** Started with a line (due now); otherwise it asks the campaign for one when its time comes. */
  lineGranted: boolean;
}

export interface AttemptResult {
  contactId: number;
  attemptNo: number;
  lastState: LastState;
  contactSuccessful: ContactSuccessful;
  placed: boolean;
  redialTime: string | null;
  /** Set when the attempt failed for good before its outcome was recorded (a bug or a lost row). */
  error?: string;
  /** Pulled out of the cache before it was dialed (pause, stop, release): nothing was recorded. */
  withdrawn?: boolean;
  /**
   * The last redial time the campaign asked for (rescheduleSignal) that this attempt took while
   * it was still undialed: that redial is this attempt, and needs no row written after it.
   */
  honouredReschedule?: string;
  /** The names of lastState and contactSuccessful, for people reading the result (§3, §4). */
  lastStateName?: string;
  contactSuccessfulName?: string;
}

export interface RedialAnswer {
  contactId: number;
  accepted: boolean;
  /** Why, in words: where the redial went, or why it was refused. */
  reason: string;
  /** Where it went: the cache, the contact's waiting (or dialing) workflow, or the row. */
  where?: 'cached' | 'child' | 'row';
}

export interface ReleaseResult {
  contactId: number;
  /**
   * released: it was in the cache and is back at its earlier value; in-flight: its contact
   * workflow holds it (ask that workflow to withdraw); unknown: this campaign does not hold it.
   */
  outcome: 'released' | 'in-flight' | 'unknown';
}

/** One Twilio status callback as the webhook server forwards it. */
export interface CallStatusEvent {
  callSid: string;
  callStatus: string;
  sequenceNumber: number | null;
  sipResponseCode?: number;
  answeredBy?: string;
  callDurationSeconds?: number;
  timestamp?: string;
}

export interface ContactStatusView {
  contactId: number;
  attemptNo: number;
  phase:
    'waiting' | 'waiting-for-line' | 'preview' | 'placing' | 'ringing' | 'recording' | 'done' | 'withdrawn';
  dueAt: string | null;
  callSid: string | null;
  callStatus: string | null;
  callbacks: number;
  /** The calling window or a cap held the attempt back, until then. */
  heldBack?: { rule: string; reason: string; until: string };
  /** Once the attempt has ended: its outcome, by name. */
  outcome?: { lastState: string; contactSuccessful: string; redialTime: string | null };
}

// Campaign messages
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const stopSignal = defineSignal('stop');
/** The CRM (or an operator) changed contacts: refill now instead of at the next interval. */
export const refillSignal = defineSignal('refill');
/** `campaign update` changed the campaign's settings: read them again (new attempts use them). */
export const settingsChangedSignal = defineSignal('settingsChanged');
/** A child reports its attempt's result (by the campaign's workflow id, so continue-as-new keeps it). */
export const attemptFinishedSignal = defineSignal<[AttemptResult]>('attemptFinished');
export const lineRequestSignal = defineSignal<[LineRequest]>('lineRequest');
/** A child gives its line back: not due after all, or held back by the window or a cap until `delayedUntil`. */
export const lineReturnSignal =
  defineSignal<[{ contactId: number; attemptNo: number; delayedUntil?: string; rule?: string }]>(
    'lineReturn',
  );
/**
 * The CRM wants a contact of this campaign dialed at `at` (§8). Cached or waiting: its time moves;
 * being dialed: the redial is written when that call ends; otherwise the campaign writes the row
 * (ContactSuccessful 2, redial_time) if the contact may have another attempt. A refused redial is
 * recorded in contact_events with its reason. Malformed input is logged and ignored.
 */
export const redialSignal = defineSignal<[RedialRequest]>('redial');
/** The same as an update, for a CRM that wants the answer. Malformed input is rejected. */
export const scheduleRedialUpdate = defineUpdate<RedialAnswer, [RedialRequest]>('scheduleRedial');
/** Pull one contact out of the cache safely (§6). */
export const releaseContactUpdate = defineUpdate<ReleaseResult, [{ contactId: number; holdMs: number }]>(
  'releaseContact',
);
export const campaignStatusQuery = defineQuery<CampaignStatusView>('status');
/** The contact ids this campaign holds: in its cache, and with a child started (for recovery). */
export const heldContactsQuery = defineQuery<{ cached: number[]; inFlight: number[] }>('heldContacts');

// Contact messages
export const callStatusSignal = defineSignal<[CallStatusEvent]>('callStatus');
/** Facts only our webhooks know (agent step, no agent free, the <Dial> result), per call. */
export const callFactsSignal = defineSignal<[{ callSid: string; facts: CallFacts }]>('callFacts');
/** Move the attempt's due time (ISO string); the durable timer follows. */
export const rescheduleSignal = defineSignal<[{ dueAt: string }]>('reschedule');
export const lineGrantSignal = defineSignal<[{ attemptNo: number }]>('lineGrant');
/** Give the contact back undialed if the call has not started yet (the campaign pausing or stopping). */
export const withdrawSignal = defineSignal('withdraw');
/** The same, asked by an operator: answers whether the contact went back or is being dialed. */
export const withdrawUpdate = defineUpdate<{ outcome: 'released' | 'dialing' }, [{ holdMs: number }]>(
  'withdraw',
);
export const contactStatusQuery = defineQuery<ContactStatusView>('status');
/** Preview mode: an agent took the attempt (dial it) or skipped it (back undialed, held this long). */
export const previewDecisionSignal =
  defineSignal<[{ decision: 'take' | 'skip'; agent: string; holdMs?: number }]>('previewDecision');

// Search attributes (registered on the server by the temporal-server script)
export const CampaignNameKey = defineSearchAttributeKey('CampaignName', 'KEYWORD');
export const ContactIdKey = defineSearchAttributeKey('ContactId', 'INT');
export const LastStateKey = defineSearchAttributeKey('LastState', 'INT');
export const ContactSuccessfulKey = defineSearchAttributeKey('ContactSuccessful', 'INT');
export const NextDialTimeKey = defineSearchAttributeKey('NextDialTime', 'DATETIME');
/** A campaign's status (running, paused, stopping, stopped, completed), set by the campaign itself. */
export const CampaignStatusKey = defineSearchAttributeKey('CampaignStatus', 'KEYWORD');

/** Name → type as `temporal server start-dev --search-attribute` and the operator API take them. */
export const SEARCH_ATTRIBUTES = {
  CampaignName: 'Keyword',
  ContactId: 'Int',
  LastState: 'Int',
  ContactSuccessful: 'Int',
  NextDialTime: 'Datetime',
  CampaignStatus: 'Keyword',
} as const;

export const campaignWorkflowId = (name: string) => `campaign/${name}`;
/** The campaign a `campaign/<name>` workflow id names, or null for any other id. */
export function campaignOfWorkflowId(workflowId: string): string | null {
  return workflowId.startsWith('campaign/') ? workflowId.slice('campaign/'.length) : null;
}
/**
 * The task queue a campaign's creates go through: served by activity-only workers that let
 * Temporal's server dispatch them at no more than the campaign's calls per second.
 */
export const dialTaskQueue = (taskQueue: string, campaign: string) =>
  `${taskQueue}/dial/${encodeURIComponent(campaign)}`;
export const contactWorkflowId = (campaign: string, contactId: number) => `contact/${campaign}/${contactId}`;
/**
 * The workflow id a history ran under, from its workflow type and decoded input (a history file
 * does not carry it, and the campaign checks that it runs under its own id, so a replay needs it).
 */
export function workflowIdOfInput(workflowType: string, input: unknown): string | undefined {
  const i = input as Partial<CampaignInput & CallContactInput> | null | undefined;
  if (workflowType === 'campaignWorkflow' && typeof i?.name === 'string') return campaignWorkflowId(i.name);
  if (workflowType === 'callContactWorkflow' && typeof i?.campaign === 'string' && i.contact)
    return contactWorkflowId(i.campaign, i.contact.id);
  return undefined;
}

/** The contact id a `contact/<campaign>/<id>` workflow id names, or null for any other id. */
export function contactOfWorkflowId(workflowId: string): number | null {
  const m = /^contact\/.*\/(\d+)$/.exec(workflowId);
  return m ? Number(m[1]) : null;
}
