/**
 * The contract every room of the house imports: enums of the product contract, message
 * definitions, and the input and result types of the workflows. Imports nothing but
 * @temporalio/workflow (and the @temporalio/common it re-exports from), so workflows, activities, the server and the client can all use it.
 */
import { defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

/** ContactSuccessful, §3 */
export const ContactSuccessful = {
  Unreachable: -1,
  NotUsed: 0,
  Successful: 1,
  NoSuccess: 2,
  MarkedForDialing: 3,
} as const;
export type ContactSuccessful = (typeof ContactSuccessful)[keyof typeof ContactSuccessful];
export type ContactSuccessfulName = keyof typeof ContactSuccessful;
export function contactSuccessfulName(value: number): ContactSuccessfulName | undefined {
  return (Object.keys(ContactSuccessful) as ContactSuccessfulName[]).find(
    (n) => ContactSuccessful[n] === value,
  );
}

/** LastState, §4 */
export const LastState = {
  Connected: 0,
  Busy: 1,
  Knocking: 2,
  Unreachable: 3,
  WrongNumber: 4,
  Incompatible: 5,
  Fax: 6,
  AnsweringMachine: 7,
  NoLine: 8,
  ErrorOccurred: 9,
  NoAgent: 10,
  AgentTransfer: 11,
  AgentHangUp: 12,
  AlertingTimeout: 13,
  TransferTimeout: 14,
  Abandoned: 15,
  Rejected: 16,
  Banned: 1000,
} as const;
export type LastStateName = keyof typeof LastState;
export type LastState = (typeof LastState)[LastStateName];

export const lastStateNames = Object.keys(LastState) as LastStateName[];
export function lastStateName(value: number): LastStateName | undefined {
  return lastStateNames.find((n) => LastState[n] === value);
}

/**
 * Per-campaign retry rules (§7): the delay before the next try per LastState, a default delay,
 * and the LastStates that end a contact as Unreachable (-1). WrongNumber and Banned are always
 * final; Connected and AgentHangUp are always Successful.
 */
export interface RetryRules {
  defaultDelaySeconds: number;
  delaySeconds: Partial<Record<LastStateName, number>>;
  final: LastStateName[];
}

export const DEFAULT_RETRY_RULES: RetryRules = {
  defaultDelaySeconds: 15 * 60,
  delaySeconds: {
    Busy: 5 * 60,
    AlertingTimeout: 30 * 60,
    AnsweringMachine: 2 * 60 * 60,
    NoAgent: 60 * 60,
    Abandoned: 60 * 60,
  },
  final: ['WrongNumber', 'Banned'],
};

/** A campaign's settings as the workflows see them (loaded from the campaigns table). */
export interface CampaignSettings {
  name: string;
  maxAttempts: number;
  lines: number;
  callsPerSecond: number;
  callerId: string;
  ringTimeoutSeconds: number;
  retryRules: RetryRules;
  /** Answering-machine detection (telephony §1.4); absent in settings recorded before it existed. */
  machineDetection?: MachineDetection;
  /** agentless · preview · progressive · power · predictive; absent in settings from before modes. */
  dialingMode?: string;
}

export type MachineDetection = 'off' | 'hangup' | 'message';

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

/** A contact as it was taken into the cache: dialed with this data even if its row changes (§6). */
export interface CachedContact {
  id: number;
  phoneNumber: string;
  /**
   * What the Temporal UI shows in the contact workflow's memo: the CRM's name for the contact and
   * its number masked (search attributes and memos never carry a full phone number).
   */
  display?: { name: string | null; phone: string };
  redialAt: string | null;
  /** number_of_contacts when cached. */
  numberOfContacts: number;
  /**
   * This attempt's number: number_of_contacts + 1, or one more than the last attempt recorded
   * for the contact in this campaign if that is higher. A CRM may lower number_of_contacts to
   * reuse a contact (§8), and the attempt key (campaign, contact, attempt number) must never repeat.
   */
  attemptNo: number;
  cachedFrom: number;
}

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

/** State carried across continue-as-new. */
export interface CampaignCarry {
  settings: CampaignSettings;
  cache: CachedContact[];
  inFlight: InFlightContact[];
  stats: CampaignStats;
  paused: boolean;
  stopping: boolean;
  reservationSeq: number;
  runsSoFar: number;
  toRelease: number[];
  lineRequests: LineRequest[];
  /** Absent in carries recorded before pacing existed. */
  agentCapacity?: number | null;
  /** CRM redials for contacts being dialed, written once their call ends (§8). */
  redialsAfterCall?: RedialRequest[];
}

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

export interface CampaignStatusView {
  name: string;
  status: CampaignStatus;
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

/** The Twilio facts an outcome is decided from (telephony §2), stored on the attempt. */
export interface CallFacts {
  /** The number could not be parsed into E.164. */
  unparsable?: boolean;
  /** The number is on our banned / do-not-call list. */
  banned?: boolean;
  /** calls.create was rejected by Twilio. */
  createError?: { code: number | null; status: number | null; message: string };
  callSid?: string;
  callStatus?: string;
  sipResponseCode?: number;
  answeredBy?: string;
  /** From the <Dial> action request. */
  dialCallStatus?: string;
  /** The agent's leg ended first (bridged call). */
  agentHungUpFirst?: boolean;
  /** A person answered but no agent was free (the safe-harbor message was played). */
  noAgentFree?: boolean;
  /** The call went through the agent step (the answer TwiML dialled an agent). */
  agentStep?: boolean;
  /** The callee was gone when the <Dial> to the agent ended unbridged (hung up while waiting). */
  calleeLeftFirst?: boolean;
  callDurationSeconds?: number;
  /** No final status could be had from callbacks or from Twilio. */
  unresolved?: boolean;
  /**
   * Not dialed because the calling window or a cap held it back and the attempt could not wait
   * (the window never opens, or a workflow from before windows): tried again at retryAt.
   */
  notDialed?: { rule: string; reason: string; retryAt: string };
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
}

export interface RedialRequest {
  contactId: number;
  /** ISO 8601 with a zone. */
  at: string;
}

export interface RedialAnswer {
  contactId: number;
  accepted: boolean;
  /** Why, in words: where the redial went, or why it was refused. */
  reason: string;
  /** Where it went: the cache, the contact's waiting (or dialing) workflow, or the row. */
  where?: 'cached' | 'child' | 'row';
}

/** A redial later than this is a typing mistake, not a plan. */
const LATEST_REDIAL = Date.parse('2200-01-01T00:00:00Z');

/**
 * Checks a redial request as it arrives from the CRM, a script or the Temporal UI: a positive
 * integer contact id and an ISO 8601 time with a zone. Returns the request, or what is wrong.
 */
export function checkRedialRequest(input: unknown): RedialRequest | string {
  if (typeof input !== 'object' || input === null) return 'expected {"contactId": <id>, "at": "<ISO time>"}';
  const { contactId, at } = input as Record<string, unknown>;
  const shown = (v: unknown) => (JSON.stringify(v) ?? 'nothing').slice(0, 40);
  if (typeof contactId !== 'number' || !Number.isSafeInteger(contactId) || contactId <= 0)
    return `contactId must be a positive integer, not ${shown(contactId)}`;
  if (
    typeof at !== 'string' ||
    !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(at)
  )
    return `at must be an ISO 8601 time with a zone (2026-12-01T09:30:00Z), not ${shown(at)}`;
  const t = Date.parse(at);
  if (Number.isNaN(t) || t > LATEST_REDIAL || !realDay(at)) return `at is not a real time: ${at}`;
  return { contactId, at: new Date(t).toISOString() };
}

/** Whether the date part names a day that exists (Date rolls 2026-02-30 over to March 2). */
function realDay(at: string): boolean {
  const [y, m, d] = at.slice(0, 10).split('-').map(Number) as [number, number, number];
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.getUTCFullYear() === y && day.getUTCMonth() === m - 1 && day.getUTCDate() === d;
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

/** Name → type as `temporal server start-dev --search-attribute` and the operator API take them. */
export const SEARCH_ATTRIBUTES = {
  CampaignName: 'Keyword',
  ContactId: 'Int',
  LastState: 'Int',
  ContactSuccessful: 'Int',
  NextDialTime: 'Datetime',
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
/** The contact id a `contact/<campaign>/<id>` workflow id names, or null for any other id. */
export function contactOfWorkflowId(workflowId: string): number | null {
  const m = /^contact\/.*\/(\d+)$/.exec(workflowId);
  return m ? Number(m[1]) : null;
}

/** §5: 0 = a redial that is due, 1 = a new contact, 2 = a redial not due yet. */
export function dialTier(redialAt: string | null, nowIso: string): 0 | 1 | 2 {
  if (redialAt === null) return 1;
  return redialAt <= nowIso ? 0 : 2;
}

/**
 * §5 order at `now`: due redials oldest redial_time first, then new contacts in insertion (id)
 * order, then redials that are not due yet (they never hold up new contacts).
 */
export function dialOrder(now: number): (a: CachedContact, b: CachedContact) => number {
  const nowIso = new Date(now).toISOString();
  return (a, b) => {
    const ta = dialTier(a.redialAt, nowIso);
    const tb = dialTier(b.redialAt, nowIso);
    if (ta !== tb) return ta - tb;
    if (a.redialAt !== b.redialAt && a.redialAt !== null && b.redialAt !== null)
      return a.redialAt < b.redialAt ? -1 : 1;
    return a.id - b.id;
  };
}
